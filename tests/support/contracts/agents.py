"""The agents' and teams' conformance suite: agents with their memberships, readiness, each agent's own
callback queue and callback panel; teams; which queues and teams are missing."""

from __future__ import annotations

from datetime import timedelta

from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Agent, CallbackType, Queue, Team
from cbdialer.ports import AgentRecord
from tests.support.contracts.common import T0, Store, add_agent, make_callback


class AgentContract:
    async def test_an_agent_is_created_once_and_updated_with_its_memberships(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        for team in (Team("blue", "Blue"), Team("red", "Red")):
            await store.save_team(team)
        agent = Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"}),
                      skills=frozenset({"fr"}), teams=frozenset({"blue"}))
        assert await store.upsert_agent(agent, create_only=True) is True
        assert await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/other"), create_only=True) is False
        assert await store.get_agent("1001") == AgentRecord(agent=agent, ready=True, wrap_up_until=None,
                                                            reserved_until=None, idle_since=None, waiting=())
        assert await store.set_agent_ready("1001", False) is True
        moved = Agent(id="1001", dial_string="PJSIP/agent-1001b", queues=frozenset({"support"}),
                      skills=frozenset({"en", "fr"}), teams=frozenset({"red", "blue"}))
        assert await store.upsert_agent(moved) is True
        record = await store.get_agent("1001")
        assert (record.agent, record.ready) == (moved, False)  # readiness is not the directory's to change
        assert await store.get_agent("nobody") is None
        assert await store.set_agent_ready("nobody", True) is False

    async def test_agents_are_listed_by_id_and_by_queue(self, store: Store) -> None:
        await store.save_queue(Queue(id="support", name="Support"))
        await add_agent(store, "1002")
        await add_agent(store, "1001", queues=frozenset({"sales", "support"}))
        await add_agent(store, "1003", queues=frozenset({"support"}))
        assert [r.agent.id for r in await store.agents()] == ["1001", "1002", "1003"]
        assert [r.agent.id for r in await store.agents_of_queue("sales")] == ["1001", "1002"]
        assert [r.agent.id for r in await store.agents_of_queue("support")] == ["1001", "1003"]
        assert await store.agents_of_queue("nobody") == []
        assert (await store.agents())[0].agent.queues == frozenset({"sales", "support"})

    async def test_teams_and_what_is_missing(self, store: Store) -> None:
        await store.save_team(Team("red", "Red"))
        await store.save_team(Team("blue", "Blue"))
        await store.save_team(Team("red", "Crimson"))
        assert await store.teams() == [Team("blue", "Blue"), Team("red", "Crimson")]
        assert await store.get_team("red") == Team("red", "Crimson")
        assert await store.get_team("green") is None
        assert await store.missing("queues", ["sales", "nope", "nope", "aaa"]) == ["aaa", "nope"]
        assert await store.missing("teams", ["blue", "green"]) == ["green"]
        assert await store.missing("teams", []) == []

    async def test_an_agents_own_callback_queue_keeps_the_order_callbacks_joined_it(self, store: Store) -> None:
        await add_agent(store, "1001")
        await add_agent(store, "1002")
        first, second, third = (make_callback(T0 + timedelta(hours=1), type=kind, agent_id=agent)
                                for kind, agent in ((CallbackType.STANDARD, None), (CallbackType.AGENT, "1001"),
                                                    (CallbackType.STANDARD, None)))
        for c in (third, second, first):
            await store.add_callback(c, actor="test")

        async def join(c: object, agent: str | None, seconds: int) -> None:
            assert await store.transition(c.id, expected=CallbackState.SCHEDULED,  # type: ignore[attr-defined]
                                          to=CallbackState.SCHEDULED, reason=Reason.POSTPONED,
                                          now=T0 + timedelta(seconds=seconds), actor="dialer",
                                          assigned_agent=agent) is not None

        async def waiting(agent: str) -> tuple[object, ...]:
            return (await store.get_agent(agent)).waiting

        for seconds, c in enumerate((first, second, third)):
            await join(c, "1001", seconds)
        assert await waiting("1001") == ((first.id, CallbackType.STANDARD), (second.id, CallbackType.AGENT),
                                         (third.id, CallbackType.STANDARD))
        await join(first, "1001", 10)  # it stays with the same agent: it keeps its place
        await store.transition(third.id, expected=CallbackState.SCHEDULED, to=CallbackState.SCHEDULED,
                               reason=Reason.POSTPONED, now=T0, actor="dialer")  # the agent left unchanged
        assert [i for i, _ in await waiting("1001")] == [first.id, second.id, third.id]
        await join(second, None, 11)
        await join(third, "1002", 12)
        assert [i for i, _ in await waiting("1001")] == [first.id]
        assert [i for i, _ in await waiting("1002")] == [third.id]
        await store.transition(first.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                               reason=Reason.CANCELLED, now=T0, actor="test")
        assert await waiting("1001") == ()
        assert [r.waiting for r in await store.agents()] == [(), ((third.id, CallbackType.STANDARD),)]

    async def test_the_agent_panel_shows_what_waits_for_the_agent_soonest_first(self, store: Store) -> None:
        meant = make_callback(T0 + timedelta(hours=3), type=CallbackType.AGENT, agent_id="1001")
        joined = make_callback(T0 + timedelta(hours=1))
        created = make_callback(T0 + timedelta(hours=2), type=CallbackType.STRICT_AGENT, agent_id="1002",
                                created_by="1001")
        created_for_the_queue = make_callback(created_by="1001")
        someone_elses = make_callback(type=CallbackType.AGENT, agent_id="1002")
        done = make_callback(type=CallbackType.AGENT, agent_id="1001")
        for c in (meant, joined, created, created_for_the_queue, someone_elses, done):
            await store.add_callback(c, actor="test")
        await store.transition(joined.id, expected=CallbackState.SCHEDULED, to=CallbackState.SCHEDULED,
                               reason=Reason.POSTPONED, now=T0, actor="dialer", assigned_agent="1001")
        await store.transition(done.id, expected=CallbackState.SCHEDULED, to=CallbackState.CANCELLED,
                               reason=Reason.CANCELLED, now=T0, actor="test")
        pending, panel = await store.agent_panel("1001", 10)
        assert (pending, [c.id for c in panel]) == (3, [joined.id, created.id, meant.id])
        assert panel[0] == await store.get_callback(joined.id)
        pending, panel = await store.agent_panel("1001", 1)
        assert (pending, [c.id for c in panel]) == (3, [joined.id])
        assert await store.agent_panel("1003", 10) == (0, [])
