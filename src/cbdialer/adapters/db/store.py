"""The callback book in PostgreSQL: the CallbackStore port over asyncpg. Rule: every state change is one
guarded statement that also writes its audit line, so the two can never disagree."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from cbdialer.domain.codec import settings_from_dict, settings_to_dict
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    Agent,
    Attempt,
    Callback,
    CallbackType,
    CompletionStatus,
    InteractionState,
    Queue,
    QueueStatus,
    Team,
)
from cbdialer.domain.access import Principal, Role
from cbdialer.domain.outcomes import NextStep
from cbdialer.ports import (
    UNCHANGED,
    AgentRecord,
    CallbackQuery,
    Ended,
    IdempotencyConflict,
    StartOutcome,
    Started,
    StateChange,
    Unchanged,
)
from cbdialer.adapters.db.queries import load_queries
from cbdialer.adapters.db.errors import GuardedPool, guarded


def callback_from_row(row: asyncpg.Record) -> Callback:
    return Callback(
        id=row["id"],
        queue_id=row["queue_id"],
        destination=row["destination"],
        type=CallbackType(row["type"]),
        state=CallbackState(row["state"]),
        due_at=row["due_at"],
        start_at=row["start_at"],
        end_at=row["end_at"],
        created_at=row["created_at"],
        agent_id=row["agent_id"],
        team_id=row["team_id"],
        created_by=row["created_by"],
        customer_timezone=row["customer_timezone"],
        remark=row["remark"],
        attempts_count=row["attempts_count"],
        network_failures=row["network_failures"],
        strict_retries=row["strict_retries"],
        completion_status=CompletionStatus(row["completion_status"]) if row["completion_status"] else None,
        reason=Reason(row["reason"]),
        assigned_agent=row["assigned_agent"],
    )


def agent_record_from_row(row: asyncpg.Record) -> AgentRecord:
    return AgentRecord(
        agent=Agent(id=row["id"], dial_string=row["dial_string"], queues=frozenset(row["queues"]),
                    skills=frozenset(row["skills"]), teams=frozenset(row["teams"])),
        ready=row["ready"], wrap_up_until=row["wrap_up_until"], reserved_until=row["reserved_until"],
        idle_since=row["idle_since"],
        waiting=tuple((cid, CallbackType(t)) for cid, t in zip(row["waiting_ids"], row["waiting"], strict=True)))


def queue_from_row(row: asyncpg.Record) -> Queue:
    return Queue(id=row["id"], name=row["name"], status=QueueStatus(row["status"]),
                 settings=settings_from_dict(json.loads(row["settings"])), skills=frozenset(row["skills"]))


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool | GuardedPool) -> None:
        # Every statement goes through the guarded pool: a connection-level failure (PostgreSQL down,
        # restarting, the connection dropped) comes out as StoreUnavailable, anything else as it is.
        self._pool = guarded(pool)
        self._q = load_queries()

    async def _fetch(self, name: str, *args: Any) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await conn.fetch(self._q[name], *args)

    async def _value(self, name: str, *args: Any) -> Any:
        async with self._pool.acquire() as conn:
            return await conn.fetchval(self._q[name], *args)

    async def _execute(self, name: str, *args: Any) -> str:
        async with self._pool.acquire() as conn:
            return await conn.execute(self._q[name], *args)

    async def save_queue(self, queue: Queue) -> None:
        await self._execute("queue_upsert", queue.id, queue.name, queue.status.value,
                            json.dumps(settings_to_dict(queue.settings)), sorted(queue.skills))

    async def get_queue(self, queue_id: str) -> Queue | None:
        rows = await self._fetch("queue_get", queue_id)
        return queue_from_row(rows[0]) if rows else None

    async def add_callback(self, callback: Callback, *, actor: str) -> Callback:
        """Write a new callback as it is (overwriting nothing)."""
        return (await self.create_callback(callback, actor=actor))[0]

    async def get_callback(self, callback_id: UUID) -> Callback | None:
        rows = await self._fetch("callback_get", callback_id)
        return callback_from_row(rows[0]) if rows else None

    async def claim_due(self, owner: UUID, *, now: datetime, limit: int, lease: timedelta,
                        actor: str = "scheduler") -> list[Callback]:
        rows = await self._fetch("callbacks_claim_due", now, limit, owner, lease, actor)
        rows = sorted(rows, key=lambda r: (r["old_due_at"], r["id"]))
        return [callback_from_row(r) for r in rows]

    async def transition(self, callback_id: UUID, *, expected: CallbackState, to: CallbackState, reason: Reason,
                         now: datetime, actor: str, owner: UUID | None = None, due_at: datetime | None = None,
                         attempts_count: int | None = None, network_failures: int | None = None,
                         strict_retries: int | None = None, completion_status: CompletionStatus | None = None,
                         keep_lease: bool = False, assigned_agent: str | None | Unchanged = UNCHANGED,
                         end_at: datetime | None = None) -> Callback | None:
        change = not isinstance(assigned_agent, Unchanged)
        rows = await self._fetch(
            "callback_transition", callback_id, expected.value, to.value, reason.value, due_at, attempts_count,
            network_failures, strict_retries, completion_status.value if completion_status else None, keep_lease,
            now, owner, actor, change, assigned_agent if change else None, end_at)
        return callback_from_row(rows[0]) if rows else None

    async def extend_leases(self, owner: UUID, *, now: datetime, lease: timedelta,
                            holding: Collection[UUID] | None = None) -> int:
        """Extend this process's leases, and the reservations of the agents on its live calls; with `holding`,
        only those in-progress callbacks whose calls it holds."""
        held = sorted(holding) if holding is not None else None
        return int(await self._value("callbacks_extend_leases", owner, now, lease, held))

    async def release_leases(self, owner: UUID, *, now: datetime) -> int:
        return int((await self._execute("callbacks_release_leases", owner, now)).split()[-1])

    async def next_due_at(self) -> datetime | None:
        return await self._value("callbacks_next_due")

    async def history(self, callback_id: UUID) -> list[StateChange]:
        rows = await self._fetch("callback_history", callback_id)
        return [StateChange(at=r["at"], from_state=CallbackState(r["from_state"]) if r["from_state"] else None,
                            to_state=CallbackState(r["to_state"]), reason=Reason(r["reason"]), actor=r["actor"],
                            due_at=r["due_at"]) for r in rows]

    async def watch_rows(self, since: datetime, limit: int = 40) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._fetch("callbacks_watch", since, limit)]

    async def active_for_contact(self, destination: str, queue_id: str | None = None) -> list[Callback]:
        return [callback_from_row(r) for r in await self._fetch("callbacks_active_for_contact", destination, queue_id)]

    # -- the dialer's side: agents, reservations, attempts --------------------------------------------------

    async def upsert_agent(self, agent: Agent, *, create_only: bool = False) -> bool:
        """Save the agent with its queues and teams (which must exist). With `create_only`, False and
        nothing written if the agent exists already."""
        async with self._pool.acquire() as conn, conn.transaction():
            if create_only:
                if await conn.fetchval(self._q["agent_insert"], agent.id, agent.dial_string,
                                       sorted(agent.skills)) is None:
                    return False
            else:
                await conn.execute(self._q["agent_upsert"], agent.id, agent.dial_string, sorted(agent.skills))
            await conn.execute(self._q["agent_queues_remove_others"], agent.id, sorted(agent.queues))
            await conn.execute(self._q["agent_queues_add"], agent.id, sorted(agent.queues))
            await conn.execute(self._q["agent_teams_remove_others"], agent.id, sorted(agent.teams))
            await conn.execute(self._q["agent_teams_add"], agent.id, sorted(agent.teams))
        return True

    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]:
        return [agent_record_from_row(r) for r in await self._fetch("agents_of_queue", queue_id)]

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        rows = await self._fetch("agent_get", agent_id)
        return agent_record_from_row(rows[0]) if rows else None

    async def set_agent_ready(self, agent_id: str, ready: bool) -> bool:
        return await self._value("agent_set_ready", agent_id, ready) is not None

    async def release_agent(self, agent_id: str, attempt_id: UUID, *, wrap_up_until: datetime) -> None:
        await self._execute("agent_release", agent_id, attempt_id, wrap_up_until)

    async def start_attempt(self, callback: Callback, *, attempt_id: UUID, agent_id: str, owner: UUID,
                            now: datetime, lease: timedelta, reserve_until: datetime, actor: str,
                            max_calls: int, calls_per_second: float) -> Started:
        """Take a dial slot of the queue (across every process), reserve the agent until `reserve_until`,
        write the attempt and move the callback to in_progress, in one statement committed before anything is
        sent to Asterisk (DESIGN.md sections 4 and 8)."""
        rows = await self._fetch("attempt_start", callback.id, attempt_id, agent_id, owner, now, lease,
                                 reserve_until, actor, max_calls, calls_per_second)
        row = rows[0]
        return Started(outcome=StartOutcome(row["outcome"]),
                       callback=callback_from_row(row) if row["id"] is not None else None)

    async def record_result(self, attempt_id: UUID, *, agent_id: str, heard_at: datetime, dial_status: str,
                            hangup_cause: int, amd_status: str, wrap_up_until: datetime) -> bool:
        """The holder heard the line's result: on record at once, the attempt in wrap-up, the agent released
        into it (see attempt_record_result). False if the attempt had ended."""
        return bool(await self._fetch("attempt_record_result", attempt_id, heard_at, dial_status, hangup_cause,
                                      amd_status, agent_id, wrap_up_until))

    async def result_heard(self, attempt_id: UUID, *, heard_at: datetime, dial_status: str, hangup_cause: int,
                           amd_status: str) -> bool:
        """Record a result heard for an attempt this process does not hold; False if one was on record, or the
        attempt has ended (or is not cbdialer's)."""
        return await self._value("attempt_result_heard", attempt_id, heard_at, dial_status, hangup_cause,
                                 amd_status) is not None

    async def wait(self, callback: Callback, *, owner: UUID, reason: Reason, due_at: datetime, now: datetime,
                   actor: str, assigned_agent: str | None | Unchanged = UNCHANGED) -> Callback | None:
        """A due callback waits, still queued, until `due_at` (see callback_wait); None if it is not ours."""
        change = not isinstance(assigned_agent, Unchanged)
        rows = await self._fetch("callback_wait", callback.id, owner, reason.value, due_at, now, change,
                                 assigned_agent if change else None, actor)
        return callback_from_row(rows[0]) if rows else None

    async def return_lease(self, callback_id: UUID, *, owner: UUID, due_at: datetime) -> bool:
        """Hand back the lease of an in-progress callback whose line could not be seen; it falls due at `due_at`."""
        return await self._value("callback_lease_return", callback_id, owner, due_at) is not None

    async def set_attempt_states(self, states: Mapping[UUID, InteractionState]) -> None:
        """Move live attempts' interaction states forward, in one statement (see attempt_states)."""
        await self._execute("attempt_states", list(states), [state.value for state in states.values()])

    async def end_attempt(self, attempt_id: UUID, *, agent_id: str, owner: UUID, now: datetime,
                          wrap_up_until: datetime, step: NextStep, dial_status: str, hangup_cause: int,
                          amd_status: str, actor: str) -> Ended:
        """Record how the attempt ended and apply `step` to its callback, and free the agent, in one statement.
        Only the first end of an attempt counts (`Ended.finished` is False for any later one)."""
        rows = await self._fetch(
            "attempt_end", attempt_id, now, step.status.value, dial_status, hangup_cause, amd_status, step.counted,
            agent_id, wrap_up_until, owner, step.state.value, step.reason.value, step.due_at, step.attempts_count,
            step.network_failures, step.end_at, actor)
        row = rows[0]
        return Ended(finished=row["finished"], callback=callback_from_row(row) if row["id"] is not None else None)

    async def set_disposition(self, callback_id: UUID, disposition: CompletionStatus,
                              start: datetime | None = None, *, agent_id: str | None = None) -> bool:
        """The agent's disposition for the call of `callback_id` now in wrap-up (with `agent_id`: only if that
        agent had the call); False if there is none."""
        return await self._value("attempt_disposition_set", callback_id, disposition.value, start,
                                 agent_id) is not None

    async def take_disposition(self, attempt_id: UUID) -> tuple[CompletionStatus, datetime | None] | None:
        """Close the attempt's wrap-up to dispositions and return the one set, if any."""
        rows = await self._fetch("attempt_disposition_take", attempt_id)
        if not rows or rows[0]["disposition"] is None:
            return None
        return CompletionStatus(rows[0]["disposition"]), rows[0]["disposition_start"]

    async def attempts(self, callback_id: UUID) -> list[Attempt]:
        return [Attempt(id=r["id"], callback_id=r["callback_id"], agent_id=r["agent_id"], started_at=r["started_at"],
                        interaction_state=InteractionState(r["interaction_state"]), ended_at=r["ended_at"],
                        completion_status=CompletionStatus(r["completion_status"]) if r["completion_status"] else None,
                        dial_status=r["dial_status"] or "", hangup_cause=r["hangup_cause"] or 0,
                        amd_status=r["amd_status"] or "", counted=r["counted"], result_at=r["result_at"])
                for r in await self._fetch("attempts_of_callback", callback_id)]

    async def add_dnc(self, number: str, *, actor: str) -> None:
        await self._execute("dnc_add", number, actor)

    async def is_dnc(self, number: str) -> bool:
        return bool(await self._value("dnc_contains", number))

    async def restricted(self, numbers: Collection[str]) -> tuple[set[str], set[str]]:
        rows = await self._fetch("numbers_restricted", sorted(set(numbers)))
        return ({r["number"] for r in rows if r["list"] == "dnc"},
                {r["number"] for r in rows if r["list"] == "excluded"})

    async def add_exclusion(self, number: str, *, actor: str) -> None:
        await self._execute("exclusion_add", number, actor)

    async def is_excluded(self, number: str) -> bool:
        return bool(await self._value("exclusion_contains", number))

    async def remove_dnc(self, number: str) -> bool:
        return await self._value("dnc_remove", number) is not None

    async def remove_exclusion(self, number: str) -> bool:
        return await self._value("exclusion_remove", number) is not None

    async def numbers(self, listing: str, limit: int) -> list[dict[str, Any]]:
        """The DNC list (`dnc`) or the exclusion list (`exclusions`)."""
        name = {"dnc": "dnc_list", "exclusions": "exclusions_list"}[listing]
        return [dict(r) for r in await self._fetch(name, limit)]

    # -- the admin API --------------------------------------------------------------------------------------

    async def create_token(self, token_id: UUID, token_hash: str, role: Role, agent_id: str | None) -> None:
        await self._execute("token_insert", token_id, token_hash, role.value, agent_id)

    async def tokens(self) -> list[dict[str, Any]]:
        """Every token's id, role, agent and dates (never a token: only hashes are stored)."""
        return [dict(r) for r in await self._fetch("tokens_list")]

    async def revoke_token(self, token_id: UUID) -> bool:
        return await self._value("token_revoke", token_id) is not None

    async def principal(self, token_hash: str) -> Principal | None:
        rows = await self._fetch("token_principal", token_hash)
        if not rows:
            return None
        row = rows[0]
        return Principal(token_id=row["id"], role=Role(row["role"]), agent_id=row["agent_id"],
                         teams=frozenset(row["teams"]))

    async def create_callback(self, callback: Callback, *, actor: str,
                              overwrite: Collection[CallbackState] = frozenset(),
                              idempotency: tuple[UUID, str, str] | None = None) -> tuple[Callback, bool]:
        """Write a new callback and, in the same statement, overwrite the older ones of the same contact and
        queue that are in one of the `overwrite` states. `idempotency` = (token id, key, request hash): if the
        key was used before, nothing is written and the callback made then is returned, with False; a
        different request under the same key raises IdempotencyConflict."""
        c = callback
        args = (c.id, c.queue_id, c.destination, c.type.value, c.state.value, c.reason.value, c.due_at, c.start_at,
                c.end_at, c.created_at, c.agent_id, c.team_id, c.created_by, c.customer_timezone, c.remark, actor,
                sorted(state.value for state in overwrite))
        async with self._pool.acquire() as conn:
            if idempotency is None:  # the common case: one statement, no transaction
                return callback_from_row(await conn.fetchrow(self._q["callback_insert_overwriting"], *args)), True
            for _ in range(2):  # a concurrent first use of the same key: the loser reads the winner's callback
                try:
                    async with conn.transaction():
                        earlier = await conn.fetchrow(self._q["idempotency_get"], idempotency[0], idempotency[1])
                        if earlier is not None:
                            if earlier["request_hash"] != idempotency[2]:
                                raise IdempotencyConflict(idempotency[1])
                            row = await conn.fetchrow(self._q["callback_get"], earlier["callback_id"])
                            return callback_from_row(row), False
                        row = await conn.fetchrow(self._q["callback_insert_overwriting"], *args)
                        await conn.execute(self._q["idempotency_insert"], idempotency[0], idempotency[1],
                                           idempotency[2], c.id)
                        return callback_from_row(row), True
                except asyncpg.UniqueViolationError:
                    pass
            raise IdempotencyConflict(idempotency[1])

    async def search_callbacks(self, query: CallbackQuery, *, limit: int) -> list[Callback]:
        q = query
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(self._q["plan_each_call"])
            rows = await conn.fetch(
                self._q["callbacks_search"], q.state.value if q.state else None, q.queue_id, q.agent_id,
                q.created_by, q.destination, q.created_from, q.created_to, q.due_from, q.due_to,
                q.after[0] if q.after else None, q.after[1] if q.after else None,
                q.scope_agent, sorted(q.scope_teams), limit)
        return [callback_from_row(r) for r in rows]

    async def edit_callback(self, old: Callback, new: Callback, *, now: datetime, actor: str) -> Callback | None:
        """Apply a person's edit, if the callback is still in the state `old` was read in."""
        rows = await self._fetch("callback_edit", old.id, old.state.value, new.start_at, new.due_at, new.end_at,
                                 new.remark, new.agent_id, new.team_id, new.customer_timezone, new.type.value,
                                 new.destination, now, actor, old.due_at)
        return callback_from_row(rows[0]) if rows else None

    async def queues(self) -> list[Queue]:
        return [queue_from_row(r) for r in await self._fetch("queues_list")]

    async def create_queue(self, queue: Queue) -> bool:
        return await self._value("queue_insert", queue.id, queue.name, queue.status.value,
                                 json.dumps(settings_to_dict(queue.settings)), sorted(queue.skills)) is not None

    async def update_queue(self, queue: Queue) -> bool:
        return await self._value("queue_update", queue.id, queue.name, json.dumps(settings_to_dict(queue.settings)),
                                 sorted(queue.skills)) is not None

    async def set_queue_running(self, queue_id: str, running: bool, *, now: datetime, actor: str) -> int | None:
        """Start or stop a queue's callbacks; how many callbacks moved, or None if there is no such queue."""
        async with self._pool.acquire() as conn, conn.transaction():
            status = QueueStatus.ACTIVE if running else QueueStatus.STOPPED
            if await conn.fetchval(self._q["queue_set_status"], queue_id, status.value) is None:
                return None
            name = "queue_callbacks_start" if running else "queue_callbacks_stop"
            return int(await conn.fetchval(self._q[name], queue_id, now, actor))

    async def queue_metrics(self, queue_id: str, *, since: datetime) -> dict[str, Any]:
        return dict((await self._fetch("queue_metrics", queue_id, since))[0])

    async def agents(self) -> list[AgentRecord]:
        return [agent_record_from_row(r) for r in await self._fetch("agents_list")]

    async def agent_panel(self, agent_id: str, limit: int) -> tuple[int, list[Callback]]:
        """How many callbacks wait for the agent, and the first `limit` of them, soonest first."""
        pending = await self._value("agent_panel_count", agent_id)
        return int(pending), [callback_from_row(r) for r in await self._fetch("agent_panel", agent_id, limit)]

    async def teams(self) -> list[Team]:
        return [Team(id=r["id"], name=r["name"]) for r in await self._fetch("teams_list")]

    async def get_team(self, team_id: str) -> Team | None:
        rows = await self._fetch("team_get", team_id)
        return Team(id=rows[0]["id"], name=rows[0]["name"]) if rows else None

    async def save_team(self, team: Team) -> None:
        await self._execute("team_upsert", team.id, team.name)

    async def missing(self, kind: str, ids: Collection[str]) -> list[str]:
        """Which of `ids` name no queue (`queues`) or team (`teams`)."""
        name = {"queues": "queues_existing", "teams": "teams_existing"}[kind]
        found = {r["id"] for r in await self._fetch(name, sorted(set(ids)))}
        return sorted(set(ids) - found)

    async def report(self, name: str, *, start: datetime, end: datetime, agent_id: str | None,
                     queue_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Rows of a report (`scheduled` or `completed`), raw; the service shapes them."""
        query = {"scheduled": "report_scheduled", "completed": "report_completed"}[name]
        return [dict(r) for r in await self._fetch(query, start, end, agent_id, queue_id, limit)]

    async def metrics(self) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            states = await conn.fetch(self._q["metrics_states"])
            attempts = await conn.fetch(self._q["metrics_attempts"])
            live = await conn.fetchval(self._q["metrics_live"])
        return {"callbacks": [(r["queue_id"], r["state"], r["n"]) for r in states],
                "attempts": [(r["completion_status"], r["n"]) for r in attempts], "live_attempts": live}
