"""Health, Prometheus metrics and the OpenAPI document: served without a token. /healthz and /metrics sit
outside the API's prefix (a load balancer's and Prometheus's own paths); openapi.py documents them by hand."""

from __future__ import annotations

import asyncio
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
                await api.admin.reports.book_figures()
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


async def metrics(call: Call) -> Any:
    """The process's metrics (README "Operating cbdialer"), in Prometheus's text format: kept as things happen,
    so that a scrape costs the same with 10 or 10,000,000 callbacks stored."""
    if call.api.exposition is None:  # an API without the daemon (a test's): an empty, valid scrape
        body, content_type = b"# this process keeps no metrics\n", "text/plain; version=0.0.4; charset=utf-8"
    else:
        body, content_type = call.api.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type, "X-Content-Type-Options": "nosniff"})


async def openapi(call: Call) -> Any:
    return web.json_response(call.request.app[OPENAPI_KEY])


_H = "health"

ROUTES = [
    Route("GET", "/healthz", healthz, "Health", m.HealthOut, public=True, tag=_H, prefixed=False),
    Route("GET", "/metrics", metrics, "Prometheus metrics", public=True, tag=_H, prefixed=False),
    Route("GET", "/openapi.json", openapi, "OpenAPI", public=True, tag=_H),
]
