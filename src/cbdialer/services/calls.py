"""An agent's inbound queue calls, and a callback made from one of them (seeds 003 and 004: "The number to call
back is set to the CLI of the current inbound call (unless the inbound caller has withheld their number). The
source (originating) queue is the queue that the current inbound call arrived on.").

Rule: an agent reads and uses only its own calls (staff: any agent's); the callback's queue is the one the call
arrived on, which an agent must serve; its destination is the call's CLI, or the number given (seed 002: the
pre-filled destination may be edited), which a withheld caller's needs; the callback itself is made by the
callbacks service, by all of its rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from cbdialer.domain.access import AccessDenied, Permission, Principal, may_act_for_agent, require
from cbdialer.domain.models import Callback, InvalidValue, Queue
from cbdialer.domain.numbers import caller_as_e164
from cbdialer.ports import AgentCallStore, AgentStore, QueueStore
from cbdialer.ports.calls import AgentCall, current_call, queue_for
from cbdialer.services.callbacks import Callbacks
from cbdialer.services.errors import NotFound


@dataclass(frozen=True, slots=True)
class CallView:
    """A call as the agent sees it: the caller's number in E.164 where it reads as one (None when withheld),
    and the cbdialer queue it maps to (the one that served its Asterisk queue then, or else now)."""

    call: AgentCall
    number: str | None
    queue_id: str | None


class CallsStore(AgentCallStore, AgentStore, QueueStore, Protocol):
    """What this service needs of the store."""


class Calls:
    def __init__(self, store: CallsStore, clock: Callable[[], datetime], callbacks: Callbacks, *,
                 default_region: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.callbacks = callbacks
        self.default_region = default_region

    def _view(self, call: AgentCall, queues: Sequence[Queue]) -> CallView:
        number = None
        if not call.withheld and call.caller_number:
            number = caller_as_e164(call.caller_number, default_region=self.default_region) or call.caller_number
        queue = call.queue_id
        if queue is None:
            found = queue_for(queues, call.asterisk_queue)
            queue = found.id if found is not None else None
        return CallView(call, number, queue)

    async def _check_agent(self, who: Principal, agent_id: str, doing: str) -> None:
        if not may_act_for_agent(who, agent_id):
            raise AccessDenied(f"an agent {doing} only its own calls")
        if await self.store.get_agent(agent_id) is None:
            raise NotFound(f"no agent {agent_id!r}")

    async def calls(self, who: Principal, agent_id: str) -> tuple[CallView | None, list[CallView]]:
        """The call the agent is on (or None) and its last calls, newest first."""
        require(who, Permission.READ_AGENTS)
        await self._check_agent(who, agent_id, "reads")
        calls = await self.store.agent_calls(agent_id)
        queues = await self.store.queues()
        current = current_call(calls, self.clock())
        return (self._view(current, queues) if current is not None else None), [self._view(c, queues) for c in calls]

    async def callback_from_call(self, who: Principal, agent_id: str, call_id: UUID, *, destination: str | None = None,
                                 **fields: Any) -> tuple[Callback, bool]:
        """A callback from one of the agent's calls: its queue and (unless `destination` is given) its number
        filled in. `fields` are those of Callbacks.create_callback other than queue and destination."""
        require(who, Permission.WRITE_CALLBACKS)
        await self._check_agent(who, agent_id, "makes callbacks from")
        call = await self.store.agent_call(agent_id, call_id)
        if call is None:
            raise NotFound(f"no call {call_id} of agent {agent_id!r}")
        view = self._view(call, await self.store.queues())
        if view.queue_id is None:
            raise InvalidValue("queue", f"the call came through the Asterisk queue {call.asterisk_queue!r}, which no "
                                        "queue serves (a queue's asterisk_queue setting names it)")
        if destination is None:
            if call.withheld:
                raise InvalidValue("destination", "the caller withheld their number: give the number to call back")
            if view.number is None or not view.number.startswith("+"):
                raise InvalidValue("destination", f"the caller's number {call.caller_number!r} cannot be called "
                                                  "back: give the number to call back")
            destination = view.number
        return await self.callbacks.create_callback(who, queue=view.queue_id, destination=destination, **fields)
