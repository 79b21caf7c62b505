"""The agents' calls' conformance suite: one row per caller channel however often it is heard (two dialer
processes hear every event), merged as the port says; the agent's last few kept; an agent's older open call
ended by its next; the reconcile ends only the calls that are gone."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

from cbdialer.ports.calls import AgentCall
from tests.support.contracts.common import T0, Store, add_agent


def make_call(uniqueid: str = "1796185773.3", *, agent: str = "1001", at: Any = T0, **changes: Any) -> AgentCall:
    values: dict[str, Any] = dict(id=uuid.uuid4(), caller_uniqueid=uniqueid, agent_id=agent,
                                  asterisk_queue="cbdialer-sandbox", queue_id="sales", caller_number="+441632960123",
                                  caller_name="Customer", withheld=False, answered_at=at, ended_at=None,
                                  member_uniqueid=f"{uniqueid}-member")
    values.update(changes)
    return AgentCall(**values)


class AgentCallContract:
    async def test_a_call_heard_twice_is_one_row_and_its_end_merges_in(self, store: Store) -> None:
        await add_agent(store, "1001")
        first = make_call()
        assert await store.record_agent_call(first) == first
        # The other process's hearing of the same AgentConnect: its own id and a later clock change nothing.
        again = make_call(at=T0 + timedelta(seconds=1))
        assert await store.record_agent_call(again) == first
        # AgentComplete: the end merges in, the first one heard stays.
        ended = await store.record_agent_call(make_call(at=T0 - timedelta(seconds=5),
                                                        ended_at=T0 + timedelta(minutes=3)))
        assert ended == dataclasses.replace(first, ended_at=T0 + timedelta(minutes=3))
        later = await store.record_agent_call(make_call(ended_at=T0 + timedelta(minutes=4)))
        assert later is not None and later.ended_at == T0 + timedelta(minutes=3)
        assert await store.agent_calls("1001") == [ended]
        assert await store.agent_call("1001", first.id) == ended
        assert await store.agent_call("1002", first.id) is None
        assert await store.agent_call("1001", uuid.uuid4()) is None

    async def test_an_end_heard_without_its_answer_is_kept_ended(self, store: Store) -> None:
        await add_agent(store, "1001")
        call = make_call(ended_at=T0 + timedelta(minutes=1))
        assert await store.record_agent_call(call) == call
        assert await store.agent_calls("1001") == [call]

    async def test_withheld_once_is_withheld_for_good_and_the_number_is_not_kept(self, store: Store) -> None:
        await add_agent(store, "1001")
        shown = await store.record_agent_call(make_call())
        assert shown is not None and not shown.withheld and shown.caller_number == "+441632960123"
        # The process that heard the hook's presentation knows better.
        hidden = await store.record_agent_call(make_call(withheld=True))
        assert hidden is not None and hidden.withheld and hidden.caller_number == ""
        # A process that did not hear it cannot undo that.
        still = await store.record_agent_call(make_call(withheld=False, ended_at=T0 + timedelta(minutes=1)))
        assert still is not None and still.withheld and still.caller_number == ""
        fresh = await store.record_agent_call(make_call("2.1", withheld=True))
        assert fresh is not None and fresh.caller_number == ""

    async def test_an_agents_next_call_ends_its_open_one(self, store: Store) -> None:
        await add_agent(store, "1001")
        await add_agent(store, "1002")
        old = await store.record_agent_call(make_call("1.1"))
        other_agent = await store.record_agent_call(make_call("1.2", agent="1002"))
        new = await store.record_agent_call(make_call("1.3", at=T0 + timedelta(minutes=5)))
        assert old is not None and other_agent is not None and new is not None
        calls = await store.agent_calls("1001")
        assert [c.caller_uniqueid for c in calls] == ["1.3", "1.1"]
        assert calls[0].ended_at is None and calls[1].ended_at == T0 + timedelta(minutes=5)
        assert (await store.agent_calls("1002"))[0].ended_at is None  # another agent's call is its own
        # Hearing the older call again (the other process, late) does not end the newer one.
        await store.record_agent_call(make_call("1.1"))
        assert (await store.agent_calls("1001"))[0].ended_at is None

    async def test_only_the_last_calls_of_each_agent_are_kept(self, store: Store) -> None:
        await add_agent(store, "1001")
        await add_agent(store, "1002")
        await store.record_agent_call(make_call("9.0", agent="1002"))
        for n in range(5):
            await store.record_agent_call(make_call(f"1.{n}", at=T0 + timedelta(minutes=n),
                                                    ended_at=T0 + timedelta(minutes=n, seconds=30)), keep=3)
        assert [c.caller_uniqueid for c in await store.agent_calls("1001")] == ["1.4", "1.3", "1.2"]
        assert [c.caller_uniqueid for c in await store.agent_calls("1001", limit=2)] == ["1.4", "1.3"]
        assert len(await store.agent_calls("1002")) == 1
        # Heard again after it was pruned: written anew, then pruned again (it is older than the ones kept).
        await store.record_agent_call(make_call("1.0", ended_at=T0 + timedelta(seconds=30)), keep=3)
        assert [c.caller_uniqueid for c in await store.agent_calls("1001")] == ["1.4", "1.3", "1.2"]

    async def test_the_reconcile_ends_only_the_calls_gone_before_the_channels_were_read(self, store: Store) -> None:
        await add_agent(store, "1001")
        await add_agent(store, "1002")
        await add_agent(store, "1003")
        await store.record_agent_call(make_call("1.1", agent="1001"))  # its channel is gone
        await store.record_agent_call(make_call("1.2", agent="1002"))  # still live
        await store.record_agent_call(make_call("1.3", agent="1003", at=T0 + timedelta(seconds=10)))  # answered since
        done = await store.record_agent_call(make_call("1.4", agent="1001", at=T0 - timedelta(minutes=9),
                                                       ended_at=T0 - timedelta(minutes=8)))
        now = T0 + timedelta(seconds=20)
        assert await store.end_agent_calls(live={"1.2"}, answered_before=T0 + timedelta(seconds=5), now=now) == 1
        assert (await store.agent_calls("1001"))[0].ended_at == now
        assert (await store.agent_calls("1001"))[1] == done  # an end on record stays
        assert (await store.agent_calls("1002"))[0].ended_at is None
        assert (await store.agent_calls("1003"))[0].ended_at is None
        assert await store.end_agent_calls(live=set(), answered_before=T0 + timedelta(seconds=5), now=now) == 1

    async def test_a_call_of_an_agent_or_queue_that_does_not_exist_is_not_kept(self, store: Store) -> None:
        await add_agent(store, "1001")
        assert await store.record_agent_call(make_call(agent="nobody")) is None
        assert await store.record_agent_call(make_call("2.2", queue_id="no-such-queue")) is None
        assert await store.record_agent_call(make_call("2.3", queue_id=None)) is not None
        assert [c.caller_uniqueid for c in await store.agent_calls("1001")] == ["2.3"]
        assert await store.agent_calls("nobody") == []
