"""app_queue's actions over the AMI link: who waits, who serves and who is paused (docs/design.md section 14).
Rule: QueueStatus is read whole and parsed here; QueuePause changes one member of one queue, with a reason that
says it was cbdialer (so that a later reconcile knows which pauses are its own)."""

from __future__ import annotations

from typing import Any

from cbdialer.ports.telephony import ActionFailed, QueueMember, WaitingCaller


def _whole(value: str | None) -> int:
    try:
        return max(0, int(value or ""))
    except ValueError:
        return 0


class QueueActions:
    """The queue actions of AmiLink (which provides `_send` and `_checked`)."""

    async def _send(self, headers: dict[str, Any], **kwargs: Any) -> Any:
        raise NotImplementedError

    async def _checked(self, headers: dict[str, Any], **kwargs: Any) -> dict[str, str]:
        raise NotImplementedError

    async def _queue_status(self, **filters: str) -> list[dict[str, str]]:
        items = await self._send({"Action": "QueueStatus", **filters}, complete_event="QueueStatusComplete")
        if isinstance(items, dict):
            raise ActionFailed(f"AMI QueueStatus failed: {items.get('message', 'no message')}")
        return list(items)

    async def queue_callers(self) -> list[WaitingCaller]:
        """QueueStatus (the `agent` read class lists it): every caller waiting in an Asterisk queue now."""
        return [WaitingCaller(asterisk_queue=item.get("queue", ""), uniqueid=item.get("uniqueid", ""),
                              waited_seconds=_whole(item.get("wait")), position=_whole(item.get("position")))
                for item in await self._queue_status() if item.get("event") == "QueueEntry"]

    async def queue_members(self, asterisk_queue: str | None = None, interface: str | None = None
                            ) -> list[QueueMember]:
        """QueueStatus: every member of every Asterisk queue, with its pause (app_queue filters by Queue, any
        case, and by Member, its interface or name)."""
        filters = {"Queue": asterisk_queue} if asterisk_queue else {}
        if interface:
            filters["Member"] = interface
        return [QueueMember(asterisk_queue=item.get("queue", ""),
                            interface=item.get("location") or item.get("interface", ""),
                            paused=item.get("paused", "0") == "1", paused_reason=item.get("pausedreason", ""))
                for item in await self._queue_status(**filters) if item.get("event") == "QueueMember"]

    async def pause_member(self, asterisk_queue: str, interface: str, *, paused: bool, reason: str) -> None:
        """QueuePause (the `agent` write class) of one member in one queue."""
        await self._checked({"Action": "QueuePause", "Queue": asterisk_queue, "Interface": interface,
                             "Paused": "true" if paused else "false", "Reason": reason})
