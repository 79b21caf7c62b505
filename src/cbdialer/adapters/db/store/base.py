"""What every part of the PostgreSQL store shares: the guarded pool, the named queries, and the mapping of rows
to the domain's values. Rule: every statement goes through the guarded pool, so that a connection-level failure
comes out as StoreUnavailable and anything else as it is."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from cbdialer.adapters.db.errors import GuardedPool, guarded
from cbdialer.adapters.db.queries import load_queries
from cbdialer.domain.codec import settings_from_dict
from cbdialer.domain.lifecycle import CallbackState, Reason
from cbdialer.domain.models import (
    Agent,
    Callback,
    CallbackOrigin,
    CallbackType,
    CompletionStatus,
    Queue,
    QueueStatus,
)
from cbdialer.ports import (
    AgentRecord,
)


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
        assigned_at=row["assigned_at"],
        call_now_agent=row["call_now_agent"],
        agent_wait_since=row["agent_wait_since"],
        due_since=row.get("due_since"),
        origin=CallbackOrigin(row["origin"]),
        joined_at=row["joined_at"],
        slot=row["slot"],
        recording=row.get("recording"),
    )


def agent_record_from_row(row: asyncpg.Record) -> AgentRecord:
    return AgentRecord(
        agent=Agent(id=row["id"], dial_string=row["dial_string"], queues=frozenset(row["queues"]),
                    skills=frozenset(row["skills"]), teams=frozenset(row["teams"]), name=row["name"]),
        ready=row["ready"], wrap_up_until=row["wrap_up_until"], reserved_until=row["reserved_until"],
        idle_since=row["idle_since"],
        waiting=tuple((cid, CallbackType(t)) for cid, t in zip(row["waiting_ids"], row["waiting"], strict=True)))


def queue_from_row(row: asyncpg.Record) -> Queue:
    return Queue(id=row["id"], name=row["name"], status=QueueStatus(row["status"]),
                 settings=settings_from_dict(json.loads(row["settings"])), skills=frozenset(row["skills"]))


class StoreBase:
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
