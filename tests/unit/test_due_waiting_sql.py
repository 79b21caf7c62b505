"""The search by due time and its statistics (migration 0019) spell the domain's DUE_WAITING_STATES out as a
constant expression (the statistics need one; a parameter cannot stand in): they must agree with the domain."""

from __future__ import annotations

import re
from pathlib import Path

from cbdialer.domain.lifecycle import DUE_WAITING_STATES

DB = Path(__file__).resolve().parents[2] / "src" / "cbdialer" / "adapters" / "db"
WAITING = re.compile(r"CASE WHEN state IN \(([^)]*)\) THEN due_at END")


def spelled(text: str) -> list[set[str]]:
    return [{s.strip().strip("'") for s in found.split(",")} for found in WAITING.findall(text)]


def test_the_due_time_search_and_its_statistics_name_the_domains_waiting_states() -> None:
    expected = {state.value for state in DUE_WAITING_STATES}
    search = spelled((DB / "queries.sql").read_text())
    statistics = spelled((DB / "migrations" / "0019_waiting_due_statistics.sql").read_text())
    assert len(search) == 2 and len(statistics) == 1
    assert all(states == expected for states in search + statistics)
