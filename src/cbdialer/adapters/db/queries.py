"""Loads queries.sql: the one file that holds cbdialer's SQL, each statement under `-- name: NAME`."""

from __future__ import annotations

import re
from importlib import resources
from types import MappingProxyType
from typing import Mapping

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> Mapping[str, str]:
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"queries.sql: query {name!r} is defined twice")
        sql = "\n".join(line for line in body.strip().splitlines() if not line.lstrip().startswith("--")).strip()
        if not sql:
            raise ValueError(f"queries.sql: query {name!r} is empty")
        queries[name] = sql
    return MappingProxyType(queries)


def load_queries() -> Mapping[str, str]:
    return parse_queries(resources.files(__package__).joinpath("queries.sql").read_text())
