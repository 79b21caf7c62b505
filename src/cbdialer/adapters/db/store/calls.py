"""The agents' inbound queue calls in PostgreSQL. Rule: a call is written once per caller channel, however many
processes hear it, and merged (never duplicated) when heard again; the prune runs in the writing transaction."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

import asyncpg

from cbdialer.adapters.db.store.base import StoreBase
from cbdialer.ports.calls import CALLS_KEPT, AgentCall


def agent_call_from_row(row: asyncpg.Record) -> AgentCall:
    return AgentCall(id=row["id"], caller_uniqueid=row["caller_uniqueid"], agent_id=row["agent_id"],
                     asterisk_queue=row["asterisk_queue"], queue_id=row["queue_id"],
                     caller_number=row["caller_number"], caller_name=row["caller_name"], withheld=row["withheld"],
                     answered_at=row["answered_at"], ended_at=row["ended_at"],
                     member_uniqueid=row["member_uniqueid"])


class PostgresCalls(StoreBase):
    async def record_agent_call(self, call: AgentCall, *, keep: int = CALLS_KEPT) -> AgentCall | None:
        """See ports.calls.AgentCallStore; None if the agent (or queue) is gone meanwhile."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    self._q["agent_call_record"], call.id, call.caller_uniqueid, call.agent_id, call.asterisk_queue,
                    call.queue_id, "" if call.withheld else call.caller_number, call.caller_name, call.withheld,
                    call.answered_at, call.ended_at, call.member_uniqueid)
                await conn.execute(self._q["agent_calls_prune"], call.agent_id, max(keep, 1))
        except asyncpg.ForeignKeyViolationError:
            return None
        return agent_call_from_row(row)

    async def end_agent_calls(self, *, live: Collection[str], answered_before: datetime, now: datetime) -> int:
        status = await self._execute("agent_calls_end_gone", sorted(set(live)), answered_before, now)
        return int(status.rsplit(" ", 1)[-1])

    async def agent_calls(self, agent_id: str, limit: int = CALLS_KEPT) -> list[AgentCall]:
        return [agent_call_from_row(r) for r in await self._fetch("agent_calls_of_agent", agent_id, max(limit, 0))]

    async def agent_call(self, agent_id: str, call_id: UUID) -> AgentCall | None:
        rows = await self._fetch("agent_call_get", agent_id, call_id)
        return agent_call_from_row(rows[0]) if rows else None
