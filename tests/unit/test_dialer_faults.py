"""The dialer under faults: it feeds the attempt table and carries out its effects, and no AMI error answer,
lost link or takeover makes it guess (the issue on faults; docs/design.md section 8). The store and the telephony
here are recorders of the two ports; the table's own rules are in test_attempt.py."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cbdialer.adapters.ami import AmiActionFailed, AmiTimeout, AttemptReport, ChannelInfo, LinkDown, LinkUp
from cbdialer.dialer import Dialer
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    Agent,
    Attempt,
    Callback,
    CallbackType,
    CompletionStatus,
    InteractionState,
    Queue,
    QueueSettings,
)
from cbdialer.domain.routing import Offer
from cbdialer.ports import AgentRecord, Ended, Started, StartOutcome, StoreUnavailable
from cbdialer.ports.telephony import QueueMember, WaitingCaller

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
QUEUE = Queue(id="q", name="q", settings=QueueSettings(wrap_up_time=0, recall_intervals=(600,)))
AGENT = Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"q"}))


def due(state: CallbackState = CallbackState.QUEUED) -> Callback:
    return Callback(id=uuid.uuid4(), queue_id="q", destination="+442079460012", type=CallbackType.STANDARD,
                    state=state, due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=1), created_at=NOW,
                    customer_timezone="UTC")


class Store:
    """Records what the dialer asks of the store."""

    def __init__(self, attempts: list[Attempt] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stored_attempts = attempts or []

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs in self.calls if called == name]

    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]:
        return [AgentRecord(AGENT, True, None, None, None, ())]

    async def end_agent_calls(self, **kwargs: Any) -> int:
        return 0  # every LinkUp ends the agents' queue calls gone unheard (dialer/inbound.py): none here

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        return AgentRecord(AGENT, True, None, None, None, ())

    async def attempts(self, callback_id: uuid.UUID) -> list[Attempt]:
        return self.stored_attempts

    async def start_attempt(self, callback: Callback, **kwargs: Any) -> Started:
        self.calls.append(("start_attempt", kwargs))
        return Started(StartOutcome.STARTED, dataclasses.replace(callback, state=CallbackState.IN_PROGRESS))

    async def end_attempt(self, attempt_id: uuid.UUID, **kwargs: Any) -> Ended:
        self.calls.append(("end_attempt", {"attempt_id": attempt_id, **kwargs}))
        return Ended(True, None)

    async def record_result(self, attempt_id: uuid.UUID, **kwargs: Any) -> bool:
        self.calls.append(("record_result", {"attempt_id": attempt_id, **kwargs}))
        return True

    async def result_heard(self, attempt_id: uuid.UUID, **kwargs: Any) -> bool:
        self.calls.append(("result_heard", {"attempt_id": attempt_id, **kwargs}))
        return True

    async def wait(self, callback: Callback, **kwargs: Any) -> None:
        self.calls.append(("wait", kwargs))

    async def return_lease(self, callback_id: uuid.UUID, **kwargs: Any) -> bool:
        self.calls.append(("return_lease", kwargs))
        return True

    async def set_attempt_states(self, states: dict[uuid.UUID, InteractionState]) -> None:
        self.calls.append(("set_attempt_states", dict(states)))


class Phones:
    """The telephony port: answers as told."""

    def __init__(self, *, originate: Exception | None = None, channels: list[ChannelInfo] | None = None,
                 kept: dict[str, str] | None = None, fail_device_states: bool = False,
                 fail_channels: bool = False) -> None:
        self.originate_error = originate
        self.channels = channels or []
        self.kept = kept or {}
        self.fail_device_states = fail_device_states
        self.fail_channels = fail_channels
        self.sent: list[str] = []
        self.hung_up: list[str] = []
        self.dropped: list[str] = []
        self.connected = True

    async def originate(self, request: Any) -> str:
        if self.originate_error is not None:
            raise self.originate_error
        self.sent.append(request.channel_id)
        return request.action_id

    async def hangup(self, channel: str, cause: int = 16) -> None:
        self.hung_up.append(channel)

    async def core_show_channels(self) -> list[ChannelInfo]:
        if self.fail_channels:
            raise AmiTimeout("AMI CoreShowChannels got no answer in time")
        return self.channels

    async def device_states(self) -> dict[str, str]:
        if self.fail_device_states:
            raise AmiActionFailed("AMI DeviceStateList failed: Permission denied")
        return {"PJSIP/agent-1001": "NOT_INUSE"}

    async def db_get(self, family: str, key: str) -> str | None:
        return self.kept.get(key)

    async def channel_variable(self, channel: str, name: str) -> str | None:
        return None

    async def queue_members(self, asterisk_queue: str | None = None, interface: str | None = None
                            ) -> list[QueueMember]:
        return []

    async def pause_member(self, asterisk_queue: str, interface: str, *, paused: bool, reason: str) -> None:
        pass

    async def queue_callers(self) -> list[WaitingCaller]:
        return []

    def drop(self, reason: str) -> None:
        self.dropped.append(reason)


def dialer(store: Store, phones: Phones) -> Dialer:
    return Dialer(store, phones, owner=uuid.uuid4(), clock=lambda: NOW)  # type: ignore[arg-type]


def leg(attempt: uuid.UUID, channel: str, *, bridge: str = "", own: bool = True) -> ChannelInfo:
    return ChannelInfo(channel=channel, uniqueid=str(attempt) if own else str(uuid.uuid4()), linkedid=str(attempt),
                       context="", exten="", state="Up", application="", duration="", bridge_id=bridge)


async def offer(d: Dialer) -> uuid.UUID:
    callback = due()
    await d.board.agents_for(QUEUE, callback)
    before = set(d.live)
    await d.present(callback, QUEUE, Offer(AGENT.id), now=NOW)
    (attempt_id,) = set(d.live) - before
    return attempt_id


async def test_nothing_is_offered_before_presence_is_known_or_while_the_link_is_down() -> None:
    store, phones = Store(), Phones()
    d = dialer(store, phones)
    await d.present(due(), QUEUE, Offer(AGENT.id), now=NOW)  # before the first LinkUp
    await d.on_event(LinkUp(reconnect=False))
    assert d.ready.is_set()
    await d.on_event(LinkDown(reason="closed by Asterisk"))
    await d.present(due(), QUEUE, Offer(AGENT.id), now=NOW)
    assert store.named("start_attempt") == [] and phones.sent == []
    assert [kw["reason"] for kw in store.named("wait")] == [Reason.DIAL_SLOT_UNAVAILABLE] * 2


async def test_an_error_answer_to_an_originate_fails_that_attempt_as_not_dialled() -> None:
    store, phones = Store(), Phones(originate=AmiActionFailed("AMI Originate failed: Permission denied"))
    d = dialer(store, phones)
    await d.on_event(LinkUp(reconnect=False))
    callback = due()
    await d.board.agents_for(QUEUE, callback)
    await d.present(callback, QUEUE, Offer(AGENT.id), now=NOW)  # raises nothing: the daemon goes on
    (ended,) = store.named("end_attempt")
    assert (ended["step"].status, ended["step"].counted) == (CompletionStatus.NOT_DIALLED, False)
    assert d.live == {}


async def test_a_failed_setup_after_linkup_drops_the_link_instead_of_stopping_the_daemon() -> None:
    phones = Phones(fail_device_states=True)
    d = dialer(Store(), phones)
    await d.on_event(LinkUp(reconnect=False))
    assert not d.ready.is_set() and len(phones.dropped) == 1


async def test_the_reconcile_keeps_live_calls_applies_kept_results_and_only_then_allows_offers() -> None:
    store, phones = Store(), Phones()
    d = dialer(store, phones)
    await d.on_event(LinkUp(reconnect=False))
    talking, finished, vanished = await offer(d), await offer(d), await offer(d)
    assert len(d.live) == 3
    await d.on_event(LinkDown(reason="ping failed"))
    phones.channels = [leg(talking, "PJSIP/agent-1001-0007", bridge="b1"),
                       leg(talking, "Local/+442079460012@sim;1", bridge="b1", own=False)]
    phones.kept = {str(finished): "BUSY:17::1764590400"}
    await d.on_event(LinkUp(reconnect=True))
    assert d.ready.is_set()
    assert set(d.live) == {talking} and d.live[talking].state is InteractionState.HANDLING
    ends = {kw["attempt_id"]: kw for kw in store.named("end_attempt")}
    assert ends[finished]["step"].status is CompletionStatus.BUSY and ends[finished]["dial_status"] == "BUSY"
    assert ends[vanished]["step"].reason is Reason.OUTCOME_UNKNOWN
    assert phones.hung_up == []


async def test_a_result_heard_for_an_attempt_held_elsewhere_is_recorded() -> None:
    store = Store()
    d = dialer(store, Phones())
    other = uuid.uuid4()
    await d.on_event(AttemptReport(kind="Result", attempt_id=str(other), dial_status="ANSWER", hangup_cause=16))
    await d.on_event(AttemptReport(kind="Result", attempt_id="not-a-uuid", dial_status="ANSWER"))
    (heard,) = store.named("result_heard")
    assert (heard["attempt_id"], heard["dial_status"], heard["heard_at"]) == (other, "ANSWER", NOW)


def stored_attempt(callback: Callback, **changes: Any) -> Attempt:
    values: dict[str, Any] = dict(id=uuid.uuid4(), callback_id=callback.id, agent_id="1001",
                                  started_at=NOW - timedelta(seconds=40), interaction_state=InteractionState.DIALING)
    values.update(changes)
    return Attempt(**values)


async def test_a_takeover_that_cannot_see_the_line_hands_the_callback_back() -> None:
    callback = due(CallbackState.IN_PROGRESS)
    store, phones = Store([stored_attempt(callback)]), Phones(fail_channels=True)
    d = dialer(store, phones)
    assert await d.recover(callback, QUEUE, now=NOW)
    (returned,) = store.named("return_lease")
    assert returned["due_at"] > NOW and d.live == {} and store.named("end_attempt") == []


@pytest.mark.parametrize("stored", [InteractionState.OFFERED, InteractionState.HANDLING])
async def test_a_takeover_of_a_bridged_call_reads_a_conversation_whatever_the_stored_state(
    stored: InteractionState,
) -> None:
    callback = due(CallbackState.IN_PROGRESS)
    attempt = stored_attempt(callback, interaction_state=stored)
    store = Store([attempt])
    phones = Phones(channels=[leg(attempt.id, "PJSIP/agent-1001-0009", bridge="b2")])
    d = dialer(store, phones)
    await d.on_event(LinkUp(reconnect=False))  # ready: the watchdog acts
    assert await d.recover(callback, QUEUE, now=NOW)
    assert await d.recover(callback, QUEUE, now=NOW)  # claimed back while held: nothing twice
    assert len(d.live) == 1
    live = d.live[attempt.id]
    assert live.state is InteractionState.HANDLING and live.call.channel == "PJSIP/agent-1001-0009"
    d.clock = lambda: NOW + timedelta(hours=2)  # type: ignore[method-assign]
    await d.check_deadlines()  # one round of the watchdog, two hours on
    assert phones.hung_up == [] and attempt.id in d.live


async def test_a_takeover_applies_a_recorded_result_with_the_disposition_window_it_had() -> None:
    callback = due(CallbackState.IN_PROGRESS)
    attempt = stored_attempt(callback, interaction_state=InteractionState.WRAP_UP, dial_status="BUSY",
                             hangup_cause=17, result_at=NOW - timedelta(seconds=3))
    store = Store([attempt])
    d = dialer(store, Phones(fail_channels=True))  # the line is not even asked
    assert await d.recover(callback, QUEUE, now=NOW)
    (ended,) = store.named("end_attempt")
    assert ended["step"].status is CompletionStatus.BUSY and d.live == {}


@pytest.mark.parametrize("kind", ["Preview", "Dialing", "CustomerAnswered"])
async def test_progress_is_stored_in_the_background(kind: str) -> None:
    store = Store()
    d = dialer(store, Phones())
    await d.on_event(LinkUp(reconnect=False))
    attempt = await offer(d)
    await d.on_event(AttemptReport(kind=kind, attempt_id=str(attempt)))
    assert d._unwritten_states == {attempt: d.live[attempt].state} and d.live[attempt].state is not InteractionState.OFFERED


async def test_a_callback_whose_attempt_ended_without_moving_it_follows_that_end() -> None:
    """Its holder ended the attempt but had lost the lease, so the callback stayed in progress: the taker
    applies the recorded end (handled: done), not an unknown outcome that would call the customer again."""
    callback = due(CallbackState.IN_PROGRESS)
    attempt = stored_attempt(callback, ended_at=NOW - timedelta(seconds=5), dial_status="ANSWER",
                             completion_status=CompletionStatus.HANDLED)
    store = Store([attempt])
    moved: list[dict[str, Any]] = []

    async def transition(callback_id: uuid.UUID, **kwargs: Any) -> Callback:
        moved.append(kwargs)
        return callback

    store.transition = transition  # type: ignore[attr-defined]
    d = dialer(store, Phones(fail_channels=True))
    assert await d.recover(callback, QUEUE, now=NOW)
    [change] = moved
    assert (change["to"], change["reason"], change["completion_status"]) == \
        (CallbackState.COMPLETED, Reason.HANDLED, CompletionStatus.HANDLED)


async def test_the_watchdog_waits_while_the_link_is_down_and_the_reconcile_decides() -> None:
    """A customer may answer during the cut: the no-answer deadline must not end the call meanwhile."""
    store, phones = Store(), Phones()
    d = dialer(store, phones)
    await d.on_event(LinkUp(reconnect=False))
    attempt = await offer(d)
    await d.on_event(AttemptReport(kind="Dialing", attempt_id=str(attempt)))
    await d.on_event(LinkDown(reason="ping failed"))
    d.clock = lambda: NOW + timedelta(hours=1)  # type: ignore[method-assign]
    await d.check_deadlines()
    await d.check_deadlines()
    assert phones.hung_up == [] and store.named("end_attempt") == []
    phones.kept = {str(attempt): "ANSWER:16::1764590400"}  # it was answered, and ended, while we were away
    await d.on_event(LinkUp(reconnect=True))
    (ended,) = store.named("end_attempt")
    assert ended["step"].status is CompletionStatus.HANDLED


async def test_the_watchdog_waits_while_the_database_is_away() -> None:
    store, phones = Store(), Phones()
    up = [True]
    d = Dialer(store, phones, owner=uuid.uuid4(), clock=lambda: NOW,  # type: ignore[arg-type]
               database_up=lambda: up[0])
    await d.on_event(LinkUp(reconnect=False))
    attempt = await offer(d)
    up[0] = False
    d.clock = lambda: NOW + timedelta(hours=1)  # type: ignore[method-assign]
    await d.check_deadlines()
    assert phones.hung_up == [] and attempt in d.live


async def test_a_takeover_that_cannot_be_applied_is_not_held() -> None:
    callback = due(CallbackState.IN_PROGRESS)
    attempt = stored_attempt(callback, dial_status="BUSY", hangup_cause=17, result_at=NOW - timedelta(seconds=3))
    store = Store([attempt])

    async def end_attempt(attempt_id: uuid.UUID, **kwargs: Any) -> Ended:
        raise StoreUnavailable("PostgreSQL is away")

    store.end_attempt = end_attempt  # type: ignore[method-assign]
    d = dialer(store, Phones())
    with pytest.raises(StoreUnavailable):
        await d.recover(callback, QUEUE, now=NOW)
    assert d.live == {} and len(store.named("return_lease")) == 1


async def test_a_not_dialled_end_that_meets_an_outage_is_applied_once_the_database_is_back() -> None:
    """Dropped instead, it would be taken over as of unknown outcome, and counted: nobody was dialled."""
    store, phones = Store(), Phones(originate=AmiActionFailed("AMI Originate failed: no such channel"))
    up = [True]
    d = Dialer(store, phones, owner=uuid.uuid4(), clock=lambda: NOW,  # type: ignore[arg-type]
               database_up=lambda: up[0])
    await d.on_event(LinkUp(reconnect=False))
    end_attempt = store.end_attempt

    async def away(attempt_id: uuid.UUID, **kwargs: Any) -> Ended:
        raise StoreUnavailable("PostgreSQL is away")

    store.end_attempt = away  # type: ignore[method-assign]
    callback = due()
    await d.board.agents_for(QUEUE, callback)
    with pytest.raises(StoreUnavailable):
        await d.present(callback, QUEUE, Offer(AGENT.id), now=NOW)
    assert len(d.live) == 1  # still held: its lease is kept
    up[0] = False
    await d.check_deadlines()
    assert len(d.live) == 1
    store.end_attempt = end_attempt  # type: ignore[method-assign]
    up[0] = True
    await d.check_deadlines()
    (ended,) = store.named("end_attempt")
    assert (ended["step"].status, ended["step"].counted) == (CompletionStatus.NOT_DIALLED, False) and d.live == {}
