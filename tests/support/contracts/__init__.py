"""The stores' conformance suites, one per port: each class holds tests that take a `store` fixture (with the
queue QUEUE saved), and tests/unit/test_memory_store.py and tests/integration/test_postgres_store.py run every
one of them, so the in-memory store can be trusted wherever PostgreSQL is not at hand."""

from tests.support.contracts.agents import AgentContract
from tests.support.contracts.attempts import AttemptContract
from tests.support.contracts.callbacks import CallbackBookContract, StoreContract
from tests.support.contracts.common import QUEUE
from tests.support.contracts.lists import ListContract
from tests.support.contracts.queues import QueueContract
from tests.support.contracts.reports import ReportContract
from tests.support.contracts.tokens import TokenContract

__all__ = ["QUEUE", "AgentContract", "AttemptContract", "CallbackBookContract", "ListContract", "QueueContract",
           "ReportContract", "StoreContract", "TokenContract"]
