"""The ports between the shell and its adapters, all in this package, one module per resource
(docs/design.md section 2). Rule: services, the scheduler and the dialer speak only these protocols;
PostgreSQL and the in-memory store implement every one of them and pass one conformance suite per port
(tests/support/contracts)."""

from cbdialer.ports.agents import AgentRecord, AgentStore, Directory
from cbdialer.ports.callbacks import (
    UNCHANGED,
    CallbackBook,
    CallbackQuery,
    CallbackStore,
    GuardedTransitions,
    StateChange,
    Unchanged,
)
from cbdialer.ports.calls import AgentCall, AgentCallStore
from cbdialer.ports.dialing import DialerStore, Ended, Started, StartOutcome
from cbdialer.ports.errors import CallerLimitReached, IdempotencyConflict, SlotFull, StoreUnavailable
from cbdialer.ports.lists import ListPort, ListStore
from cbdialer.ports.nodes import NodeStore
from cbdialer.ports.places import PlaceStore
from cbdialer.ports.queues import QueueStore
from cbdialer.ports.reports import ReportStore
from cbdialer.ports.scheduling import AgentDirectory, AgentSource, DialerPort
from cbdialer.ports.tokens import TokenPort, TokenStore

__all__ = [
    "UNCHANGED", "AgentCall", "AgentCallStore", "AgentDirectory", "AgentRecord", "AgentSource", "AgentStore",
    "CallbackBook", "CallbackQuery", "CallbackStore", "DialerPort", "DialerStore", "Directory", "Ended",
    "CallerLimitReached", "GuardedTransitions", "IdempotencyConflict", "SlotFull",
    "ListPort", "ListStore", "NodeStore", "PlaceStore", "QueueStore", "ReportStore", "StartOutcome", "Started", "StateChange", "StoreUnavailable",
    "TokenPort", "TokenStore", "Unchanged",
]
