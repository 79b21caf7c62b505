"""Inbound calls, as the dialer applies them. An inbound call cancels the contact's pending callbacks (seed 001,
Cancelled By Inbound), whether the trunk gives the caller's number in E.164 or in national form (read in the
default region). A queue call an agent answers becomes that agent's call (seeds 003, 004), once however many
processes hear it; an end the dialer never heard (an AMI drop) is found at the next LinkUp."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cbdialer.adapters.memory import MemoryStore
from cbdialer.dialer import Dialer
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Agent, Callback, CallbackType, Queue, QueueSettings
from cbdialer.ports.calls import CURRENT_FOR_AT_MOST, current_call
from cbdialer.ports.telephony import (
    ChannelInfo,
    InboundCall,
    LinkDown,
    LinkUp,
    QueueCallAnswered,
    QueueCallEnded,
    QueueCallerJoined,
    QueueCallerLeft,
    QueueMember,
    TelephonyUnavailable,
    WaitingCaller,
)
from tests.unit.test_ami_events import heard

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
CALLER = "1796185773.3"


async def book(region: str | None) -> tuple[Dialer, MemoryStore, Callback]:
    store = MemoryStore()
    await store.save_queue(Queue(id="q", name="Q"))
    callback = Callback(id=uuid.uuid4(), queue_id="q", destination="+442079460012", type=CallbackType.STANDARD,
                        state=CallbackState.SCHEDULED, due_at=NOW + timedelta(hours=1),
                        start_at=NOW + timedelta(hours=1), end_at=NOW + timedelta(hours=5), created_at=NOW)
    await store.add_callback(callback, actor="test")
    return Dialer(store, None, owner=uuid.uuid4(), clock=lambda: NOW, default_region=region), store, callback  # type: ignore[arg-type]


@pytest.mark.parametrize("caller", ["02079460012", "020 7946 0012", "+442079460012", "442079460012"])
async def test_the_callers_number_cancels_in_national_or_international_form(caller: str) -> None:
    dialer, store, callback = await book("GB")
    assert await dialer.cancel_for_inbound(caller, False) == [callback.id]
    found = await store.get_callback(callback.id)
    assert found is not None and found.state is CallbackState.CANCELLED_BY_INBOUND
    assert (await store.history(callback.id))[-1].actor == "inbound:+442079460012"


@pytest.mark.parametrize(("region", "caller", "withheld"), [
    (None, "02079460012", False),  # national, and no region to read it in
    ("GB", "anonymous", False),
    ("GB", "1001", False),  # an extension
    ("GB", "02079460012", True),
    ("GB", "02079460099", False),  # someone else
])
async def test_nothing_is_cancelled_for_a_caller_who_is_not_the_contact(region: str | None, caller: str,
                                                                        withheld: bool) -> None:
    dialer, store, callback = await book(region)
    assert await dialer.cancel_for_inbound(caller, withheld) == []
    found = await store.get_callback(callback.id)
    assert found is not None and found.state is CallbackState.SCHEDULED


# -- the agents' queue calls ------------------------------------------------------------------------------------


class Phones:
    """The telephony port as a LinkUp needs it: presence, and the live channels (or a failure to list them)."""

    def __init__(self) -> None:
        self.live: list[str] = []  # Uniqueids of the live channels
        self.fail = False
        self.dropped: list[str] = []
        self.presentation: dict[str, str] = {}  # channel -> CALLERID(num-pres), as Getvar reads it
        self.asked: list[str] = []
        self.waiting: list[WaitingCaller] = []  # what QueueStatus lists

    async def device_states(self) -> dict[str, str]:
        return {}

    async def core_show_channels(self) -> list[ChannelInfo]:
        if self.fail:
            raise TelephonyUnavailable("the AMI link is down")
        return [ChannelInfo(channel=f"Local/x-{u}", uniqueid=u, linkedid=u, context="", exten="", state="Up",
                            application="Queue", duration="") for u in self.live]

    async def db_get(self, family: str, key: str) -> str | None:
        return None

    async def queue_members(self, asterisk_queue: str | None = None, interface: str | None = None
                            ) -> list[QueueMember]:
        return []

    async def pause_member(self, asterisk_queue: str, interface: str, *, paused: bool, reason: str) -> None:
        pass

    async def queue_callers(self) -> list[WaitingCaller]:
        if self.fail:
            raise TelephonyUnavailable("the AMI link is down")
        return list(self.waiting)

    async def channel_variable(self, channel: str, name: str) -> str | None:
        assert name == "CALLERID(num-pres)"
        self.asked.append(channel)
        if self.fail:
            raise TelephonyUnavailable("the AMI link is down")
        return self.presentation.get(channel)

    def drop(self, reason: str) -> None:
        self.dropped.append(reason)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def centre() -> tuple[MemoryStore, Phones, Clock]:
    store = MemoryStore()
    await store.save_queue(Queue(id="sales", name="Sales", settings=QueueSettings(asterisk_queue="cbdialer-sandbox")))
    for agent in ("1001", "1002"):
        await store.upsert_agent(Agent(id=agent, dial_string=f"PJSIP/agent-{agent}", queues=frozenset({"sales"})))
    return store, Phones(), Clock()


def dialer_of(store: MemoryStore, phones: Phones, clock: Clock) -> Dialer:
    return Dialer(store, phones, owner=uuid.uuid4(), clock=clock, default_region="GB")  # type: ignore[arg-type]


def answered(uniqueid: str = CALLER, *, member: str = "PJSIP/agent-1001", number: str = "+441632960123",
             queue: str = "cbdialer-sandbox") -> QueueCallAnswered:
    return QueueCallAnswered(asterisk_queue=queue, member=member, caller_number=number, caller_name="Customer",
                             withheld=not number, caller_uniqueid=uniqueid, member_uniqueid=f"{uniqueid}-m")


def ended(uniqueid: str = CALLER, *, talk: int = 10) -> QueueCallEnded:
    return QueueCallEnded(asterisk_queue="cbdialer-sandbox", member="PJSIP/agent-1001",
                          caller_number="+441632960123", caller_name="Customer", withheld=False,
                          caller_uniqueid=uniqueid, member_uniqueid=f"{uniqueid}-m", talk_seconds=talk,
                          reason="caller")


async def test_a_recorded_queue_call_becomes_the_agents_call_then_its_history() -> None:
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    inbound, connect, complete = await heard("queue_call_events")
    await dialer.on_event(inbound)
    await dialer.on_event(connect)
    [call] = await store.agent_calls("1001")
    assert (call.caller_uniqueid, call.asterisk_queue, call.queue_id, call.caller_number, call.withheld) == \
        (CALLER, "cbdialer-sandbox", "sales", "+441632960123", False)
    assert call.answered_at == NOW and call.ended_at is None
    assert current_call(await store.agent_calls("1001"), clock()) == call
    clock.now = NOW + timedelta(seconds=10)
    await dialer.on_event(complete)
    [done] = await store.agent_calls("1001")
    assert done.id == call.id and done.ended_at == NOW + timedelta(seconds=10)
    assert current_call([done], clock()) is None
    assert await store.agent_calls("1002") == []


async def test_a_withheld_caller_is_withheld_even_where_the_queue_shows_a_number() -> None:
    """The hook hears the presentation (prohib); app_queue's events only show the number."""
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    await dialer.on_event(InboundCall(caller_number="+441632960123", withheld=True, channel="c", uniqueid=CALLER))
    await dialer.on_event(answered())
    [call] = await store.agent_calls("1001")
    assert call.withheld and call.caller_number == ""


@pytest.mark.parametrize("presentation", ["prohib_passed_screen", "prohib"])
async def test_a_caller_whose_hook_this_process_missed_is_asked_of_asterisk(presentation: str) -> None:
    """This process started (or its link was down) while the caller waited: app_queue's AgentConnect shows the
    number, so the caller's channel is asked for its presentation before anything is kept."""
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    phones.presentation["Local/caller;2"] = presentation
    await dialer.on_event(dataclasses.replace(answered(), caller_channel="Local/caller;2"))
    [call] = await store.agent_calls("1001")
    assert call.withheld and call.caller_number == "" and phones.asked == ["Local/caller;2"]


async def test_a_presented_caller_stays_presented_and_an_unanswered_question_falls_back_to_the_number() -> None:
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    phones.presentation["Local/caller;2"] = "allowed_not_screened"
    await dialer.on_event(dataclasses.replace(answered(), caller_channel="Local/caller;2"))
    phones.fail = True
    await dialer.on_event(dataclasses.replace(answered("other", member="PJSIP/agent-1002"), caller_channel="Local/o;2"))
    assert [(c.withheld, c.caller_number) for c in await store.agent_calls("1001")] == [(False, "+441632960123")]
    assert [(c.withheld, c.caller_number) for c in await store.agent_calls("1002")] == [(False, "+441632960123")]


async def test_a_recorded_withheld_call_ends_by_its_member_channel() -> None:
    """Asterisk sent AgentComplete without the caller's fields (the caller's channel was gone)."""
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    for event in await heard("queue_call_withheld"):
        await dialer.on_event(event)
    [call] = await store.agent_calls("1002")
    assert call.withheld and call.caller_number == "" and call.ended_at == NOW
    assert dialer.withheld_callers == {}  # forgotten once the call ended


async def test_an_end_with_neither_channel_ends_the_agents_one_open_call_in_that_queue() -> None:
    """Asterisk sent AgentComplete with neither the caller's nor the member's channel (seen in the sandbox)."""
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    await dialer.on_event(answered())
    bare = dataclasses.replace(ended(), caller_uniqueid="", member_uniqueid="", caller_number="", caller_name="")
    await dialer.on_event(dataclasses.replace(bare, asterisk_queue="other-queue"))  # not that queue's call
    [call] = await store.agent_calls("1001")
    assert call.ended_at is None
    await dialer.on_event(dataclasses.replace(bare, asterisk_queue="CBDIALER-SANDBOX"))
    [call] = await store.agent_calls("1001")
    assert call.ended_at == NOW and call.caller_uniqueid == CALLER


async def test_two_processes_hearing_the_same_call_keep_one() -> None:
    store, phones, clock = await centre()
    first, second = dialer_of(store, phones, clock), dialer_of(store, phones, clock)
    for event in (answered(), ended()):
        await first.on_event(event)
        clock.now += timedelta(milliseconds=5)
        await second.on_event(event)
    [call] = await store.agent_calls("1001")
    assert call.answered_at == NOW and call.ended_at is not None


async def test_an_end_heard_without_its_answer_is_history_at_once() -> None:
    store, phones, clock = await centre()
    await dialer_of(store, phones, clock).on_event(ended(talk=30))
    [call] = await store.agent_calls("1001")
    assert call.answered_at == NOW - timedelta(seconds=30) and call.ended_at == NOW


async def test_calls_of_no_agent_are_not_kept_and_of_no_queue_have_none() -> None:
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    await dialer.on_event(answered(member="PJSIP/agent-1009"))
    await dialer.on_event(answered("2.2", member="PJSIP/agent-1002", queue="support"))
    assert await store.agent_calls("1001") == []
    [call] = await store.agent_calls("1002")
    assert call.asterisk_queue == "support" and call.queue_id is None


async def test_a_current_call_whose_end_was_lost_in_an_ami_drop_ends_at_the_reconnect() -> None:
    """The question: what does an AMI drop do to a current call? Its AgentComplete went with the link. At the
    LinkUp, the calls whose caller channel Asterisk no longer lists end; those still live stay current."""
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    await dialer.on_event(LinkUp(reconnect=False))
    await dialer.on_event(answered("1.1", member="PJSIP/agent-1001"))
    await dialer.on_event(answered("1.2", member="PJSIP/agent-1002"))
    await dialer.on_event(LinkDown("the link dropped"))
    clock.now = NOW + timedelta(minutes=1)
    phones.live = ["1.2"]  # 1.1 hung up while we could not hear
    await dialer.on_event(LinkUp(reconnect=True))
    [gone] = await store.agent_calls("1001")
    [still] = await store.agent_calls("1002")
    assert gone.ended_at == NOW + timedelta(minutes=1) and current_call([gone], clock()) is None
    assert still.ended_at is None and current_call([still], clock()) == still
    assert dialer.ready.is_set()


async def test_a_call_answered_while_the_channels_were_read_is_not_taken_for_gone() -> None:
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    await dialer.on_event(answered())  # answered by another process's clock, a moment ago
    await dialer.on_event(LinkUp(reconnect=True))
    assert (await store.agent_calls("1001"))[0].ended_at is None


async def test_when_asterisk_cannot_be_asked_nothing_ends_and_the_age_bound_holds() -> None:
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    await dialer.on_event(answered())
    clock.now = NOW + timedelta(minutes=5)
    phones.fail = True
    assert await dialer.end_calls_not_heard() == 0
    calls = await store.agent_calls("1001")
    assert calls[0].ended_at is None and current_call(calls, clock()) == calls[0]
    assert current_call(calls, NOW + CURRENT_FOR_AT_MOST + timedelta(seconds=1)) is None


async def test_an_agents_next_call_ends_the_one_whose_end_was_lost() -> None:
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    await dialer.on_event(answered("1.1"))
    clock.now = NOW + timedelta(minutes=2)
    await dialer.on_event(answered("1.2"))
    new, old = await store.agent_calls("1001")
    assert current_call([new, old], clock()) == new and old.ended_at == NOW + timedelta(minutes=2)


# -- the callers waiting in each Asterisk queue (docs/design.md section 14) -----------------------------------


async def test_the_places_follow_app_queues_events_and_are_read_afresh_after_every_link_up() -> None:
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    assert not dialer.places.known  # nothing is released ahead of anyone before the first read
    joined, left = await heard("queue_callers")  # recorded from the sandbox
    await dialer.on_event(joined)
    assert dialer.places.waiting_since("cbdialer-sandbox") == [NOW]
    await dialer.on_event(left)
    assert dialer.places.waiting_since("cbdialer-sandbox") == []
    # Events were lost while the link was down: QueueStatus says who waits, and for how long.
    await dialer.on_event(QueueCallerJoined(asterisk_queue="cbdialer-sandbox", uniqueid="heard", position=1))
    clock.now = NOW + timedelta(minutes=5)
    phones.waiting = [WaitingCaller("cbdialer-sandbox", "heard", 300, 1), WaitingCaller("cbdialer-sandbox", "new", 30, 2)]
    await dialer.on_event(LinkUp(reconnect=True))
    assert dialer.places.known
    assert dialer.places.waiting_since("cbdialer-sandbox") == [NOW, clock.now - timedelta(seconds=31)]
    # A caller that left unheard is gone after the re-read; an abandon is a leave too.
    await dialer.on_event(QueueCallerLeft(asterisk_queue="cbdialer-sandbox", uniqueid="new", abandoned=True))
    assert dialer.places.waiting_since("cbdialer-sandbox") == [NOW]
    # Asterisk cannot be asked: the places are not known until the next LinkUp reads them.
    phones.fail = True
    await dialer.on_event(LinkUp(reconnect=True))
    assert not dialer.places.known


async def test_the_places_are_not_known_while_the_link_is_down_and_queue_names_ignore_case() -> None:
    store, phones, clock = await centre()
    dialer = dialer_of(store, phones, clock)
    await dialer.on_event(LinkUp(reconnect=False))
    assert dialer.places.known
    await dialer.on_event(QueueCallerJoined(asterisk_queue="CBDialer-Sandbox", uniqueid="u1", position=1))
    assert dialer.places.waiting_since("cbdialer-sandbox") == [NOW]
    await dialer.on_event(LinkDown(reason="test"))
    assert not dialer.places.known  # joins and leaves are lost meanwhile
