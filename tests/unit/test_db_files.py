"""The db adapter's SQL files: every query named once, migrations numbered and never edited."""

from __future__ import annotations

import re

import pytest

from cbdialer.adapters.db import load_migrations
from cbdialer.adapters.db.queries import load_queries, parse_queries
from cbdialer.domain.lifecycle import ACTIVE_STATES, DUE_STATES, CallbackState


def test_queries_file_parses() -> None:
    queries = load_queries()
    assert "migrations_lock" in queries and queries["node_heartbeat"].startswith("UPDATE")


def test_a_query_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'a' is defined twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def _listed(sql: str) -> set[str]:
    found = re.search(r"state IN \(([^)]*)\)", sql)
    assert found is not None, sql
    return set(re.findall(r"'(\w+)'", found[1]))


@pytest.mark.parametrize(("query", "index", "states"), [
    ("callbacks_claim_due", "callbacks_due", DUE_STATES),
    ("callbacks_next_due", "callbacks_due", DUE_STATES),
    ("callbacks_active_for_contact", "callbacks_contact", ACTIVE_STATES),
])
def test_states_written_out_for_a_partial_index_are_the_domains(query: str, index: str,
                                                                 states: frozenset[CallbackState]) -> None:
    """Every other set of states reaches the SQL as a parameter. These queries write theirs out because the
    planner uses a partial index only when it sees the index's own predicate: the set must stay the domain's,
    in the query and in the index."""
    migrations = "\n".join(m.sql for m in load_migrations())
    created = re.search(rf"CREATE INDEX {index} ON [^;]*;", migrations)
    assert created is not None
    assert _listed(load_queries()[query]) == _listed(created[0]) == {state.value for state in states}
