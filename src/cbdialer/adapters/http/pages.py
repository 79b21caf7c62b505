"""The screens (docs/design.md section 15, seeds 002 and 003): the agent's callback panel and the supervisor's
page, server-rendered, their data and actions through the admin API with the session's token. Rule: a page
never decides what its viewer may see or do: the API does, for the session's token, exactly as for a bearer
token; live updates come over one Server-Sent Events stream per page, fed by the changes PostgreSQL already
notifies (coalesced), so that no page polls the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from cbdialer.adapters.http.changes import CHANGES_KEY, Changes
from cbdialer.adapters.http.charts import add_charts
from cbdialer.adapters.http.sessions import COOKIE, CSRF_FIELD, Session, Sessions
from cbdialer.domain.access import Principal, Role
from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import CallbackType, CompletionStatus
from cbdialer.domain.outcomes import DISPOSITIONS_AFTER
from cbdialer.domain.reports import COMPLETED_COLUMNS, SCHEDULED_COLUMNS
from cbdialer.services import Admin
from cbdialer.services.reports import MAX_REPORT_ROWS
from cbdialer.services.tokens import hash_token

HERE = Path(__file__).parent
PAGE_PATHS = frozenset({"/", "/login", "/logout", "/agent", "/supervisor", "/events", "/supervisor/due.svg",
                        "/supervisor/outcomes.svg"})
KEEPALIVE = 15.0  # seconds between the stream's comments, so that proxies keep it open
SESSIONS_KEY: web.AppKey[Sessions] = web.AppKey("sessions", Sessions)


def _now() -> datetime:
    return datetime.now(UTC)


def _secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def _same_origin(request: web.Request) -> bool:
    """A form post's Origin (or Referer) is this server: a cross-site post is refused before anything else."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if origin is None:
        return True  # not sent by a browser that posts cross-site (they all send Origin on a POST)
    parts = urlsplit(origin)
    return parts.netloc == request.host


class Pages:
    def __init__(self, admin: Admin, sessions: Sessions, clock: Callable[[], datetime] = _now) -> None:
        self.admin = admin
        self.sessions = sessions
        self.clock = clock

    async def viewer(self, request: web.Request) -> tuple[Session, Principal] | None:
        cookie = request.cookies.get(COOKIE)
        session = self.sessions.read(cookie, self.clock()) if cookie else None
        if session is None:
            return None
        who = await self.admin.tokens.authenticate_hash(session.token_hash)
        return (session, who) if who is not None and not session.ended_by(who.sessions_ended_at) else None

    async def home(self, request: web.Request) -> web.StreamResponse:
        found = await self.viewer(request)
        if found is None:
            raise web.HTTPSeeOther("/login")
        raise web.HTTPSeeOther("/agent" if found[1].role is Role.AGENT else "/supervisor")

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        return aiohttp_jinja2.render_template("login.html", request, {"error": None})

    async def login(self, request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):
            raise web.HTTPForbidden(text="a cross-site form post is refused")
        form = await request.post()
        token = str(form.get("token", "")).strip()
        who = await self.admin.tokens.authenticate(token) if token.isascii() else None
        if who is None:
            response = aiohttp_jinja2.render_template("login.html", request,
                                                      {"error": "That token is not valid (or was revoked)."})
            response.set_status(401)
            return response
        response = web.HTTPSeeOther("/agent" if who.role is Role.AGENT else "/supervisor")
        response.set_cookie(COOKIE, self.sessions.open(hash_token(token), self.clock()), httponly=True,
                            samesite="Strict",
                            secure=_secure(request), max_age=int(self.sessions.lifetime.total_seconds()), path="/")
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Ends the token's sessions opened until now, on every node (a copy of the cookie is worth nothing
        after it); a session already ended just loses its cookie."""
        found = await self.viewer(request)
        form = await request.post()
        if not _same_origin(request):
            raise web.HTTPForbidden(text="a cross-site form post is refused")
        if found is not None:
            if not self.sessions.csrf_ok(found[0], str(form.get(CSRF_FIELD, ""))):
                raise web.HTTPForbidden(text="a cross-site form post is refused")
            await self.admin.tokens.end_sessions(found[1], self.clock())
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    def _page(self, template: str, request: web.Request, session: Session, who: Principal,
              **context: Any) -> web.StreamResponse:
        return aiohttp_jinja2.render_template(template, request, {
            "who": who, "csrf": session.csrf, "csrf_field": CSRF_FIELD, "expires": session.expires,
            "callback_types": [t.value for t in CallbackType], "callback_states": [s.value for s in CallbackState],
            **context})

    async def agent(self, request: web.Request) -> web.StreamResponse:
        found = await self.viewer(request)
        if found is None:
            raise web.HTTPSeeOther("/login")
        session, who = found
        if who.role is not Role.AGENT:
            raise web.HTTPSeeOther("/supervisor")
        return self._page("agent.html", request, session, who, queues=sorted(who.queues),
                          # what a wrap-up may be given, by what the line said (the domain's table)
                          dispositions={result.value: [d.value for d in CompletionStatus if d in allowed]
                                        for result, allowed in DISPOSITIONS_AFTER.items()})

    async def supervisor(self, request: web.Request) -> web.StreamResponse:
        found = await self.viewer(request)
        if found is None:
            raise web.HTTPSeeOther("/login")
        session, who = found
        if who.role is Role.AGENT:
            response = aiohttp_jinja2.render_template("forbidden.html", request, {"who": who})
            response.set_status(403)
            return response
        # the reports' columns under the seeds' headings, for the page's preview (the CSV has the same)
        columns = {"scheduled-callbacks": SCHEDULED_COLUMNS,
                   "completed-callbacks": [c for c in COMPLETED_COLUMNS if c[0] != "attempts"]}
        return self._page("supervisor.html", request, session, who, report_columns=columns,
                          report_max_rows=MAX_REPORT_ROWS)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """One stream per page: `changed` whenever the book moved on, comments to keep it open, an end at
        shutdown."""
        if await self.viewer(request) is None:
            raise web.HTTPUnauthorized(text="log in first")
        changes = request.app[CHANGES_KEY]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        seen = changes.version
        await response.write(f"retry: 2000\nevent: changed\ndata: {seen}\n\n".encode())
        with contextlib.suppress(ConnectionResetError):
            while not changes.closing.is_set():
                version = await changes.next(seen, KEEPALIVE)
                if changes.closing.is_set():
                    break
                if version > seen:
                    seen = version
                    await response.write(f"event: changed\ndata: {seen}\n\n".encode())
                else:
                    await response.write(b": keepalive\n\n")
        return response


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"


@web.middleware
async def page_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """The pages load only what the daemon serves, in no other site's frame."""
    response = await handler(request)
    if response.content_type in ("text/html", "image/svg+xml"):
        # A chart opened on its own is a document too: it runs nothing and loads nothing.
        response.headers.setdefault("Content-Security-Policy", CSP if response.content_type == "text/html"
                                    else CHART_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def add_pages(app: web.Application, admin: Admin, sessions: Sessions, changed: asyncio.Event | None) -> None:
    """The pages, their templates and static files, on the admin API's application; `changed` is set when the
    book changed (the composition root listens to PostgreSQL's notifications; None: nothing tells the pages)."""
    pages = Pages(admin, sessions)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app[aiohttp_jinja2.static_root_key] = "/static"
    app[SESSIONS_KEY] = sessions
    app[CHANGES_KEY] = changes = Changes(live=changed is not None)

    async def feeding(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(changes.feed(changed or asyncio.Event(), admin.monitor.next_change),
                                   name="page-changes-feed")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    app.cleanup_ctx.append(feeding)
    app.router.add_get("/", pages.home)
    app.router.add_get("/login", pages.login_form)
    app.router.add_post("/login", pages.login)
    app.router.add_post("/logout", pages.logout)
    app.router.add_get("/agent", pages.agent)
    app.router.add_get("/supervisor", pages.supervisor)
    app.router.add_get("/events", pages.events)
    add_charts(app, admin, pages.viewer)
    app.router.add_static("/static", HERE / "static", append_version=True)

    async def closing(_: web.Application) -> None:
        await changes.close()  # the streams end at once, and the server's shutdown does not wait for them
    app.on_shutdown.append(closing)
