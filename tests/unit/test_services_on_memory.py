"""The admin service over the in-memory store: queues, agents, callbacks (created, searched, edited, cancelled,
overwritten) and reports, end to end without PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cbdialer.adapters.memory import MemoryStore
from cbdialer.domain.access import Principal, Role
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import Agent, CallbackType, InvalidValue, QueueStatus, Team
from cbdialer.ports import CallbackQuery
from cbdialer.services import Admin, Conflict, queue_status

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday
STAFF = Principal(token_id=uuid.uuid4(), role=Role.ADMIN)  # it creates agents: an admin's (issue 11)
NUMBER = "+442079460012"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def admin(clock: Clock) -> Admin:
    service = Admin(MemoryStore(clock), clock)
    await service.queues.create_queue(STAFF, id="sales", name="Sales", settings={"max_concurrent_calls": 3},
                                      skills=frozenset({"fr"}))
    await service.agents.save_team(STAFF, Team("blue", "Blue"), create=True)
    await service.agents.create_agent(STAFF, Agent(id="1001", dial_string="PJSIP/agent-1001",
                                                   queues=frozenset({"sales"}), teams=frozenset({"blue"})))
    return service


async def test_queues_are_created_once_listed_and_stopped(admin: Admin) -> None:
    with pytest.raises(Conflict):
        await admin.queues.create_queue(STAFF, id="sales", name="Again", settings={}, skills=frozenset())
    await admin.queues.create_queue(STAFF, id="support", name=None, settings={"wrap_up_time": 30},
                                    skills=frozenset())
    assert [(q.id, q.name) for q in await admin.queues.queues(STAFF)] == [("sales", "Sales"), ("support", "support")]
    assert (await admin.queues.queue(STAFF, "sales")).settings.max_concurrent_calls == 3
    callback, _ = await admin.callbacks.create_callback(STAFF, queue="sales", destination=NUMBER,
                                                        type=CallbackType.STANDARD, start_in=600)
    queue, moved = await admin.queues.run_queue(STAFF, "sales", False)
    assert (queue.status, moved) == (QueueStatus.STOPPED, 1)
    assert (await admin.callbacks.callback(STAFF, callback.id)).state is CallbackState.WAITING_FOR_QUEUE
    metrics = await admin.monitor.row(STAFF, "sales")
    assert (metrics["status"], metrics["to_be_processed"], metrics["processed"]) == ("stopped", 1, 0)
    assert [(r["queue"], r["status"]) for r in await admin.monitor.rows(STAFF)] == [
        ("sales", "stopped"), ("support", queue_status(await admin.queues.queue(STAFF, "support"), admin.clock()).value)]


async def test_an_agent_is_created_once_and_its_token_names_it_with_its_teams(admin: Admin) -> None:
    with pytest.raises(Conflict):
        await admin.agents.create_agent(STAFF, Agent(id="1001", dial_string="PJSIP/other"))
    with pytest.raises(InvalidValue):
        await admin.agents.create_agent(STAFF, Agent(id="1002", dial_string="PJSIP/agent-1002",
                                                     queues=frozenset({"nowhere"})))
    assert [r.agent.id for r in await admin.agents.agents(STAFF)] == ["1001"]
    token = await admin.tokens.issue_token(Role.AGENT, "1001")
    me = await admin.tokens.authenticate(token)
    assert me is not None and (me.role, me.agent_id, me.teams) == (Role.AGENT, "1001", frozenset({"blue"}))
    assert [(t["role"], t["agent_id"]) for t in await admin.tokens.tokens()] == [("agent", "1001")]


async def test_a_callback_is_created_searched_edited_and_cancelled(admin: Admin, clock: Clock) -> None:
    callback, made = await admin.callbacks.create_callback(STAFF, queue="sales", destination=NUMBER,
                                                           type=CallbackType.AGENT, agent="1001", start_in=600,
                                                           remark="asked for the manager")
    assert made and (callback.state, callback.due_at, callback.agent_id) == (
        CallbackState.SCHEDULED, NOW + timedelta(seconds=600), "1001")
    queued, _ = await admin.callbacks.create_callback(STAFF, queue="sales", destination="+442079460013",
                                                      type=CallbackType.STANDARD, start_in=60)
    found = await admin.callbacks.search(STAFF, CallbackQuery(destination=NUMBER), limit=10)
    assert [c.id for c in found] == [callback.id]
    agent = await admin.tokens.authenticate(await admin.tokens.issue_token(Role.AGENT, "1001"))
    assert agent is not None
    # Its own, and the queue's standard callbacks of a queue it serves (issue 11).
    assert {c.id for c in await admin.callbacks.search(agent, CallbackQuery(), limit=10)} == {callback.id, queued.id}
    clock.now = NOW + timedelta(minutes=1)
    edited = await admin.callbacks.edit_callback(STAFF, callback.id, {"start_in": 3600, "remark": "after lunch"})
    assert (edited.reason, edited.due_at, edited.remark) == (Reason.RESCHEDULED, clock.now + timedelta(hours=1),
                                                             "after lunch")
    cancelled = await admin.callbacks.cancel(STAFF, callback.id)
    assert cancelled.state is CallbackState.CANCELLED
    with pytest.raises(Conflict):
        await admin.callbacks.cancel(STAFF, callback.id)
    history = await admin.callbacks.history(STAFF, callback.id)
    assert [(h.to_state, h.reason, h.actor) for h in history] == [
        (CallbackState.SCHEDULED, Reason.CREATED, STAFF.actor), (CallbackState.SCHEDULED, Reason.RESCHEDULED,
                                                                 STAFF.actor),
        (CallbackState.CANCELLED, Reason.CANCELLED, STAFF.actor)]


async def test_a_new_callback_for_the_contact_overwrites_the_waiting_one(admin: Admin) -> None:
    first, _ = await admin.callbacks.create_callback(STAFF, queue="sales", destination=NUMBER,
                                                     type=CallbackType.STANDARD, start_in=600)
    second, _ = await admin.callbacks.create_callback(STAFF, queue="sales", destination=NUMBER,
                                                      type=CallbackType.STANDARD, start_in=60)
    assert (await admin.callbacks.callback(STAFF, first.id)).state is CallbackState.OVERWRITTEN
    assert (await admin.callbacks.callback(STAFF, second.id)).state is CallbackState.SCHEDULED


async def test_a_retried_create_returns_the_first_callback(admin: Admin) -> None:
    first, made = await admin.callbacks.create_callback(STAFF, queue="sales", destination=NUMBER,
                                                        type=CallbackType.STANDARD, start_in=600,
                                                        idempotency=("key-1", "request-a"))
    again, made_again = await admin.callbacks.create_callback(STAFF, queue="sales", destination=NUMBER,
                                                              type=CallbackType.STANDARD, start_in=600,
                                                              idempotency=("key-1", "request-a"))
    assert (made, made_again, again.id) == (True, False, first.id)
    assert len(await admin.callbacks.search(STAFF, CallbackQuery(), limit=10)) == 1


async def test_the_reports_show_what_was_scheduled_and_what_ended(admin: Admin, clock: Clock) -> None:
    kept, _ = await admin.callbacks.create_callback(STAFF, queue="sales", destination=NUMBER,
                                                    type=CallbackType.AGENT, agent="1001", start_in=600,
                                                    created_by="1001")
    clock.now = NOW + timedelta(seconds=1)  # the report lists by creation time
    dropped, _ = await admin.callbacks.create_callback(STAFF, queue="sales", destination="+442079460013",
                                                       type=CallbackType.STANDARD, start_in=600)
    clock.now = NOW + timedelta(minutes=5)
    await admin.callbacks.cancel(STAFF, dropped.id)
    clock.now = NOW + timedelta(hours=1)
    scheduled = await admin.reports.scheduled_report(STAFF)
    assert scheduled["total_records"] == 2
    assert [(r["callback_id"], r["callback_status"], r["created_for"], r["campaign_name"])
            for r in scheduled["records"]] == [
        (str(kept.id), "Active", "1001", "Sales"), (str(dropped.id), "Cancelled", "Sales", "Sales")]
    assert [r["callback_id"] for r in (await admin.reports.scheduled_report(STAFF, agent="1001"))["records"]] == [
        str(kept.id)]
    completed = await admin.reports.completed_report(STAFF)
    assert [(r["callback_id"], r["end_interaction_state"], r["ended_at"], r["attempts"])
            for r in completed["records"]] == [(str(dropped.id), "Cancelled", NOW + timedelta(minutes=5), [])]
    figures = await admin.reports.book_figures()
    assert figures["callbacks"] == [("sales", "scheduled", 1)]
