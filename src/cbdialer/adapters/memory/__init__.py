"""An in-memory store of every port, one mixin per resource. Rule: it behaves exactly as PostgresStore does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cbdialer.adapters.memory.agents import AgentsMixin
from cbdialer.adapters.memory.attempts import AttemptsMixin
from cbdialer.adapters.memory.callbacks import CallbacksMixin
from cbdialer.adapters.memory.calls import CallsMixin
from cbdialer.adapters.memory.lists import ListsMixin
from cbdialer.adapters.memory.nodes import NodesMixin
from cbdialer.adapters.memory.places import PlacesMixin
from cbdialer.adapters.memory.queues import QueuesMixin
from cbdialer.adapters.memory.reports import ReportsMixin
from cbdialer.adapters.memory.state import DuplicateCallback, MemoryBase, utc_now
from cbdialer.adapters.memory.tokens import TokensMixin

__all__ = ["DuplicateCallback", "MemoryStore"]


class MemoryStore(CallbacksMixin, QueuesMixin, AgentsMixin, AttemptsMixin, ListsMixin, ReportsMixin, TokensMixin,
                  CallsMixin, PlacesMixin, NodesMixin, MemoryBase):
    """Every public method of PostgresStore, with its signature and its behaviour, the SQL in queries.sql being
    the reference: the same conformance suites (tests/support/contracts) run against both. Never used in
    production. `clock` stands in for PostgreSQL's now(), which a few columns take (when a token was made or
    revoked, when a number was listed); everything else is timed by the `now` the caller passes."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(clock)
