"""The reports: callbacks scheduled in a period, and callbacks completed in it with every attempt; as JSON
or as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any, Literal

from aiohttp import web

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.table import Call, Handler, Route

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^\+?[0-9]+$")


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as the text it is (seed 001's reports are opened in one): a value that a
    spreadsheet would run as a formula (=, +, -, @, a tab or a CR first) is prefixed with an apostrophe. A
    number (an E.164 number, say) is left alone: it has nothing to run."""
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def report_csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if not records:
        return ""
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = {}
        for key, value in record.items():
            if isinstance(value, list):  # a completed callback's attempts: time agent state; ...
                value = "; ".join(f"{a['time']} {a['agent'] or '-'} {a['state']}" for a in value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            row[key] = "" if value is None else spreadsheet_safe(value) if isinstance(value, str) else value
        writer.writerow(row)
    return out.getvalue()


def _report(name: Literal["scheduled", "completed"]) -> Handler:
    async def report(call: Call) -> Any:
        q: m.ReportQuery = call.query
        run = call.admin.reports.scheduled_report if name == "scheduled" else call.admin.reports.completed_report
        result = await run(call.principal, start=q.from_, end=q.to, agent=q.agent, queue=q.queue)
        if q.format == "csv":
            return web.Response(text=report_csv(result["records"]), content_type="text/csv",
                                headers={"Content-Disposition": f'attachment; filename="{name}-callbacks.csv"',
                                         "X-Total-Records": str(result["total_records"])})
        return m.ReportOut(**result)
    return report


_RP = "reports"

ROUTES = [
    Route("GET", "/reports/scheduled-callbacks", _report("scheduled"),
          "Callbacks Scheduled Details (created in the period)", m.ReportOut, query=m.ReportQuery, tag=_RP,
          produces_csv=True),
    Route("GET", "/reports/completed-callbacks", _report("completed"),
          "Completed Callback Interaction (ended in the period, with every attempt)", m.ReportOut,
          query=m.ReportQuery, tag=_RP, produces_csv=True),
]
