"""The reports: callbacks scheduled in a period (one row per attempt, real or dummy), and callbacks completed in
it with every attempt; as JSON or as CSV under the seeds' headings. And a contact with its callbacks."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from aiohttp import web

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.routes.callbacks import callback_out
from cbdialer.adapters.http.table import Call, Handler, Route
from cbdialer.domain.reports import ATTEMPT_COLUMNS, COMPLETED_COLUMNS, SCHEDULED_COLUMNS

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^\+?[0-9]+$")


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as the text it is (seed 001's reports are opened in one): a value that a
    spreadsheet would run as a formula (=, +, -, @, a tab or a CR first) is prefixed with an apostrophe. A
    number (an E.164 number, say) is left alone: it has nothing to run."""
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else spreadsheet_safe(value) if isinstance(value, str) else value


def _rows(name: str, records: list[dict[str, Any]]) -> Iterator[list[Any]]:
    """The CSV's rows: a scheduled record is a row; a completed callback is one row per attempt (its own
    columns repeated, then the attempt's), or one row with empty attempt columns if it has none."""
    if name == "scheduled":
        yield [heading for _, heading in SCHEDULED_COLUMNS]
        for record in records:
            yield [_cell(record[key]) for key, _ in SCHEDULED_COLUMNS]
        return
    own = [(key, heading) for key, heading in COMPLETED_COLUMNS if key != "attempts"]
    yield [heading for _, heading in own + list(ATTEMPT_COLUMNS)]
    for record in records:
        head = [_cell(record[key]) for key, _ in own]
        for attempt in record["attempts"] or [dict.fromkeys(key for key, _ in ATTEMPT_COLUMNS)]:
            yield head + [_cell(attempt[key]) for key, _ in ATTEMPT_COLUMNS]


def report_csv(name: str, records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(_rows(name, records))
    return out.getvalue()


def _report(name: Literal["scheduled", "completed"]) -> Handler:
    async def report(call: Call) -> Any:
        q: m.ReportQuery = call.query
        run = call.admin.reports.scheduled_report if name == "scheduled" else call.admin.reports.completed_report
        result = await run(call.principal, start=q.from_, end=q.to, agent=q.agent, queue=q.queue, limit=q.limit)
        if q.format == "csv":
            return web.Response(text=report_csv(name, result["records"]), content_type="text/csv",
                                headers={"Content-Disposition": f'attachment; filename="{name}-callbacks.csv"',
                                         "X-Total-Records": str(result["total_records"]),
                                         "X-Truncated": "true" if result["truncated"] else "false"})
        return m.ReportOut(**result)
    return report


async def contact(call: Call) -> Any:
    contact_id, number, callbacks = await call.admin.reports.contact(call.principal, call.param("number"))
    return m.ContactOut(contact_id=contact_id, number=number, callbacks=[callback_out(c) for c in callbacks])


_RP = "reports"

ROUTES = [
    Route("GET", "/reports/scheduled-callbacks", _report("scheduled"),
          "Callbacks Scheduled Details (created in the period; one record per attempt, real or dummy)",
          m.ReportOut, query=m.ReportQuery, tag=_RP, produces_csv=True),
    Route("GET", "/reports/completed-callbacks", _report("completed"),
          "Completed Callback Interaction (ended in the period, with every attempt)", m.ReportOut,
          query=m.ReportQuery, tag=_RP, produces_csv=True),
    Route("GET", "/contacts/{number}", contact, "A contact (the reports' Contact ID) with its callbacks, newest first",
          m.ContactOut, tag=_RP),
]
