"""Health, Prometheus metrics and the OpenAPI document: served without a token. /healthz and /metrics sit
outside the API's prefix (a load balancer's and Prometheus's own paths); openapi.py documents them by hand."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, Literal

from aiohttp import web

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.table import OPENAPI_KEY, Call, Route


async def healthz(call: Call) -> Any:
    """200 `ok`, or 503 `unavailable` with `down` naming what is down: `database` (PostgreSQL did not
    answer the ping, on the API's own pool) and `ami` (the dialer's AMI link is not up)."""
    api = call.api
    if api.database_up is not None:
        database = await api.database_up()
    else:  # an API without the daemon (tests, bench/api): read something, briefly
        try:
            async with asyncio.timeout(2):
                await api.admin.reports.metrics()
            database = True
        except Exception:  # noqa: BLE001 - any failure to reach the database means "not healthy"
            database = False
    down: list[Literal["database", "ami"]] = [] if database else ["database"]
    if api.ami_up is not None and not api.ami_up():
        down.append("ami")
    out = m.HealthOut(status="unavailable", database=database, down=down) if down \
        else m.HealthOut(status="ok", database=True)
    # `down` only when something is: a healthy answer stays {"status": "ok", "database": true}.
    return web.Response(status=503 if down else 200, content_type="application/json",
                        text=out.model_dump_json(exclude_none=True))


def prometheus_text(metrics: dict[str, Any], requests: Counter[tuple[str, str, int]]) -> str:
    def label(value: Any) -> str:
        return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    lines = ["# HELP cbdialer_callbacks Active callbacks by queue and state.", "# TYPE cbdialer_callbacks gauge"]
    lines += [f'cbdialer_callbacks{{queue="{label(q)}",state="{label(s)}"}} {n}' for q, s, n in metrics["callbacks"]]
    lines += ["# HELP cbdialer_attempts_total Ended attempts by completion status.",
              "# TYPE cbdialer_attempts_total counter"]
    lines += [f'cbdialer_attempts_total{{status="{label(s or "unknown")}"}} {n}' for s, n in metrics["attempts"]]
    lines += ["# HELP cbdialer_live_attempts Attempts on the line now.", "# TYPE cbdialer_live_attempts gauge",
              f"cbdialer_live_attempts {metrics['live_attempts']}"]
    lines += ["# HELP cbdialer_http_requests_total Admin API requests served by this process.",
              "# TYPE cbdialer_http_requests_total counter"]
    lines += [f'cbdialer_http_requests_total{{method="{mth}",route="{label(r)}",status="{st}"}} {n}'
              for (mth, r, st), n in sorted(requests.items())]
    return "\n".join(lines) + "\n"


async def metrics(call: Call) -> Any:
    return web.Response(text=prometheus_text(await call.admin.reports.metrics(), call.api.requests),
                        content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})


async def openapi(call: Call) -> Any:
    return web.json_response(call.request.app[OPENAPI_KEY])


_H = "health"

ROUTES = [
    Route("GET", "/healthz", healthz, "Health", m.HealthOut, public=True, tag=_H, prefixed=False),
    Route("GET", "/metrics", metrics, "Prometheus metrics", public=True, tag=_H, prefixed=False),
    Route("GET", "/openapi.json", openapi, "OpenAPI", public=True, tag=_H),
]
