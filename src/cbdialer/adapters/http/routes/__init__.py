"""The route table, one module per resource (each with its handlers, its output shaping and its rows).
`DOCUMENTED` is the API the OpenAPI document describes, in its order; `SERVED` adds health, metrics and the
document itself."""

from __future__ import annotations

from cbdialer.adapters.http.routes import agents, callbacks, calls, health, lists, monitor, queues, reports, slots
from cbdialer.adapters.http.table import Route

DOCUMENTED: list[Route] = [*callbacks.ROUTES, *queues.ROUTES, *monitor.ROUTES, *slots.ROUTES, *agents.ROUTES,
                           *calls.ROUTES, *lists.ROUTES, *reports.ROUTES]
SERVED: list[Route] = [*DOCUMENTED, *health.ROUTES]

__all__ = ["DOCUMENTED", "SERVED"]
