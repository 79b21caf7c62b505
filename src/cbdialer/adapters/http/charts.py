"""The supervisor's charts (docs/design.md section 15, issue 12), drawn on the server as SVG from the same
services the API answers with: callbacks due per hour over the next 24 hours against the agents ready, and the
outcomes of the shift. Rule: a chart shows what the API would tell its viewer, and nothing else; an agent gets
none."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from cbdialer.adapters.http.changes import CHANGES_KEY
from cbdialer.domain.access import Principal, Role
from cbdialer.domain.models import CompletionStatus
from cbdialer.services import Admin

Viewer = Callable[[web.Request], Awaitable[Any]]
# How the outcome bars are coloured: the customer reached and dealt with, or reached later, or not reached.
_GOOD = frozenset({CompletionStatus.HANDLED})
_LATER = frozenset({CompletionStatus.CALLBACK_REQUESTED, CompletionStatus.ANSWERING_MACHINE})


def _svg(request: web.Request, template: str, context: dict[str, Any]) -> web.StreamResponse:
    response = aiohttp_jinja2.render_template(template, request, context)
    response.content_type = "image/svg+xml"
    response.headers["Cache-Control"] = "no-store"
    return response


class Charts:
    def __init__(self, admin: Admin, viewer: Viewer) -> None:
        self.admin = admin
        self.viewer = viewer  # the session's (Session, Principal), or None

    async def _supervisor(self, request: web.Request) -> Principal:
        found = await self.viewer(request)
        if found is None:
            raise web.HTTPUnauthorized(text="log in first")
        who: Principal = found[1]
        if who.role is Role.AGENT:
            raise web.HTTPForbidden(text="the supervisor's chart")
        return who

    async def _row(self, request: web.Request, who: Principal, queue_id: str) -> dict[str, Any]:
        """The queue's monitor row, from the read the monitor's viewers share."""
        rows = await self.admin.monitor.rows(who, version=request.app[CHANGES_KEY].shared_version())
        for row in rows:
            if row["queue"] == queue_id:
                return row
        return await self.admin.monitor.row(who, queue_id)  # created since that read

    async def due(self, request: web.Request) -> web.StreamResponse:
        """A queue's callbacks due per hour over the next 24 hours, against the agents ready now."""
        who = await self._supervisor(request)
        queue = await self.admin.queues.queue(who, request.query.get("queue", ""))
        hours = await self.admin.monitor.due_per_hour(who, queue.id)
        ready = (await self._row(request, who, queue.id))["agents_ready"]
        zone = ZoneInfo(queue.settings.schedule.timezone)
        width, height, left, top, base = 560, 170, 4, 32, 150
        peak = max([due for _, due in hours] + [ready, 1])
        slot = (width - left - 4) / len(hours)
        bars = []
        for n, (hour, due) in enumerate(hours):
            local = hour.astimezone(zone)
            h = (base - top) * due / peak
            bars.append({"x": round(left + n * slot + 1, 1), "w": round(slot - 2, 1), "y": round(base - h, 1),
                         "h": round(h, 1), "due": due, "label": local.strftime("%a %H:00"),
                         "tick": local.strftime("%H:00") if n % 3 == 0 else ""})
        return _svg(request, "due.svg", {
            "queue": queue.id, "bars": bars, "ready": ready, "peak": max(due for _, due in hours),
            "total": sum(d for _, d in hours),
            "width": width, "height": height, "left": left, "base": base, "zone": queue.settings.schedule.timezone,
            "drawn": self.admin.clock().astimezone(zone).strftime("%H:%M"),
            "ready_y": round(base - (base - top) * ready / peak, 1)})

    async def outcomes(self, request: web.Request) -> web.StreamResponse:
        """The shift's ended attempts of a queue by completion status, one bar each, in the domain's order."""
        who = await self._supervisor(request)
        queue = await self.admin.queues.queue(who, request.query.get("queue", ""))
        metrics = await self._row(request, who, queue.id)
        counts = {CompletionStatus(k): n for k, n in metrics["outcomes"].items()}
        width, label, row, top = 560, 150, 18, 26
        peak = max([*counts.values(), 1])
        bars = [{"y": top + n * row, "w": round((width - label - 60) * counts.get(status, 0) / peak, 1),
                 "label": status.value.replace("_", " "), "count": counts.get(status, 0),
                 "kind": "good" if status in _GOOD else "later" if status in _LATER else "bad"}
                for n, status in enumerate(CompletionStatus)]
        zone = ZoneInfo(queue.settings.schedule.timezone)
        return _svg(request, "outcomes.svg", {
            "queue": queue.id, "bars": bars, "width": width, "label": label, "row": row,
            "height": top + len(bars) * row + 4, "total": sum(counts.values()),
            "since": metrics["shift_start"].astimezone(zone).strftime("%a %H:%M"),
            "drawn": self.admin.clock().astimezone(zone).strftime("%H:%M"),
            "zone": queue.settings.schedule.timezone})


def add_charts(app: web.Application, admin: Admin, viewer: Viewer) -> None:
    charts = Charts(admin, viewer)
    app.router.add_get("/supervisor/due.svg", charts.due)
    app.router.add_get("/supervisor/outcomes.svg", charts.outcomes)
