"""The link to Asterisk's AMI: the only module that talks to the wire (docs/design.md section 9).

Rule: an action is written to the wire at most once. If the link drops before its answer, the caller gets
`AmiDisconnected` (outcome unknown) and the action is forgotten, never replayed after a reconnect.

panoramisk's `Manager` has traps that cost a contact centre a double dial or a dead link (a raising handler
drops the connection, unanswered actions are re-sent after a reconnect, an Async Originate's future hangs
when the link drops, ping never checks the pong). So this module owns the connection, the ActionIDs, the
timeouts, the reconnect and the ping watchdog, and uses panoramisk only to parse AMI messages. Events are
never handled here: each is typed and put on `events`, which one consumer reads in order.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import ssl
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from cbdialer.adapters.ami.events import AmiEvent, LinkDown, LinkUp, parse_event
from cbdialer.adapters.ami.queues import QueueActions
from cbdialer.adapters.ami.wire import Session, serialise
from cbdialer.ports.telephony import (
    ActionFailed,
    ChannelInfo,
    OriginateRequest,
    TelephonyError,
    TelephonyUnavailable,
)

_VARIABLE_NAME = re.compile(r"^_{0,2}[A-Za-z][A-Za-z0-9_]*$")


class AmiError(TelephonyError):
    """Something went wrong talking to Asterisk."""


class AmiUnavailable(AmiError, TelephonyUnavailable):
    """The link is down: the action was not sent."""


class AmiDisconnected(AmiError):
    """The link dropped after the action was sent: its outcome is unknown, and it will not be re-sent."""


class AmiTimeout(AmiError):
    """Asterisk did not answer the action in time: its outcome is unknown."""


class AmiActionFailed(AmiError, ActionFailed):
    """Asterisk answered the action with an error."""


class AmiLoginError(AmiError):
    """Asterisk refused the login: a configuration problem that retrying will not fix."""


class AmiTlsConfigError(AmiLoginError):
    """The TLS settings cannot be used (e.g. the CA file is missing): a configuration problem, found at startup."""


@dataclass(frozen=True, slots=True)
class AmiConfig:
    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    ping_interval: float = 2.0
    ping_timeout: float = 3.0
    action_timeout: float = 5.0
    connect_timeout: float = 5.0
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    # TLS (Asterisk's tlsenable manager port): Asterisk's certificate is always verified, against `tls_ca_file`
    # (PEM) or, unset, the system's default CAs; `tls_check_hostname` also checks that it names `host`.
    tls: bool = False
    tls_ca_file: str | None = None
    tls_check_hostname: bool = True


def tls_context(config: AmiConfig) -> ssl.SSLContext | None:
    """The client context of `config`'s TLS settings, or None for plain TCP. Raises AmiTlsConfigError when the
    CA file cannot be read as certificates, naming the file and the setting."""
    if not config.tls:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.tls_ca_file)
    except FileNotFoundError:
        raise AmiTlsConfigError(f"AMI TLS: the CA file {config.tls_ca_file} (CBDIALER_AMI_TLS_CA_FILE) "
                                "does not exist") from None
    except (OSError, ssl.SSLError) as exc:
        raise AmiTlsConfigError(f"AMI TLS: the CA file {config.tls_ca_file} (CBDIALER_AMI_TLS_CA_FILE) cannot be "
                                f"read as PEM certificates: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = config.tls_check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Any]
    # List actions (CoreShowChannels, DeviceStateList) answer with events ending in this one.
    complete_event: str | None
    items: list[dict[str, str]] = field(default_factory=list)


class AmiLink(QueueActions):
    """A supervised link to one Asterisk. Run `run(stop)` as a task; read typed events from `events`."""

    def __init__(self, config: AmiConfig, *, log: Any = None) -> None:
        """Raises AmiTlsConfigError if the TLS settings cannot be used (before anything is connected)."""
        self.config = config
        self._ssl = tls_context(config)
        self.events: asyncio.Queue[AmiEvent] = asyncio.Queue()
        # How many of each action went on the wire: lets tests prove nothing was sent twice.
        self.actions_sent: Counter[str] = Counter()
        self._log = log or structlog.get_logger("cbdialer.ami")
        self._session: Session | None = None
        self._logged_in = False
        self._up = asyncio.Event()
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._prefix = f"cbd-{secrets.token_hex(4)}"

    # -- state -------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._logged_in

    async def wait_connected(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self._up.wait()

    # -- the supervised task -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, log in, watch the link, reconnect with backoff; return when `stop` is set.
        Raises AmiLoginError: a refused login is a configuration error, not a network one."""
        delay = self.config.backoff_initial
        reconnect = False
        try:
            while not stop.is_set():
                try:
                    await self._open()
                except AmiLoginError:
                    raise
                except (OSError, TimeoutError, AmiError) as exc:
                    self._log.warning("ami_connect_failed", host=self.config.host, port=self.config.port,
                                      tls=self.config.tls, error=str(exc) or type(exc).__name__,
                                      retry_in=round(delay, 2))
                    self._close("connect failed")
                    if await _wait_or_stop(stop, delay):
                        break
                    delay = min(delay * 2, self.config.backoff_max)
                    continue
                delay = self.config.backoff_initial
                self._log.info("ami_link_up", host=self.config.host, port=self.config.port, tls=self.config.tls,
                               reconnect=reconnect)
                self.events.put_nowait(LinkUp(reconnect=reconnect))
                reconnect = True
                reason = await self._watch(stop)
                self._close(reason)
                if not stop.is_set():
                    self._log.warning("ami_link_down", reason=reason)
        finally:
            self._close("stopped")

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.config.connect_timeout):
            _, session = await loop.create_connection(lambda: Session(self), self.config.host, self.config.port,
                                                      ssl=self._ssl)
        self._session = session
        response = await self._send(
            {"Action": "Login", "Username": self.config.username, "Secret": self.config.secret, "Events": "on"},
            login=True,
        )
        if response.get("response") != "Success":
            raise AmiLoginError(f"AMI login as {self.config.username!r} refused: {response.get('message', '')}")
        self._logged_in = True
        self._up.set()

    async def _watch(self, stop: asyncio.Event) -> str:
        """Until the link fails: a closed socket, or a Ping not answered within ping_timeout."""
        assert self._session is not None
        closed = self._session.closed
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                done, _ = await asyncio.wait({closed, stopping}, timeout=self.config.ping_interval,
                                             return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    return "stopped"
                if closed in done:
                    return str(closed.result())
                try:
                    await self.ping(timeout=self.config.ping_timeout)
                except AmiError as exc:
                    return f"ping failed: {type(exc).__name__}"
        finally:
            stopping.cancel()

    def _close(self, reason: str) -> None:
        was_up = self._logged_in
        self._logged_in = False
        self._up.clear()
        if self._session is not None and self._session.transport is not None:
            self._session.transport.close()
        self._session = None
        # Fail what is in flight; never keep it for a replay after the reconnect.
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                item.future.set_exception(AmiDisconnected(f"AMI link lost ({reason}); outcome unknown"))
        if was_up:
            self.events.put_nowait(LinkDown(reason=reason))

    # -- messages from the wire --------------------------------------------------------------------

    def _on_message(self, headers: dict[str, str]) -> None:
        try:
            self._route(headers)
        except Exception:  # noqa: BLE001 - a bad message must never take the link down
            self._log.exception("ami_message_dropped", event=headers.get("event"), response=headers.get("response"))

    def _route(self, headers: dict[str, str]) -> None:
        action_id = headers.get("actionid")
        pending = self._pending.get(action_id) if action_id else None
        if "event" in headers:
            if pending is not None and pending.complete_event is not None:
                if headers["event"] == pending.complete_event:
                    self._resolve(action_id, pending.items)
                else:
                    pending.items.append(headers)
                return
            self.events.put_nowait(parse_event(headers))
            return
        if pending is None:
            return  # the late answer to an action that timed out or was failed: nobody waits for it
        if pending.complete_event is not None and headers.get("response") == "Success" \
                and headers.get("eventlist", "").lower() == "start":
            return  # the list follows as events
        self._resolve(action_id, headers)

    def _resolve(self, action_id: str | None, result: Any) -> None:
        pending = self._pending.pop(action_id or "", None)
        if pending is not None and not pending.future.done():
            pending.future.set_result(result)

    # -- actions -----------------------------------------------------------------------------------

    async def _send(self, headers: dict[str, Any], *, action_id: str | None = None, complete_event: str | None = None,
                    timeout: float | None = None, login: bool = False) -> Any:
        session = self._session
        if session is None or session.transport is None or session.transport.is_closing() \
                or not (self._logged_in or login):
            raise AmiUnavailable(f"AMI link to {self.config.host}:{self.config.port} is down")
        action_id = action_id or f"{self._prefix}-{next(self._ids)}"
        if action_id in self._pending:
            raise ValueError(f"ActionID {action_id!r} is already in flight")
        data = serialise({**headers, "ActionID": action_id})
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(future, complete_event)
        session.transport.write(data)
        self.actions_sent[headers["Action"]] += 1
        try:
            async with asyncio.timeout(timeout or self.config.action_timeout):
                return await future
        except TimeoutError:
            raise AmiTimeout(f"AMI {headers['Action']} got no answer in time; outcome unknown") from None
        finally:
            self._pending.pop(action_id, None)

    async def _checked(self, headers: dict[str, Any], **kwargs: Any) -> dict[str, str]:
        response = await self._send(headers, **kwargs)
        if response.get("response") != "Success":
            raise AmiActionFailed(f"AMI {headers['Action']} failed: {response.get('message', 'no message')}")
        return response

    async def ping(self, timeout: float | None = None) -> None:
        await self._checked({"Action": "Ping"}, timeout=timeout)

    async def originate(self, request: OriginateRequest) -> str:
        """Send an Async Originate; return its ActionID once Asterisk has queued it (the ring has not
        happened yet: OriginateResponse, DialBegin and the dialplan's UserEvents follow on `events`)."""
        headers: dict[str, Any] = {
            "Action": "Originate",
            "Channel": request.channel,
            "Context": request.context,
            "Exten": request.exten,
            "Priority": str(request.priority),
            "Timeout": str(request.timeout_ms),
            "ChannelId": request.channel_id,
            # Always Async: without it panoramisk-era code waits for the ring, and Asterisk blocks the session.
            "Async": "true",
        }
        if request.caller_id:
            headers["CallerID"] = request.caller_id
        variables = []
        for name, value in request.variables.items():
            if not _VARIABLE_NAME.match(name):
                raise ValueError(f"Originate variable name {name!r} is not a dialplan variable name")
            if "," in value:
                raise ValueError(f"Originate variable {name!r}: commas are not allowed (AMI splits on them)")
            variables.append(f"{name}={value}")
        if variables:
            headers["Variable"] = variables
        await self._checked(headers, action_id=request.action_id)
        return request.action_id

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self._checked({"Action": "Hangup", "Channel": channel, "Cause": str(cause)})

    async def core_show_channels(self) -> list[ChannelInfo]:
        items = await self._send({"Action": "CoreShowChannels"}, complete_event="CoreShowChannelsComplete")
        if isinstance(items, dict):
            raise AmiActionFailed(f"AMI CoreShowChannels failed: {items.get('message', 'no message')}")
        return [
            ChannelInfo(
                channel=item.get("channel", ""),
                uniqueid=item.get("uniqueid", ""),
                linkedid=item.get("linkedid", ""),
                context=item.get("context", ""),
                exten=item.get("exten", ""),
                state=item.get("channelstatedesc", ""),
                application=item.get("application", ""),
                duration=item.get("duration", ""),
                bridge_id=item.get("bridgeid", ""),
                caller_name=item.get("calleridname", ""),
            )
            for item in items
            if item.get("event") == "CoreShowChannel"
        ]

    async def db_get(self, family: str, key: str) -> str | None:
        """A value of Asterisk's AstDB, or None if there is none. DBGet needs only the `reporting` write class
        (DBPut and DBDel need `system`, which cbdialer's user does not have)."""
        items = await self._send({"Action": "DBGet", "Family": family, "Key": key}, complete_event="DBGetComplete")
        if isinstance(items, dict):  # an error answer: "Database entry not found"
            if "not found" in items.get("message", "").lower():
                return None
            raise AmiActionFailed(f"AMI DBGet failed: {items.get('message', 'no message')}")
        for item in items:
            if item.get("event") == "DBGetResponse":
                return item.get("val", "")
        return None

    async def channel_variable(self, channel: str, name: str) -> str | None:
        """Getvar (the `call` or `reporting` write class): a live channel's variable or function; None if the
        channel is gone."""
        response = await self._send({"Action": "Getvar", "Channel": channel, "Variable": name})
        if response.get("response") != "Success":
            if "no such channel" in response.get("message", "").lower():
                return None
            raise AmiActionFailed(f"AMI Getvar failed: {response.get('message', 'no message')}")
        return response.get("value", "")

    def drop(self, reason: str) -> None:
        """Close the session, so that `run` reconnects (and a new LinkUp follows): for a link whose setup
        after LinkUp failed."""
        session = self._session
        if session is not None and session.transport is not None:
            self._log.warning("ami_link_dropped", reason=reason)
            session.transport.close()

    async def device_states(self) -> dict[str, str]:
        """Device state of every device Asterisk knows, e.g. {"PJSIP/agent-1001": "NOT_INUSE"}."""
        items = await self._send({"Action": "DeviceStateList"}, complete_event="DeviceStateListComplete")
        if isinstance(items, dict):
            raise AmiActionFailed(f"AMI DeviceStateList failed: {items.get('message', 'no message')}")
        return {item.get("device", ""): item.get("state", "") for item in items if item.get("device")}


async def _wait_or_stop(stop: asyncio.Event, delay: float) -> bool:
    """Sleep `delay` unless `stop` is set first; True if stopping."""
    try:
        async with asyncio.timeout(delay):
            await stop.wait()
    except TimeoutError:
        return False
    return True
