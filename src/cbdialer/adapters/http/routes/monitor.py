"""The queue monitor (seed 002): every queue's row at once, shared by all its viewers for a version of the book,
and one queue's row read fresh."""

from __future__ import annotations

from typing import Any

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.changes import CHANGES_KEY
from cbdialer.adapters.http.table import Call, Route


async def monitor(call: Call) -> Any:
    rows = await call.admin.monitor.rows(call.principal, version=call.request.app[CHANGES_KEY].shared_version())
    return [m.QueueMetricsOut(**row) for row in rows]


async def queue_metrics(call: Call) -> Any:
    return m.QueueMetricsOut(**await call.admin.monitor.row(call.principal, call.param("id")))


_Q = "queues"

ROUTES = [
    Route("GET", "/monitor", monitor,
          "The queue monitor: every queue's metrics for its current shift (one read shared by every viewer until "
          "the book changes, so it may lag a write by a second)", list[m.QueueMetricsOut], tag=_Q),
    Route("GET", "/queues/{id}/metrics", queue_metrics, "A queue's metrics for its current shift, read now",
          m.QueueMetricsOut, tag=_Q),
]
