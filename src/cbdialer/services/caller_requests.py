"""A caller waiting in an Asterisk queue asks for a callback in cbdialer's IVR (docs/design.md section 14; the
dialplan is asterisk/pbx/extensions_cbdialer.conf, [cbdialer-queue-offer]). Rule: the flow owns the call from
the first prompt to the last, over the port cbdialer.ports.ivr; the callback is made exactly as an admin's
`POST /callbacks` makes it (services/callbacks.py: its limits, the one-per-number rule, slots); nothing is lost
silently: CBDIALER_RESULT says `queue` (back to the queue, at the caller's position) until the callback is stored,
and any failure is logged and apologised for.

The keys: confirm the number (1 = the caller ID, 2 = key another in, ended by #; a withheld caller keys one in),
then when (1 = keep my place; 2 = a time slot, only where the queue has slots: the next three free are read
out and 1-3 picks one), then a name or reason after the tone (# ends it, or skips it at once)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from cbdialer.domain.access import Principal, Role
from cbdialer.domain.caller import PENDING_STATES
from cbdialer.domain.ivr import (
    MAX_KEYED_DIGITS,
    NUMBER_TRIES,
    Result,
    free_slots,
    joined_from_variable,
    keyed_number,
    place_of,
    presented_number,
    recording_kept,
    refusal,
    serving_queue,
)
from cbdialer.domain.models import CallbackOrigin, CallbackType, Queue
from cbdialer.domain.slots import Slot
from cbdialer.domain.timing import contact_zone, open_within
from cbdialer.ports.ivr import CallerHungUp, IvrCall, IvrError, Prompt, SayDatetime, SayDigits
from cbdialer.ports.metrics import NO_METRICS, Metrics
from cbdialer.services.callbacks import Callbacks
from cbdialer.services.queues import Queues

log = structlog.get_logger("cbdialer.ivr")

# The IVR speaks for the PBX side: an admin (only an admin token makes a caller's callback, services/callbacks.py).
IVR = Principal(token_id=UUID(int=0), role=Role.ADMIN, name="ivr")
REMARK = "Asked in the IVR"
SLOT_LOOKAHEAD = timedelta(days=7)
KEY_TIMEOUT = 6.0
NUMBER_TIMEOUT = 10.0

# Prompts: files of asterisk-core-sounds-en (a PBX may record better ones under the same names in its sounds/).
SORRY_BACK_TO_QUEUE = ["im-sorry", "pls-hold-while-try"]
CONFIRM_NUMBER = ["to-call-this-number"]
CONFIRM_KEYS = ["if-correct-press", "digits/1", "vm-calldiffnum"]
WITHHELD = "unidentified-no-callback"
ENTER_NUMBER = "vm-enter-num-to-call"
INVALID = ["im-sorry", "pm-invalid-option"]
WHEN = ["vm-press", "digits/1", "for", "queue-callswaiting", "vm-press", "digits/2", "for", "time"]
RECORD_PROMPT = "vm-rec-name"
THANK_YOU = ["auth-thankyou", "vm-goodbye"]


class CallerRequests:
    """The flow behind `agi://HOST:PORT/caller-callback`. `joined(uniqueid)` is what the live queue remembers of
    the caller's join (the dialer's QueuePlaces), `recordings_dir` the Asterisk-side directory of recordings."""

    def __init__(self, callbacks: Callbacks, queues: Queues, clock: Callable[[], datetime], *,
                 joined: Callable[[str], datetime | None] | None = None,
                 recordings_dir: str = "/var/spool/asterisk/cbdialer-recordings",
                 default_region: str | None = None, metrics: Metrics = NO_METRICS) -> None:
        self.callbacks = callbacks
        self.metrics = metrics
        self.queues = queues
        self.clock = clock
        self.joined = joined
        self.recordings_dir = recordings_dir.rstrip("/")
        self.default_region = default_region

    async def handle(self, call: IvrCall) -> None:
        request = call.request
        context = {"uniqueid": request.uniqueid}
        try:
            await call.set_variable("CBDIALER_RESULT", Result.QUEUE.value)
            created = await self._flow(call, context)
        except CallerHungUp:
            log.info("caller_request_abandoned", **context)
            return
        except Exception as exc:  # noqa: BLE001 - any failure: the caller goes back to the queue, and it is logged
            log.error("caller_request_failed", error=str(exc) or type(exc).__name__, error_type=type(exc).__name__,
                      **context)
            await self._back_to_queue(call)
            return
        if created:
            try:
                await call.set_variable("CBDIALER_RESULT", Result.CALLBACK.value)
                for prompt in THANK_YOU:
                    await call.stream_file(prompt)
            except CallerHungUp:
                pass  # stored: the caller need not hear the thanks
            except IvrError as exc:  # a prompt missing: stored all the same
                log.warning("caller_prompt_failed", error=str(exc), **context)
        else:
            await self._back_to_queue(call)

    async def _back_to_queue(self, call: IvrCall) -> None:
        try:
            await call.set_variable("CBDIALER_RESULT", Result.QUEUE.value)
            for prompt in SORRY_BACK_TO_QUEUE:
                await call.stream_file(prompt)
        except CallerHungUp:
            pass
        except IvrError as exc:  # a prompt missing: back to the queue all the same (the dialplan's way)
            log.warning("caller_prompt_failed", error=str(exc))

    async def _flow(self, call: IvrCall, context: dict[str, object]) -> bool:
        """True once the callback is stored; False when the caller goes back to the queue."""
        request = call.request
        asterisk_queue = (await call.variable("CBDIALER_QUEUE")) or ""
        context["asterisk_queue"] = asterisk_queue
        # Read now: once the caller has hung up (after the recording, say) the channel has no variables left.
        variable_joined = joined_from_variable(await call.variable("CBDIALER_JOINED"))
        queue = serving_queue(await self.queues.queues(IVR), asterisk_queue)
        presented = presented_number(request.caller_number, request.presentation, default_region=self.default_region)
        pending = 0
        mine = False
        if queue is not None:
            context["queue"] = queue.id
            pending = await self.callbacks.store.pending_caller_callbacks(queue.id)
            if presented is not None and pending >= queue.settings.max_caller_callbacks:
                mine = any(c.origin is CallbackOrigin.CALLER and c.state in PENDING_STATES
                           for c in await self.callbacks.store.active_for_contact(presented, queue.id))
        refused = refusal(queue, pending, has_pending_of_caller=mine)
        if refused is not None:
            log.info("caller_request_refused", why=refused.value, **context)
            return False
        assert queue is not None
        number = await self._number(call, presented)
        if number is None:
            log.info("caller_request_no_number", **context)
            return False
        slot = await self._when(call, queue, number)
        try:
            recording = await self._recording(call)
        except CallerHungUp:
            # The number and the place were chosen: a caller who hangs up during the recording still asked.
            log.info("caller_hung_up_in_recording", **context)
            recording = None
        except IvrError as exc:  # e.g. Asterisk cannot write the recordings directory: the request stands
            log.warning("caller_recording_failed", error=str(exc), **context)
            recording = None
        now = self.clock()
        remembered = self.joined(request.uniqueid) if self.joined is not None and request.uniqueid else None
        joined_at = place_of(remembered, variable_joined, now)
        created, new = await self.callbacks.create_callback(
            IVR, queue=queue.id, destination=number, type=CallbackType.STANDARD,
            start_in=None if slot else 1, slot=slot.start if slot else None, remark=REMARK,
            origin=CallbackOrigin.CALLER, joined_at=joined_at, recording=recording, created_by=None)
        self.metrics.caller_requested(queue.id)
        log.info("caller_request_stored", callback_id=str(created.id), new=new, slot=slot is not None,
                 recording=recording is not None, joined_from="queue" if remembered else "variable-or-now", **context)
        return True

    async def _number(self, call: IvrCall, presented: str | None) -> str | None:
        keyed = presented is None
        for attempt in range(NUMBER_TRIES):
            if not keyed:
                assert presented is not None
                prompts: list[Prompt] = [*CONFIRM_NUMBER, SayDigits(presented.lstrip("+")), *CONFIRM_KEYS]
                key = await call.get_digits(prompts, timeout=KEY_TIMEOUT, max_digits=1)
                if key == "1":
                    return presented
                if key != "2":
                    await self._invalid(call)
                    continue
                keyed = True
            elif attempt == 0 and presented is None:
                await call.stream_file(WITHHELD)
            digits = await call.get_digits([ENTER_NUMBER], timeout=NUMBER_TIMEOUT, max_digits=MAX_KEYED_DIGITS)
            number = keyed_number(digits, default_region=self.default_region)
            if number is not None:
                return number
            await self._invalid(call)
        return None

    @staticmethod
    async def _invalid(call: IvrCall) -> None:
        for prompt in INVALID:
            await call.stream_file(prompt)

    async def _when(self, call: IvrCall, queue: Queue, number: str) -> Slot | None:
        """None: keep my place. A slot is offered only when the queue has slot capacity and some is free."""
        if not queue.settings.slot_capacity:
            return None
        for _ in range(NUMBER_TRIES):
            key = await call.get_digits(list(WHEN), timeout=KEY_TIMEOUT, max_digits=1)
            if key == "1":
                return None
            if key == "2":
                return await self._pick_slot(call, queue, number)
            await self._invalid(call)
        return None

    async def _pick_slot(self, call: IvrCall, queue: Queue, number: str) -> Slot | None:
        now = self.clock()
        # Only slots this caller can be called in: the queue's schedule and the caller's calling window open.
        zone = contact_zone(number, customer_timezone=None, queue_timezone=queue.settings.schedule.timezone)
        listed = [(s, booked) for s, booked in await self.callbacks.slots(IVR, queue.id, now, now + SLOT_LOOKAHEAD)
                  if open_within(s.start, s.end, queue.settings, zone)]
        slots = free_slots(listed, now)
        if not slots:
            await call.stream_file("im-sorry")
            return None
        zone = queue.settings.schedule.timezone
        prompts: list[Prompt] = []
        for index, slot in enumerate(slots, start=1):
            prompts += ["vm-press", f"digits/{index}", "for", SayDatetime(int(slot.start.timestamp()), zone)]
        prompts.append("silence/1")
        for _ in range(NUMBER_TRIES):
            key = await call.get_digits(prompts, timeout=KEY_TIMEOUT, max_digits=1)
            if key.isdigit() and 1 <= int(key) <= len(slots):
                return slots[int(key) - 1]
            await self._invalid(call)
        return None

    async def _recording(self, call: IvrCall) -> str | None:
        """The recording's Asterisk-side path (without extension), or None if the caller said nothing."""
        if await call.stream_file(RECORD_PROMPT, escape="#") == "#":
            return None
        path = f"{self.recordings_dir}/{uuid.uuid4()}"
        recorded = await call.record_file(path, escape="#", timeout=20.0, beep=True, silence=3.0)
        return path if recording_kept(recorded.end_position) else None
