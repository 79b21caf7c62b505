"""The db adapter's SQL files: every query named once, migrations numbered and never edited."""

from __future__ import annotations

import pytest

from cbdialer.adapters.db import load_migrations
from cbdialer.adapters.db.queries import load_queries, parse_queries


def test_queries_file_parses() -> None:
    queries = load_queries()
    assert "migrations_lock" in queries and queries["node_heartbeat"].startswith("UPDATE")


def test_a_query_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'a' is defined twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))
