"""The admin API over aiohttp (DESIGN.md section 13). Rule: one table of routes, each with its body, query
and response models and the permission-checked service call it makes; validation, errors, authentication and
the OpenAPI document all come from that table. Bad input is a 4xx naming the field and stores nothing.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from cbdialer.services import Admin, Conflict, NotFound, queue_status
from cbdialer.adapters.http import models as m
from cbdialer.domain.access import AccessDenied, Principal
from cbdialer.domain.codec import settings_to_dict
from cbdialer.domain.models import Agent, Callback, CompletionStatus, InvalidValue, Queue, Team
from cbdialer.ports import AgentRecord, CallbackQuery, IdempotencyConflict, StoreUnavailable

PREFIX = "/api/v1"
MAX_BODY = 64 * 1024  # bytes; nothing the API takes comes near it
_log = structlog.get_logger("cbdialer.http")


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field_name


@dataclass
class Call:
    """One request, as a handler sees it."""

    request: web.Request
    who: Principal | None
    body: Any = None
    query: Any = None

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    def uuid(self, name: str = "id") -> UUID:
        try:
            return UUID(self.param(name))
        except ValueError:
            raise ApiError(404, "not_found", f"no callback {self.param(name)!r}") from None

    @property
    def principal(self) -> Principal:
        assert self.who is not None
        return self.who


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    response: Any = None  # a model, list[model], or None (no body)
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    public: bool = False
    tag: str = "callbacks"
    headers: tuple[tuple[str, str], ...] = ()  # documented request headers: (name, description)
    produces_csv: bool = False
    path_formats: dict[str, str] = field(default_factory=dict)  # path parameter -> JSON schema format


# -- shaping what goes out --------------------------------------------------------------------------------


def callback_out(c: Callback) -> m.CallbackOut:
    return m.CallbackOut(id=c.id, queue=c.queue_id, destination=c.destination, type=c.type, state=c.state,
                         reason=c.reason, due_at=c.due_at, start_at=c.start_at, end_at=c.end_at,
                         created_at=c.created_at, agent=c.agent_id, team=c.team_id, created_by=c.created_by,
                         customer_timezone=c.customer_timezone, remark=c.remark, attempts_count=c.attempts_count,
                         completion_status=c.completion_status, assigned_agent=c.assigned_agent)


def encode_cursor(c: Callback) -> str:
    return base64.urlsafe_b64encode(f"{c.created_at.isoformat()}|{c.id}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, ident = raw.split("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not 1970 <= when.year <= 9000:
            raise ValueError
        return when, UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "invalid_value", "is not a cursor this API gave out", "cursor") from None


class Api:
    """The handlers: each turns a validated request into one call of the service."""

    def __init__(self, admin: Admin, presence: Callable[[str], str],
                 database_up: Callable[[], Awaitable[bool]] | None = None,
                 ami_up: Callable[[], bool] | None = None) -> None:
        self.admin = admin
        self.presence = presence
        self.database_up = database_up
        self.ami_up = ami_up
        self.requests: Counter[tuple[str, str, int]] = Counter()

    def queue_out(self, queue: Queue) -> m.QueueOut:
        return m.QueueOut(id=queue.id, name=queue.name, status=queue_status(queue, self.admin.clock()).value,
                          skills=sorted(queue.skills), settings=settings_to_dict(queue.settings))

    def agent_out(self, record: AgentRecord) -> m.AgentOut:
        a = record.agent
        now = self.admin.clock()
        return m.AgentOut(id=a.id, dial_string=a.dial_string, queues=sorted(a.queues), skills=sorted(a.skills),
                          teams=sorted(a.teams), ready=record.ready, presence=self.presence(a.dial_string),
                          on_call=record.reserved_until is not None and record.reserved_until > now,
                          wrap_up_until=record.wrap_up_until)

    # callbacks

    async def create_callback(self, call: Call) -> Any:
        body: m.CallbackIn = call.body
        key = call.request.headers.get("Idempotency-Key")
        idempotency = None
        if key is not None:
            if not (1 <= len(key) <= 200 and key.isascii() and key.isprintable()):
                raise ApiError(422, "invalid_value", "must be 1 to 200 printable ASCII characters", "Idempotency-Key")
            idempotency = (key, hashlib.sha256(body.model_dump_json().encode()).hexdigest())
        created, new = await self.admin.callbacks.create_callback(
            call.principal, queue=body.queue, destination=body.destination, type=body.type, agent=body.agent,
            team=body.team, start_at=body.start_at, start_in=body.start_in, end_at=body.end_at,
            customer_timezone=body.customer_timezone, remark=body.remark, created_by=body.created_by,
            idempotency=idempotency)
        return (201 if new else 200), callback_out(created)

    async def get_callback(self, call: Call) -> Any:
        return callback_out(await self.admin.callbacks.callback(call.principal, call.uuid()))

    async def search_callbacks(self, call: Call) -> Any:
        q: m.CallbackSearch = call.query
        query = CallbackQuery(state=q.state, queue_id=q.queue, agent_id=q.agent, created_by=q.created_by,
                              destination=q.destination, created_from=q.created_from, created_to=q.created_to,
                              due_from=q.due_from, due_to=q.due_to,
                              after=decode_cursor(q.cursor) if q.cursor else None)
        found = await self.admin.callbacks.search(call.principal, query, limit=q.limit + 1)
        page = found[: q.limit]
        return m.CallbackPage(items=[callback_out(c) for c in page],
                              next_cursor=encode_cursor(page[-1]) if len(found) > q.limit else None)

    async def edit_callback(self, call: Call) -> Any:
        changes = call.body.model_dump(exclude_unset=True)
        return callback_out(await self.admin.callbacks.edit_callback(call.principal, call.uuid(), changes))

    async def cancel(self, call: Call) -> Any:
        return callback_out(await self.admin.callbacks.cancel(call.principal, call.uuid()))

    async def call_now(self, call: Call) -> Any:
        return callback_out(await self.admin.callbacks.call_now(call.principal, call.uuid()))

    async def purge(self, call: Call) -> Any:
        return callback_out(await self.admin.callbacks.purge(call.principal, call.uuid()))

    async def send_to_queue(self, call: Call) -> Any:
        return callback_out(await self.admin.callbacks.send_to_queue(call.principal, call.uuid()))

    async def disposition(self, call: Call) -> Any:
        body: m.DispositionIn = call.body
        await self.admin.callbacks.disposition(call.principal, call.uuid(), CompletionStatus(body.status),
                                     start_at=body.start_at, start_in=body.start_in)
        return 202, None

    async def attempts(self, call: Call) -> Any:
        return [m.AttemptOut(id=a.id, agent=a.agent_id, started_at=a.started_at, ended_at=a.ended_at,
                             interaction_state=a.interaction_state, completion_status=a.completion_status,
                             dial_status=a.dial_status, hangup_cause=a.hangup_cause, amd_status=a.amd_status,
                             counted=a.counted)
                for a in await self.admin.callbacks.attempts(call.principal, call.uuid())]

    async def history(self, call: Call) -> Any:
        return [m.HistoryOut(at=h.at, from_state=h.from_state, to_state=h.to_state, reason=h.reason, actor=h.actor,
                             due_at=h.due_at) for h in await self.admin.callbacks.history(call.principal, call.uuid())]

    # queues

    async def create_queue(self, call: Call) -> Any:
        body: m.QueueIn = call.body
        queue = await self.admin.queues.create_queue(call.principal, id=body.id, name=body.name, settings=body.given(),
                                              skills=frozenset(body.skills))
        return 201, self.queue_out(queue)

    async def list_queues(self, call: Call) -> Any:
        return [self.queue_out(q) for q in await self.admin.queues.queues(call.principal)]

    async def get_queue(self, call: Call) -> Any:
        return self.queue_out(await self.admin.queues.queue(call.principal, call.param("id")))

    async def patch_queue(self, call: Call) -> Any:
        body: m.QueuePatch = call.body
        queue = await self.admin.queues.update_queue(call.principal, call.param("id"), name=body.name,
                                              settings=body.given(),
                                              skills=frozenset(body.skills) if body.skills is not None else None)
        return self.queue_out(queue)

    async def start_queue(self, call: Call) -> Any:
        queue, moved = await self.admin.queues.run_queue(call.principal, call.param("id"), True)
        return m.QueueRunOut(queue=self.queue_out(queue), callbacks_moved=moved)

    async def stop_queue(self, call: Call) -> Any:
        queue, moved = await self.admin.queues.run_queue(call.principal, call.param("id"), False)
        return m.QueueRunOut(queue=self.queue_out(queue), callbacks_moved=moved)

    async def queue_metrics(self, call: Call) -> Any:
        return m.QueueMetricsOut(**await self.admin.queues.queue_metrics(call.principal, call.param("id")))

    # agents and teams

    async def create_agent(self, call: Call) -> Any:
        b: m.AgentIn = call.body
        record = await self.admin.agents.create_agent(call.principal, Agent(
            id=b.id, dial_string=b.dial_string, queues=frozenset(b.queues), skills=frozenset(b.skills),
            teams=frozenset(b.teams)))
        return 201, self.agent_out(record)

    async def list_agents(self, call: Call) -> Any:
        return [self.agent_out(r) for r in await self.admin.agents.agents(call.principal)]

    async def get_agent(self, call: Call) -> Any:
        return self.agent_out(await self.admin.agents.agent(call.principal, call.param("id")))

    async def patch_agent(self, call: Call) -> Any:
        changes = {k: frozenset(v) if isinstance(v, list) else v
                   for k, v in call.body.model_dump(exclude_unset=True).items() if v is not None}
        return self.agent_out(await self.admin.agents.update_agent(call.principal, call.param("id"), changes))

    async def set_ready(self, call: Call) -> Any:
        return self.agent_out(await self.admin.agents.set_ready(call.principal, call.param("id"), call.body.ready))

    async def panel(self, call: Call) -> Any:
        agent_id = call.param("id")
        pending, first = await self.admin.agents.panel(call.principal, agent_id)
        return m.PanelOut(agent=agent_id, pending=pending, callbacks=[callback_out(c) for c in first])

    async def list_teams(self, call: Call) -> Any:
        return [m.TeamOut(id=t.id, name=t.name) for t in await self.admin.agents.teams(call.principal)]

    async def create_team(self, call: Call) -> Any:
        team = await self.admin.agents.save_team(call.principal, Team(id=call.body.id, name=call.body.name), create=True)
        return 201, m.TeamOut(id=team.id, name=team.name)

    async def patch_team(self, call: Call) -> Any:
        team = await self.admin.agents.save_team(call.principal, Team(id=call.param("id"), name=call.body.name),
                                          create=False)
        return m.TeamOut(id=team.id, name=team.name)

    # DNC and exclusions

    def _numbers(self, listing: str) -> tuple[Handler, Handler, Handler]:
        async def add(call: Call) -> Any:
            return 201, m.NumberOut(number=await self.admin.lists.add_number(call.principal, listing, call.param("number")),
                                    list=listing)

        async def remove(call: Call) -> Any:
            return m.NumberOut(number=await self.admin.lists.remove_number(call.principal, listing, call.param("number")),
                               list=listing)

        async def listed(call: Call) -> Any:
            return [m.ListedNumberOut(**row) for row in await self.admin.lists.list_numbers(call.principal, listing)]
        return add, remove, listed

    # reports

    def _report(self, name: str) -> Handler:
        async def report(call: Call) -> Any:
            q: m.ReportQuery = call.query
            run = self.admin.reports.scheduled_report if name == "scheduled" else self.admin.reports.completed_report
            result = await run(call.principal, start=q.from_, end=q.to, agent=q.agent, queue=q.queue)
            if q.format == "csv":
                return web.Response(text=report_csv(result["records"]), content_type="text/csv",
                                    headers={"Content-Disposition": f'attachment; filename="{name}-callbacks.csv"',
                                             "X-Total-Records": str(result["total_records"])})
            return m.ReportOut(**result)
        return report

    # health and metrics

    async def healthz(self, call: Call) -> Any:
        """200 `ok`, or 503 `unavailable` with `down` naming what is down: `database` (PostgreSQL did not
        answer the ping, on the API's own pool) and `ami` (the dialer's AMI link is not up)."""
        if self.database_up is not None:
            database = await self.database_up()
        else:  # an API without the daemon (tests, bench/api): read something, briefly
            try:
                async with asyncio.timeout(2):
                    await self.admin.reports.metrics()
                database = True
            except Exception:  # noqa: BLE001 - any failure to reach the database means "not healthy"
                database = False
        down: list[Literal["database", "ami"]] = [] if database else ["database"]
        if self.ami_up is not None and not self.ami_up():
            down.append("ami")
        out = m.HealthOut(status="unavailable", database=database, down=down) if down \
            else m.HealthOut(status="ok", database=True)
        # `down` only when something is: a healthy answer stays {"status": "ok", "database": true}.
        return web.Response(status=503 if down else 200, content_type="application/json",
                            text=out.model_dump_json(exclude_none=True))

    async def metrics(self, call: Call) -> Any:
        return web.Response(text=prometheus_text(await self.admin.reports.metrics(), self.requests),
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def openapi(self, call: Call) -> Any:
        return web.json_response(call.request.app[OPENAPI_KEY])

    def routes(self) -> list[Route]:
        add_dnc, remove_dnc, list_dnc = self._numbers("dnc")
        add_excl, remove_excl, list_excl = self._numbers("exclusions")
        cb, q, ag, li, rp = "callbacks", "queues", "agents", "lists", "reports"
        uuid_id = {"id": "uuid"}
        return [
            Route("POST", "/callbacks", self.create_callback, "Schedule a callback", m.CallbackOut, 201,
                  body=m.CallbackIn, tag=cb,
                  headers=(("Idempotency-Key", "makes a retried create safe: the same key returns the first "
                                                "callback (200) instead of creating another"),)),
            Route("GET", "/callbacks", self.search_callbacks, "Search callbacks (newest first, cursor pages)",
                  m.CallbackPage, query=m.CallbackSearch, tag=cb),
            Route("GET", "/callbacks/{id}", self.get_callback, "A callback", m.CallbackOut, tag=cb,
                  path_formats=uuid_id),
            Route("PATCH", "/callbacks/{id}", self.edit_callback, "Edit or reschedule a waiting callback",
                  m.CallbackOut, body=m.CallbackPatch, tag=cb, path_formats=uuid_id),
            Route("POST", "/callbacks/{id}/cancel", self.cancel, "Cancel a callback", m.CallbackOut, tag=cb,
                  path_formats=uuid_id),
            Route("POST", "/callbacks/{id}/call-now", self.call_now, "Call now (due at once)", m.CallbackOut, tag=cb,
                  path_formats=uuid_id),
            Route("POST", "/callbacks/{id}/purge", self.purge, "Purge a pending callback", m.CallbackOut, tag=cb,
                  path_formats=uuid_id),
            Route("POST", "/callbacks/{id}/send-to-queue", self.send_to_queue, "Send a pending callback to the queue",
                  m.CallbackOut, tag=cb, path_formats=uuid_id),
            Route("POST", "/callbacks/{id}/disposition", self.disposition,
                  "The agent's disposition for the call in wrap-up (applied when the wrap-up ends)", None, 202,
                  body=m.DispositionIn, tag=cb, path_formats=uuid_id),
            Route("GET", "/callbacks/{id}/attempts", self.attempts, "The attempts of a callback", list[m.AttemptOut],
                  tag=cb, path_formats=uuid_id),
            Route("GET", "/callbacks/{id}/history", self.history, "The audit trail of a callback",
                  list[m.HistoryOut], tag=cb, path_formats=uuid_id),
            Route("POST", "/queues", self.create_queue, "Create a queue", m.QueueOut, 201, body=m.QueueIn, tag=q),
            Route("GET", "/queues", self.list_queues, "The queues", list[m.QueueOut], tag=q),
            Route("GET", "/queues/{id}", self.get_queue, "A queue", m.QueueOut, tag=q),
            Route("PATCH", "/queues/{id}", self.patch_queue, "Change a queue's settings", m.QueueOut,
                  body=m.QueuePatch, tag=q),
            Route("POST", "/queues/{id}/start", self.start_queue, "Start the queue's callbacks", m.QueueRunOut, tag=q),
            Route("POST", "/queues/{id}/stop", self.stop_queue, "Stop the queue's callbacks", m.QueueRunOut, tag=q),
            Route("GET", "/queues/{id}/metrics", self.queue_metrics, "Supervisor metrics for the current shift",
                  m.QueueMetricsOut, tag=q),
            Route("POST", "/agents", self.create_agent, "Create an agent", m.AgentOut, 201, body=m.AgentIn, tag=ag),
            Route("GET", "/agents", self.list_agents, "The agents", list[m.AgentOut], tag=ag),
            Route("GET", "/agents/{id}", self.get_agent, "An agent", m.AgentOut, tag=ag),
            Route("PATCH", "/agents/{id}", self.patch_agent, "Change an agent", m.AgentOut, body=m.AgentPatch, tag=ag),
            Route("PUT", "/agents/{id}/ready", self.set_ready, "Ready or not ready", m.AgentOut, body=m.ReadyIn,
                  tag=ag),
            Route("GET", "/agents/{id}/callbacks", self.panel, "The agent's callback panel", m.PanelOut, tag=ag),
            Route("GET", "/teams", self.list_teams, "The teams", list[m.TeamOut], tag=ag),
            Route("POST", "/teams", self.create_team, "Create a team", m.TeamOut, 201, body=m.TeamIn, tag=ag),
            Route("PATCH", "/teams/{id}", self.patch_team, "Rename a team", m.TeamOut, body=m.TeamPatch, tag=ag),
            Route("GET", "/dnc", list_dnc, "The do-not-call list", list[m.ListedNumberOut], tag=li),
            Route("POST", "/dnc/{number}", add_dnc, "Add a number to the do-not-call list", m.NumberOut, 201, tag=li),
            Route("DELETE", "/dnc/{number}", remove_dnc, "Remove a number from the do-not-call list", m.NumberOut,
                  tag=li),
            Route("GET", "/exclusions", list_excl, "The exclusion list", list[m.ListedNumberOut], tag=li),
            Route("POST", "/exclusions/{number}", add_excl, "Add a number to the exclusion list", m.NumberOut, 201,
                  tag=li),
            Route("DELETE", "/exclusions/{number}", remove_excl, "Remove a number from the exclusion list",
                  m.NumberOut, tag=li),
            Route("GET", "/reports/scheduled-callbacks", self._report("scheduled"),
                  "Callbacks Scheduled Details (created in the period)", m.ReportOut, query=m.ReportQuery, tag=rp,
                  produces_csv=True),
            Route("GET", "/reports/completed-callbacks", self._report("completed"),
                  "Completed Callback Interaction (ended in the period, with every attempt)", m.ReportOut,
                  query=m.ReportQuery, tag=rp, produces_csv=True),
        ]


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
            row[key] = "" if value is None else value
        writer.writerow(row)
    return out.getvalue()


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


# -- the aiohttp application ------------------------------------------------------------------------------

OPENAPI_KEY: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)
PRINCIPAL_KEY: web.RequestKey[Principal] = web.RequestKey("principal", Principal)


_TYPE_TAGS = frozenset({"int", "str", "float", "bool", "list", "dict"})


def _field_of(error: Any, where: str) -> str:
    """The field a pydantic error is about, as a person wrote it: `schedule.weekly.0.start`, not the union
    member's type that pydantic also puts in the location."""
    names = [str(part) for part in error.get("loc", ()) if str(part) not in _TYPE_TAGS and "[" not in str(part)
             and not str(part).startswith(("constrained-", "function-"))]
    return ".".join(names) or where


def _validate(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    """Query parameters (strings that pydantic converts)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, where) from None


def _validate_json(model: type[BaseModel], raw: bytes) -> BaseModel:
    """A JSON body, strictly: `0` is not false and `"1"` is not a number, as the document says."""
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise _invalid(exc, "body") from None


def _invalid(exc: ValidationError, where: str) -> ApiError:
    first = exc.errors(include_url=False)[0]
    return ApiError(422, "invalid_value", first.get("msg", "invalid"), _field_of(first, where))


def _nul_at(data: Any, path: str = "") -> str | None:
    """Where a NUL character hides in parsed JSON (PostgreSQL text cannot hold one), or None."""
    if isinstance(data, str):
        return path or "body" if "\x00" in data else None
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        if isinstance(key, str) and "\x00" in key:
            return path or "body"
        if (found := _nul_at(value, f"{path}.{key}" if path else str(key))) is not None:
            return found
    return None


def _json(status: int, payload: Any) -> web.Response:
    if payload is None:
        return web.Response(status=status)
    if isinstance(payload, BaseModel):
        text = payload.model_dump_json(by_alias=True)
    elif isinstance(payload, list):
        text = "[" + ",".join(p.model_dump_json(by_alias=True) for p in payload) + "]"
    else:
        text = json.dumps(payload, default=str)
    return web.Response(status=status, text=text, content_type="application/json")


def _error(status: int, error: str, message: str, field_name: str | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, content_type="application/json", headers=headers,
                        text=m.ErrorOut(error=error, message=message, field=field_name).model_dump_json())


def _view(api: Api, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def view(request: web.Request) -> web.StreamResponse:
        who = request.get(PRINCIPAL_KEY)
        call = Call(request, who)
        if any("\x00" in value for value in request.match_info.values()):
            raise ApiError(404, "not_found", "no such resource")
        if route.query is not None:
            query = {k: v for k, v in request.query.items()}
            if (where := _nul_at(query)) is not None:
                raise ApiError(422, "invalid_value", "must not contain a NUL character", where)
            if len(request.query) != len(query):
                raise ApiError(422, "invalid_value", "is given more than once",
                               next(k for k in request.query if len(request.query.getall(k)) > 1))
            call.query = _validate(route.query, query, "query")
        if route.body is not None:
            if not request.can_read_body:
                raise ApiError(422, "invalid_value", "a JSON object is required", "body")
            raw = await request.read()
            try:
                data = json.loads(raw or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ApiError(400, "bad_json", f"the body is not JSON: {exc}", "body") from None
            except RecursionError:
                raise ApiError(400, "bad_json", "the body is nested too deeply", "body") from None
            if not isinstance(data, dict):
                raise ApiError(422, "invalid_value", "must be a JSON object", "body")
            if (where := _nul_at(data)) is not None:
                raise ApiError(422, "invalid_value", "must not contain a NUL character", where)
            call.body = _validate_json(route.body, raw)
        result = await route.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        status, payload = result if isinstance(result, tuple) else (route.status, result)
        return _json(status, payload)
    return view


def _middleware(api: Api, public: set[str]) -> Any:
    @web.middleware
    async def handle(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        status = 500
        try:
            if route not in public:
                header = request.headers.get("Authorization", "")
                scheme, _, token = header.partition(" ")
                token = token.strip()
                # A token is URL-safe ASCII; anything else cannot be one (and must not reach the hash).
                who = await api.admin.tokens.authenticate(token) if scheme.lower() == "bearer" and token.isascii() \
                    else None
                if who is None:
                    raise ApiError(401, "unauthorized", "a valid bearer token is required", "Authorization")
                request[PRINCIPAL_KEY] = who
            response = await handler(request)
            status = response.status
            return response
        except ApiError as exc:
            status = exc.status
            headers = {"WWW-Authenticate": 'Bearer realm="cbdialer"'} if exc.status == 401 else None
            return _error(exc.status, exc.error, exc.message, exc.field, headers)
        except InvalidValue as exc:
            status = 422
            return _error(422, "invalid_value", exc.message, exc.field)
        except AccessDenied as exc:
            status = 403
            return _error(403, "forbidden", str(exc))
        except NotFound as exc:
            status = 404
            return _error(404, "not_found", str(exc))
        except Conflict as exc:
            status = 409
            return _error(409, "conflict", str(exc))
        except IdempotencyConflict as exc:
            status = 409
            return _error(409, "conflict", str(exc), "Idempotency-Key")
        except StoreUnavailable:
            # PostgreSQL is away (restarting, or the connection dropped): the client may retry; nothing was
            # changed that a retry would repeat wrongly (every write is guarded).
            status = 503
            return _error(503, "unavailable", "the database is unavailable; try again shortly", None,
                          {"Retry-After": "2"})
        except web.HTTPRequestEntityTooLarge:
            status = 413
            return _error(413, "too_large", f"the body is larger than {MAX_BODY} bytes", "body")
        except web.HTTPException as exc:
            status = exc.status
            if exc.status < 400:
                raise
            return _error(exc.status, "http_error", exc.reason, None, {"Allow": exc.headers["Allow"]}
                          if "Allow" in exc.headers else None)
        except Exception:
            _log.exception("http_request_failed", method=request.method, route=route)
            return _error(500, "internal", "the request failed; the server log has the details")
        finally:
            api.requests[(request.method, route, status)] += 1
            # Never the Authorization header, nor the query string (it may carry a number being searched).
            _log.info("http_request", method=request.method, route=route, status=status,
                      ms=round((time.perf_counter() - started) * 1000, 1))
    return handle


def make_app(admin: Admin, *, presence: Callable[[str], str] | None = None,
             database_up: Callable[[], Awaitable[bool]] | None = None,
             ami_up: Callable[[], bool] | None = None) -> web.Application:
    """The admin API. `presence`: an agent's device state as the dialer heard it; `database_up`: a cheap
    check that PostgreSQL answers (without it /healthz reads the metrics); `ami_up`: whether the dialer's AMI
    link is up (without it /healthz says nothing of AMI)."""
    from cbdialer.adapters.http.openapi import openapi_document

    api = Api(admin, presence or (lambda dial_string: "UNKNOWN"), database_up, ami_up)
    routes = api.routes()
    public = {"/healthz", "/metrics", f"{PREFIX}/openapi.json"}
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_middleware(api, public)])
    for route in routes:
        app.router.add_route(route.method, PREFIX + route.path, _view(api, route))
    app.router.add_get("/healthz", _view(api, Route("GET", "/healthz", api.healthz, "Health", m.HealthOut,
                                                    public=True)))
    app.router.add_get("/metrics", _view(api, Route("GET", "/metrics", api.metrics, "Prometheus metrics",
                                                    public=True)))
    app.router.add_get(f"{PREFIX}/openapi.json", _view(api, Route("GET", "/openapi.json", api.openapi, "OpenAPI",
                                                                  public=True)))
    app[OPENAPI_KEY] = openapi_document(routes, PREFIX)
    return app


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event,
                started: Callable[[int], None] | None = None) -> None:
    """Serve `app` until `stop`; `started` gets the bound port (useful with port 0)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        _log.info("admin_api_listening", host=host, port=bound)
        if started is not None:
            started(bound)
        await stop.wait()
    finally:
        await runner.cleanup()


__all__ = ["MAX_BODY", "PREFIX", "make_app", "serve"]
