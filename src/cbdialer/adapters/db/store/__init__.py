"""The PostgreSQL store: every port of cbdialer.ports over asyncpg, one module per resource. Rule: SQL comes
from queries.sql (a named block per resource), never from a string in the code."""

from cbdialer.adapters.db.store.agents import PostgresAgents
from cbdialer.adapters.db.store.attempts import PostgresAttempts
from cbdialer.adapters.db.store.base import agent_record_from_row, callback_from_row, queue_from_row
from cbdialer.adapters.db.store.callbacks import PostgresCallbacks
from cbdialer.adapters.db.store.calls import PostgresCalls
from cbdialer.adapters.db.store.lists import PostgresLists
from cbdialer.adapters.db.store.nodes import PostgresNodes
from cbdialer.adapters.db.store.places import PostgresPlaces
from cbdialer.adapters.db.store.queues import PostgresQueues
from cbdialer.adapters.db.store.reports import PostgresReports
from cbdialer.adapters.db.store.tokens import PostgresTokens

__all__ = ["PostgresStore", "agent_record_from_row", "callback_from_row", "queue_from_row"]


class PostgresStore(PostgresCallbacks, PostgresAttempts, PostgresQueues, PostgresAgents, PostgresLists,
                    PostgresTokens, PostgresReports, PostgresCalls, PostgresPlaces, PostgresNodes):
    """The whole store: what the daemon, the services and the tests are given."""
