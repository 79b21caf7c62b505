"""The services: what supervisors, agents and the operator can do, whatever carries the request (the admin
API, the command line). Rule: one service per resource, each over its own narrow port (cbdialer.ports);
`Admin` only puts them together over one store that implements every port."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cbdialer.domain.dialstrings import dial_context
from cbdialer.domain.models import QueueSettings
from cbdialer.services.agents import Agents
from cbdialer.services.callbacks import Callbacks
from cbdialer.services.calls import Calls
from cbdialer.services.errors import AccessDenied, Conflict, NotFound
from cbdialer.services.lists import Lists
from cbdialer.services.monitor import Monitor
from cbdialer.services.queues import Queues, queue_status
from cbdialer.services.reports import Reports
from cbdialer.services.tokens import Tokens, hash_token

# The contexts a Local dial string may reach when the operator names none: the default customer dial string's
# (the sandbox's simulated customers).
DEFAULT_DIAL_CONTEXTS = frozenset({dial_context(QueueSettings().customer_dial_string)} - {None})

__all__ = ["DEFAULT_DIAL_CONTEXTS", "AccessDenied", "Admin", "Conflict", "NotFound", "hash_token", "queue_status"]


class Admin:
    """Every service, over `store` (PostgresStore or MemoryStore: each implements all the ports)."""

    def __init__(self, store: Any, clock: Callable[[], datetime], *, default_region: str | None = None,
                 dial_contexts: frozenset[str] | None = None) -> None:
        self.clock = clock
        dial_contexts = DEFAULT_DIAL_CONTEXTS if dial_contexts is None else dial_contexts
        self.tokens = Tokens(store)
        self.queues = Queues(store, clock, dial_contexts=dial_contexts)
        self.monitor = Monitor(store, clock, self.queues)
        self.callbacks = Callbacks(store, clock, self.queues, default_region=default_region)
        self.calls = Calls(store, clock, self.callbacks, default_region=default_region)
        self.agents = Agents(store, dial_contexts=dial_contexts)
        self.lists = Lists(store, clock, default_region=default_region)
        self.reports = Reports(store, clock, default_region=default_region)
