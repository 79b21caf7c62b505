"""The dialer's conformance suite: an attempt's start (lease, dial slot, pacing, agent), its line result, its
interaction states, its one end, the agent's disposition, a wait, a lease handed back, and the heartbeat's
reservations."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Attempt, Callback, CallbackType, CompletionStatus, InteractionState, Queue
from cbdialer.domain.outcomes import after_attempt, after_disposition
from cbdialer.ports import StartOutcome, StateChange
from tests.support.contracts.common import (
    LEASE,
    T0,
    Store,
    add_agent,
    end,
    live_call,
    make_callback,
    row_of,
    start,
)


class AttemptContract:
    async def test_a_start_takes_the_callback_the_agent_and_a_dial_slot_at_once(self, store: Store) -> None:
        await add_agent(store)
        callback = make_callback()
        await store.add_callback(callback, actor="test")
        owner = uuid.uuid4()
        [queued] = await store.claim_due(owner, now=T0, limit=1, lease=LEASE)
        await store.wait(queued, owner=owner, reason=Reason.POSTPONED, due_at=T0, now=T0, actor="dialer",
                         assigned_agent="1001")
        [queued] = await store.claim_due(owner, now=T0, limit=1, lease=LEASE)
        attempt_id, now = uuid.uuid4(), T0 + timedelta(seconds=1)
        started = await start(store, queued, owner=owner, now=now, attempt_id=attempt_id)
        assert started.outcome is StartOutcome.STARTED and started.callback == await store.get_callback(callback.id)
        assert (started.callback.state, started.callback.reason, started.callback.due_at,
                started.callback.assigned_agent) == (CallbackState.IN_PROGRESS, Reason.DIALING, now + LEASE, None)
        assert (await store.history(callback.id))[-1] == StateChange(
            now, CallbackState.QUEUED, CallbackState.IN_PROGRESS, Reason.DIALING, "dialer", now + LEASE)
        assert await store.attempts(callback.id) == [Attempt(id=attempt_id, callback_id=callback.id, agent_id="1001",
                                                             started_at=now)]
        agent = await store.get_agent("1001")
        assert (agent.reserved_until, agent.waiting) == (now + 2 * LEASE, ())
        assert await store.extend_leases(owner, now=now, lease=LEASE) == 1  # the lease is now the attempt's

    async def test_a_start_is_refused_for_a_callback_that_is_not_ours(self, store: Store) -> None:
        await add_agent(store)
        callback = make_callback()
        await store.add_callback(callback, actor="test")
        assert (await start(store, callback, owner=uuid.uuid4())).outcome is StartOutcome.NOT_OURS  # not claimed
        [queued] = await store.claim_due(uuid.uuid4(), now=T0, limit=1, lease=LEASE)
        refused = await start(store, queued, owner=uuid.uuid4())
        assert (refused.outcome, refused.callback) == (StartOutcome.NOT_OURS, None)
        assert (await store.get_callback(callback.id)).state is CallbackState.QUEUED
        assert await store.attempts(callback.id) == []
        assert (await store.get_agent("1001")).reserved_until is None

    async def test_a_start_needs_a_free_ready_agent(self, store: Store) -> None:
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        await store.set_agent_ready("1002", False)
        callbacks = [make_callback(destination=f"+44207946001{i}") for i in range(3)]
        for c in callbacks:
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        queued = await store.claim_due(owner, now=T0, limit=10, lease=LEASE)
        first, attempt_id = queued[0], uuid.uuid4()
        assert (await start(store, first, owner=owner, attempt_id=attempt_id)).outcome is StartOutcome.STARTED
        # Reserved until T0 + 2 leases; not ready; unknown.
        for agent, now in (("1001", T0 + LEASE), ("1002", T0), ("nobody", T0)):
            taken = await start(store, queued[1], owner=owner, agent=agent, now=now)
            assert (taken.outcome, taken.callback) == (StartOutcome.AGENT_TAKEN, None)
        assert (await store.get_callback(queued[1].id)).state is CallbackState.QUEUED
        assert await store.attempts(queued[1].id) == []
        # A reservation that ran out (its holder died) no longer holds the agent.
        assert (await start(store, queued[1], owner=owner, now=T0 + 2 * LEASE)).outcome is StartOutcome.STARTED
        # Wrapping up: the agent is free once its wrap-up has ended.
        [(_, live)] = [(c, a.id) for c in queued[1:2] for a in await store.attempts(c.id)]
        in_call = await store.get_callback(queued[1].id)
        wrap_up = T0 + 3 * LEASE
        await end(store, in_call, live, owner=owner, now=T0 + 2 * LEASE + timedelta(seconds=5),
                  wrap_up_until=wrap_up)
        assert (await start(store, queued[2], owner=owner, now=wrap_up - timedelta(seconds=1))).outcome is (
            StartOutcome.AGENT_TAKEN)
        assert (await start(store, queued[2], owner=owner, now=wrap_up)).outcome is StartOutcome.STARTED

    async def test_max_concurrent_calls_hold_and_a_lowered_limit_counts_the_calls_above_it(
            self, store: Store) -> None:
        agents = [f"100{i}" for i in range(4)]
        for agent in agents:
            await add_agent(store, agent)
        callbacks = [make_callback(destination=f"+44207946002{i}") for i in range(4)]
        for c in callbacks:
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        queued = await store.claim_due(owner, now=T0, limit=10, lease=LEASE)
        ids = [uuid.uuid4() for _ in queued]
        outcomes = [(await start(store, c, owner=owner, agent=agent, attempt_id=i, max_calls=2)).outcome
                    for c, agent, i in zip(queued[:3], agents[:3], ids[:3], strict=True)]
        assert outcomes == [StartOutcome.STARTED, StartOutcome.STARTED, StartOutcome.NO_SLOT]
        assert (await store.get_agent(agents[2])).reserved_until is None
        assert (await store.get_callback(queued[2].id)).state is CallbackState.QUEUED
        later = T0 + timedelta(seconds=10)
        first = await store.get_callback(queued[0].id)
        assert (await end(store, first, ids[0], owner=owner, agent=agents[0], now=later)).finished
        assert (await start(store, queued[2], owner=owner, agent=agents[2], attempt_id=ids[2], now=later,
                            max_calls=2)).outcome is StartOutcome.STARTED
        # Lowered to 1 with 2 calls live: no slot until both have ended.
        assert (await start(store, queued[3], owner=owner, agent=agents[3], now=later,
                            max_calls=1)).outcome is StartOutcome.NO_SLOT
        # The call in slot 0 ends first: slot 0 is free, but the call in slot 1 still counts.
        for i in (2, 1):
            live = await store.get_callback(queued[i].id)
            await end(store, live, ids[i], owner=owner, agent=agents[i], now=later)
            outcome = (await start(store, queued[3], owner=owner, agent=agents[3], now=later, max_calls=1)).outcome
            assert outcome is (StartOutcome.NO_SLOT if i == 2 else StartOutcome.STARTED)

    async def test_calls_per_second_paces_the_starts_of_a_queue(self, store: Store) -> None:
        await store.save_queue(Queue(id="slow", name="Slow"))
        await store.save_queue(Queue(id="fast", name="Fast"))
        agents = [f"20{i:02d}" for i in range(7)]
        for agent in agents:
            await add_agent(store, agent, queues=frozenset({"slow", "fast"}))
        slow = [make_callback(queue_id="slow", destination=f"+44207946003{i}") for i in range(3)]
        fast = [make_callback(queue_id="fast", destination=f"+44207946004{i}") for i in range(4)]
        for c in slow + fast:
            await store.add_callback(c, actor="test")
        owner = uuid.uuid4()
        queued = {c.id: c for c in await store.claim_due(owner, now=T0, limit=10, lease=LEASE)}
        free = iter(agents)

        async def go(c: object, seconds: float, rate: float) -> StartOutcome:
            return (await start(store, queued[c.id], owner=owner, agent=next(free),  # type: ignore[attr-defined]
                                now=T0 + timedelta(seconds=seconds), calls_per_second=rate)).outcome

        # One a second: the next start waits a second.
        assert [await go(slow[0], 0, 1.0), await go(slow[1], 0.5, 1.0), await go(slow[1], 1, 1.0)] == [
            StartOutcome.STARTED, StartOutcome.NO_SLOT, StartOutcome.STARTED]
        # Two a second: a burst of two, then one every half second.
        assert [await go(fast[0], 0, 2.0), await go(fast[1], 0, 2.0), await go(fast[2], 0, 2.0),
                await go(fast[2], 0.5, 2.0)] == [StartOutcome.STARTED, StartOutcome.STARTED, StartOutcome.NO_SLOT,
                                                 StartOutcome.STARTED]

    async def test_the_line_result_is_on_record_once_and_the_agent_wraps_up(self, store: Store) -> None:
        await add_agent(store)
        callback, attempt_id, owner = await live_call(store)
        heard, wrap_up = T0 + timedelta(seconds=10), T0 + timedelta(seconds=40)
        assert await store.record_result(attempt_id, agent_id="1001", heard_at=heard, dial_status="ANSWER",
                                         hangup_cause=16, amd_status="HUMAN", wrap_up_until=wrap_up, status=CompletionStatus.HANDLED) is True
        assert await store.record_result(attempt_id, agent_id="1001", heard_at=heard + LEASE, dial_status="BUSY",
                                         hangup_cause=17, amd_status="", wrap_up_until=wrap_up + LEASE, status=CompletionStatus.BUSY) is True
        assert await store.result_heard(attempt_id, heard_at=heard, dial_status="BUSY", hangup_cause=17,
                                        amd_status="") is False
        [attempt] = await store.attempts(callback.id)
        assert (attempt.dial_status, attempt.hangup_cause, attempt.amd_status, attempt.result_at,
                attempt.interaction_state) == ("ANSWER", 16, "HUMAN", heard, InteractionState.WRAP_UP)
        agent = await store.get_agent("1001")
        assert (agent.reserved_until, agent.wrap_up_until, agent.idle_since) == (None, wrap_up, wrap_up)
        await end(store, callback, attempt_id, owner=owner, now=wrap_up, dial_status="NOANSWER")
        [attempt] = await store.attempts(callback.id)
        assert (attempt.dial_status, attempt.result_at, attempt.ended_at) == ("ANSWER", heard, wrap_up)
        assert await store.record_result(attempt_id, agent_id="1001", heard_at=heard, dial_status="ANSWER",
                                         hangup_cause=16, amd_status="", wrap_up_until=wrap_up, status=CompletionStatus.HANDLED) is False

    async def test_a_result_heard_for_another_process_is_recorded_once(self, store: Store) -> None:
        await add_agent(store)
        callback, attempt_id, _ = await live_call(store)
        heard = T0 + timedelta(seconds=5)
        assert await store.result_heard(attempt_id, heard_at=heard, dial_status="BUSY", hangup_cause=17,
                                        amd_status="") is True
        assert await store.result_heard(attempt_id, heard_at=heard, dial_status="ANSWER", hangup_cause=16,
                                        amd_status="") is False
        assert await store.result_heard(uuid.uuid4(), heard_at=heard, dial_status="BUSY", hangup_cause=17,
                                        amd_status="") is False
        [attempt] = await store.attempts(callback.id)
        assert (attempt.dial_status, attempt.hangup_cause, attempt.result_at, attempt.interaction_state) == (
            "BUSY", 17, heard, InteractionState.OFFERED)
        assert (await store.get_agent("1001")).reserved_until is not None  # still the holder's to release

    async def test_interaction_states_only_move_forward_and_never_after_the_end(self, store: Store) -> None:
        await add_agent(store)
        callback, attempt_id, owner = await live_call(store)

        async def state() -> InteractionState:
            return (await store.attempts(callback.id))[0].interaction_state

        await store.set_attempt_states({attempt_id: InteractionState.DIALING})
        assert await state() is InteractionState.DIALING
        await store.set_attempt_states({attempt_id: InteractionState.PREVIEW})
        assert await state() is InteractionState.DIALING
        await store.set_attempt_states({attempt_id: InteractionState.HANDLING, uuid.uuid4(): InteractionState.DIALING})
        assert await state() is InteractionState.HANDLING
        await store.set_attempt_states({attempt_id: InteractionState.ENDED})  # an end is written by the end alone
        assert await state() is InteractionState.HANDLING
        await end(store, callback, attempt_id, owner=owner, now=T0 + LEASE)
        await store.set_attempt_states({attempt_id: InteractionState.WRAP_UP})
        assert await state() is InteractionState.ENDED

    async def test_only_the_first_end_counts_and_it_frees_the_agent_and_the_slot(self, store: Store) -> None:
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        callback, attempt_id, owner = await live_call(store, max_calls=1)
        ended_at, wrap_up = T0 + timedelta(seconds=40), T0 + timedelta(seconds=50)
        ended = await end(store, callback, attempt_id, owner=owner, now=ended_at, wrap_up_until=wrap_up)
        assert ended.finished and ended.callback == await store.get_callback(callback.id)
        assert (ended.callback.state, ended.callback.reason, ended.callback.completion_status,
                ended.callback.attempts_count) == (CallbackState.COMPLETED, Reason.HANDLED, CompletionStatus.HANDLED, 1)
        assert (await store.history(callback.id))[-1] == StateChange(
            ended_at, CallbackState.IN_PROGRESS, CallbackState.COMPLETED, Reason.HANDLED, "dialer", T0 + LEASE)
        [attempt] = await store.attempts(callback.id)
        assert (attempt.ended_at, attempt.interaction_state, attempt.completion_status, attempt.counted,
                attempt.dial_status, attempt.hangup_cause, attempt.result_at) == (
            ended_at, InteractionState.ENDED, CompletionStatus.HANDLED, True, "ANSWER", 16, ended_at)
        agent = await store.get_agent("1001")
        assert (agent.reserved_until, agent.wrap_up_until, agent.idle_since) == (None, wrap_up, wrap_up)
        assert (await row_of(store, callback.id))["lease_owner"] is None
        again = await end(store, callback, attempt_id, owner=owner, now=ended_at + LEASE)
        assert (again.finished, again.callback) == (False, None)
        assert len(await store.history(callback.id)) == 4
        # The slot is free again (max_concurrent_calls 1).
        await live_call(store, make_callback(ended_at, destination="+442079460013"), agent="1002", now=ended_at,
                        max_calls=1)

    async def test_an_end_that_frees_the_agent_makes_the_first_callback_waiting_for_it_due(self, store: Store) -> None:
        """Not at its recheck: the attempt's end frees the agent, and the callback first in the agent's own
        callback queue falls due in that statement, back in its place in due order (as of when it fell due);
        an end into a wrap-up frees nobody yet."""
        for agent, wrap_up in (("1001", timedelta(seconds=30)), ("1002", timedelta(0))):
            await add_agent(store, agent)
            callback, attempt_id, owner = await live_call(store, agent=agent)
            waiting = [make_callback(T0 - timedelta(seconds=s), destination=f"+4420794600{agent[-1]}{s}")
                       for s in (1, 2)]
            for other in waiting:
                await store.add_callback(other, actor="test")
            claimed = sorted(await store.claim_due(owner, now=T0, limit=10, lease=LEASE), key=lambda c: c.due_at)
            for n, other in enumerate(claimed):  # the one that fell due first joins the agent's queue first
                await store.wait(other, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=T0 + LEASE,
                                 now=T0 + timedelta(seconds=n), actor="dialer", assigned_agent=agent)
            first, second = waiting[1], waiting[0]
            ended_at = T0 + timedelta(seconds=20)
            await end(store, callback, attempt_id, owner=owner, agent=agent, now=ended_at,
                      wrap_up_until=ended_at + wrap_up)
            due = (await store.get_callback(first.id)).due_at  # type: ignore[union-attr]
            assert due == (T0 + LEASE if wrap_up else first.due_at - timedelta(milliseconds=1))
            assert (await store.get_callback(second.id)).due_at == T0 + LEASE  # type: ignore[union-attr]
            for c in (callback, *waiting):
                await store.transition(c.id, expected=(await store.get_callback(c.id)).state,  # type: ignore[union-attr]
                                       to=CallbackState.CANCELLED, reason=Reason.CANCELLED, now=ended_at, actor="t")

    async def test_an_end_moves_only_a_callback_still_leased_to_the_caller(self, store: Store) -> None:
        await add_agent(store)
        callback, attempt_id, owner = await live_call(store)
        assert await store.return_lease(callback.id, owner=owner, due_at=T0 + LEASE) is True
        ended = await end(store, callback, attempt_id, owner=owner, now=T0 + 10 * LEASE, dial_status="")
        assert (ended.finished, ended.callback) == (True, None)
        assert (await store.get_callback(callback.id)).state is CallbackState.IN_PROGRESS
        [attempt] = await store.attempts(callback.id)
        assert (attempt.ended_at, attempt.dial_status, attempt.result_at) == (T0 + 10 * LEASE, "", None)
        assert (await store.get_agent("1001")).wrap_up_until == T0 + 10 * LEASE

    async def test_a_disposition_is_taken_in_wrap_up_from_the_agent_who_had_the_call(self, store: Store) -> None:
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        callback, attempt_id, owner = await live_call(store)
        new_start = T0 + timedelta(days=1)
        assert await store.set_disposition(callback.id, CompletionStatus.HANDLED) is False  # not in wrap-up yet
        assert await store.record_result(attempt_id, agent_id="1001", heard_at=T0, dial_status="ANSWER",
                                         hangup_cause=16, amd_status="", wrap_up_until=T0 + LEASE, status=CompletionStatus.HANDLED)
        assert await store.set_disposition(callback.id, CompletionStatus.CALLBACK_REQUESTED, new_start,
                                           agent_id="1002") is False
        assert await store.set_disposition(callback.id, CompletionStatus.CALLBACK_REQUESTED, new_start,
                                           agent_id="1001") is True
        assert await store.take_disposition(attempt_id) == (CompletionStatus.CALLBACK_REQUESTED, new_start, None)
        [attempt] = await store.attempts(callback.id)
        assert (attempt.interaction_state, attempt.ended_at) == (InteractionState.ENDED, None)
        assert await store.set_disposition(callback.id, CompletionStatus.HANDLED) is False  # the take closed it
        await store.set_attempt_states({attempt_id: InteractionState.WRAP_UP})  # and nothing reopens it
        assert (await store.attempts(callback.id))[0].interaction_state is InteractionState.ENDED
        await end(store, callback, attempt_id, owner=owner, now=T0 + LEASE)
        assert await store.take_disposition(attempt_id) is None
        assert await store.take_disposition(uuid.uuid4()) is None
        # A wrap-up that ends without a disposition.
        other, other_attempt, _ = await live_call(store, make_callback(T0 + LEASE, destination="+442079460013"),
                                                  agent="1002", now=T0 + LEASE)
        await store.record_result(other_attempt, agent_id="1002", heard_at=T0 + LEASE, dial_status="ANSWER",
                                  hangup_cause=16, amd_status="", wrap_up_until=T0 + 2 * LEASE, status=CompletionStatus.HANDLED)
        assert await store.take_disposition(other_attempt) is None
        assert await store.set_disposition(other.id, CompletionStatus.HANDLED) is False

    async def test_the_line_result_limits_the_dispositions_and_one_may_name_the_agent(self, store: Store) -> None:
        """Seed 002: after no answer or busy, the same options except Cancel (and no "handled"); callback
        requested "for a particular agent & date/time" makes it that agent's callback."""
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        callback, attempt_id, owner = await live_call(store, make_callback(type=CallbackType.TEAM, team_id="blue"))
        assert await store.record_result(attempt_id, agent_id="1001", heard_at=T0, dial_status="BUSY",
                                         hangup_cause=17, amd_status="", wrap_up_until=T0 + LEASE,
                                         status=CompletionStatus.BUSY)
        assert await store.set_disposition(callback.id, CompletionStatus.HANDLED) is False
        assert await store.set_disposition(callback.id, CompletionStatus.ANSWERING_MACHINE) is False
        assert await store.set_disposition(callback.id, CompletionStatus.NO_ANSWER) is True
        new_start = T0 + timedelta(days=1)
        assert await store.set_disposition(callback.id, CompletionStatus.CALLBACK_REQUESTED, new_start,
                                           new_agent="1002") is True
        assert await store.take_disposition(attempt_id) == (CompletionStatus.CALLBACK_REQUESTED, new_start, "1002")
        live = await store.get_callback(callback.id)
        step = after_disposition(live, Queue("sales", "Sales").settings, CompletionStatus.CALLBACK_REQUESTED,
                                 now=T0 + LEASE, new_start=new_start, new_agent="1002", result=CompletionStatus.BUSY)
        ended = await store.end_attempt(attempt_id, agent_id="1001", owner=owner, now=T0 + LEASE,
                                        wrap_up_until=T0 + LEASE, step=step, dial_status="BUSY", hangup_cause=17,
                                        amd_status="", actor="dialer")
        assert (ended.callback.type, ended.callback.agent_id, ended.callback.team_id) == (CallbackType.AGENT, "1002",
                                                                                         None)
        assert (ended.callback.state, ended.callback.due_at) == (CallbackState.SCHEDULED, new_start)

    async def test_call_now_by_an_agent_lasts_until_the_callback_is_in_a_call(self, store: Store) -> None:
        await add_agent(store)
        callback = make_callback()
        await store.add_callback(callback, actor="test")
        pressed = await store.transition(callback.id, expected=CallbackState.SCHEDULED, to=CallbackState.QUEUED,
                                         reason=Reason.CALL_NOW, now=T0, actor="agent:1001", due_at=T0,
                                         call_now_agent="1001")
        assert pressed is not None and pressed.call_now_agent == "1001"
        owner = uuid.uuid4()
        [claimed] = await store.claim_due(owner, now=T0, limit=10, lease=LEASE)
        assert claimed.call_now_agent == "1001"
        started = await start(store, claimed, owner=owner, now=T0)
        assert started.callback is not None and started.callback.call_now_agent is None
        assert (await store.get_callback(callback.id)).call_now_agent is None

    async def test_the_wait_for_a_named_agent_is_kept_through_quick_retries_and_renewed_by_a_real_one(
            self, store: Store) -> None:
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        callback = make_callback(type=CallbackType.AGENT, agent_id="1001")
        await store.add_callback(callback, actor="test")
        owner = uuid.uuid4()

        async def wait_for(agent: str, now: datetime) -> Callback:
            [queued] = await store.claim_due(owner, now=now, limit=1, lease=LEASE)
            return await store.wait(queued, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=now, now=now,
                                    actor="dialer", assigned_agent=agent)

        assert (await wait_for("1001", T0)).agent_wait_since == T0  # its named agent: the wait begins
        assert (await wait_for("1001", T0 + LEASE)).agent_wait_since == T0  # the first wait counts
        assert (await wait_for("1002", T0 + 2 * LEASE)).agent_wait_since == T0  # fell back: another's queue
        # The fallback agent missed the offer (cancel, not counted): it stays with the queue.
        live, attempt_id, _ = await live_call(store, callback, agent="1002", now=T0 + 3 * LEASE, owner=owner)
        missed = after_attempt(live, Queue("sales", "Sales").settings, CompletionStatus.CANCEL, now=T0 + 3 * LEASE,
                               agent_missed=True)
        ended = await store.end_attempt(attempt_id, agent_id="1002", owner=owner, now=T0 + 3 * LEASE,
                                        wrap_up_until=T0 + 3 * LEASE, step=missed, dial_status="", hangup_cause=0,
                                        amd_status="", actor="dialer")
        assert ended.callback.agent_wait_since == T0
        # A real try (the customer did not answer): the next turn tries the named agent again.
        live, attempt_id, _ = await live_call(store, callback, agent="1002", now=T0 + 4 * LEASE, owner=owner)
        ended = await end(store, live, attempt_id, owner=owner, agent="1002", now=T0 + 4 * LEASE,
                          status=CompletionStatus.NO_ANSWER, dial_status="NOANSWER")
        assert ended.callback.agent_wait_since is None
        # A person's edit starts it afresh too, and forgets an agent's Call Now.
        due = ended.callback.due_at
        [queued] = await store.claim_due(owner, now=due, limit=1, lease=LEASE)
        waiting = await store.wait(queued, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=due, now=due,
                                   actor="dialer", assigned_agent="1001")
        pressed = await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.QUEUED,
                                         reason=Reason.CALL_NOW, now=due, actor="agent:1002", due_at=due,
                                         call_now_agent="1002")
        assert (pressed.agent_wait_since, pressed.call_now_agent) == (due, "1002")
        edited = await store.edit_callback(pressed, dataclasses.replace(pressed, remark="later"), now=due,
                                           actor="test")
        assert (edited.agent_wait_since, edited.call_now_agent, edited.assigned_agent) == (None, None, None)
        assert waiting is not None

    async def test_a_call_now_can_be_given_to_nobody_again(self, store: Store) -> None:
        callback = make_callback()
        await store.add_callback(callback, actor="test")
        await add_agent(store)
        pressed = await store.transition(callback.id, expected=CallbackState.SCHEDULED, to=CallbackState.QUEUED,
                                         reason=Reason.CALL_NOW, now=T0, actor="agent:1001", call_now_agent="1001")
        assert pressed.call_now_agent == "1001"
        kept = await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.QUEUED,
                                      reason=Reason.DIAL_SLOT_UNAVAILABLE, now=T0, actor="dialer")
        assert kept.call_now_agent == "1001"  # unchanged unless named
        steered = await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.QUEUED,
                                         reason=Reason.CALL_NOW, now=T0, actor="supervisor", call_now_agent=None)
        assert steered.call_now_agent is None

    async def test_a_wait_hands_the_lease_back_and_is_audited_once_per_change(self, store: Store) -> None:
        await add_agent(store)
        callback = make_callback(type=CallbackType.AGENT, agent_id="1001")
        await store.add_callback(callback, actor="test")
        owner = uuid.uuid4()
        [queued] = await store.claim_due(owner, now=T0, limit=1, lease=LEASE)
        assert await store.wait(queued, owner=uuid.uuid4(), reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=T0, now=T0,
                                actor="dialer") is None
        assert await store.release_leases(owner, now=T0) == 1
        lines = len(await store.history(callback.id))
        for i, agent in enumerate((None, None, "1001", "1001")):
            now = T0 + timedelta(seconds=i)
            [queued] = await store.claim_due(owner, now=now, limit=1, lease=LEASE)
            kept = await store.wait(queued, owner=owner, reason=Reason.DIAL_SLOT_UNAVAILABLE, due_at=now + LEASE,
                                    now=now, actor="dialer", **({"assigned_agent": agent} if agent else {}))
            assert (kept.state, kept.reason, kept.due_at, kept.assigned_agent) == (
                CallbackState.QUEUED, Reason.DIAL_SLOT_UNAVAILABLE, now + LEASE, agent)
            # Not ours any more: the lease went back with the wait.
            assert await store.wait(kept, owner=owner, reason=Reason.POSTPONED, due_at=now, now=now,
                                    actor="dialer") is None
            assert await store.claim_due(owner, now=now, limit=1, lease=LEASE) == []
            await store.transition(callback.id, expected=CallbackState.QUEUED, to=CallbackState.QUEUED,
                                   reason=Reason.DIAL_SLOT_UNAVAILABLE, now=now, actor="test", due_at=now)
        history = (await store.history(callback.id))[lines:]
        waits = [h for h in history if h.actor == "dialer"]
        assert [(h.at, h.reason, h.due_at) for h in waits] == [
            (T0, Reason.DIAL_SLOT_UNAVAILABLE, T0 + LEASE), (T0 + timedelta(seconds=2), Reason.DIAL_SLOT_UNAVAILABLE,
                                                             T0 + timedelta(seconds=2) + LEASE)]
        assert (await store.get_agent("1001")).waiting == ((callback.id, CallbackType.AGENT),)

    async def test_a_lease_handed_back_makes_the_call_due_for_a_takeover(self, store: Store) -> None:
        await add_agent(store)
        callback, _, owner = await live_call(store)
        due = T0 + timedelta(seconds=5)
        assert await store.return_lease(callback.id, owner=uuid.uuid4(), due_at=due) is False
        assert await store.return_lease(callback.id, owner=owner, due_at=due) is True
        assert await store.return_lease(callback.id, owner=owner, due_at=due) is False
        assert await store.extend_leases(owner, now=T0, lease=LEASE) == 0
        [taken] = await store.claim_due(uuid.uuid4(), now=due, limit=1, lease=LEASE)
        assert (taken.id, taken.state) == (callback.id, CallbackState.IN_PROGRESS)
        queued = make_callback(due, destination="+442079460013")
        await store.add_callback(queued, actor="test")
        await store.claim_due(owner, now=due, limit=1, lease=LEASE)
        assert await store.return_lease(queued.id, owner=owner, due_at=due) is False  # queued: not a call

    async def test_the_heartbeat_extends_the_reservations_of_the_agents_on_held_calls(self, store: Store) -> None:
        for agent in ("1001", "1002"):
            await add_agent(store, agent)
        held, held_attempt, owner = await live_call(store)
        await live_call(store, make_callback(destination="+442079460013"), agent="1002", owner=owner)
        beat = T0 + timedelta(seconds=50)
        assert await store.extend_leases(owner, now=beat, lease=LEASE, holding=[held.id]) == 1
        assert (await store.get_agent("1001")).reserved_until == beat + 2 * LEASE
        assert (await store.get_agent("1002")).reserved_until == T0 + 2 * LEASE
        assert await store.extend_leases(owner, now=T0, lease=LEASE) == 2  # the later reservation stands
        assert (await store.get_agent("1001")).reserved_until == beat + 2 * LEASE
        assert (await store.get_agent("1002")).reserved_until == T0 + 2 * LEASE
        await store.release_agent("1001", uuid.uuid4(), wrap_up_until=beat)
        assert (await store.get_agent("1001")).reserved_until == beat + 2 * LEASE
        await store.release_agent("1001", held_attempt, wrap_up_until=beat)
        agent = await store.get_agent("1001")
        assert (agent.reserved_until, agent.wrap_up_until, agent.idle_since) == (None, beat, beat)
