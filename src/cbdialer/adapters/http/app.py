"""The admin API over aiohttp (docs/design.md section 13): the request pipeline and the application. Rule: one
table of routes (routes/, one module per resource; its types in table.py), each row with its body, query
and response models and the permission-checked service call it makes; validation, errors, authentication
and the OpenAPI document all come from that table. Bad input is a 4xx naming the field and stores nothing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.openapi import openapi_document
from cbdialer.adapters.http.pages import PAGE_PATHS, add_pages, page_headers
from cbdialer.adapters.http.routes import DOCUMENTED, SERVED
from cbdialer.adapters.http.sessions import COOKIE, CSRF_HEADER, UNSAFE_METHODS, Sessions
from cbdialer.adapters.http.table import OPENAPI_KEY, Api, ApiError, Call, Route
from cbdialer.domain.access import AccessDenied, Principal
from cbdialer.domain.models import InvalidValue
from cbdialer.ports import IdempotencyConflict, StoreUnavailable
from cbdialer.ports.metrics import NO_METRICS, Exposition, Metrics
from cbdialer.services import Admin, Conflict, NotFound

PREFIX = "/api/v1"
MAX_BODY = 64 * 1024  # bytes; nothing the API takes comes near it
_log = structlog.get_logger("cbdialer.http")


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
        call = Call(api, request, who)
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


async def _principal(api: Api, sessions: Sessions, request: web.Request) -> Principal:
    """Who asks: the bearer token's principal, or, from a page, its session's (a write then needs the session's
    CSRF token, which no other site can read)."""
    header = request.headers.get("Authorization", "")
    cookie = request.cookies.get(COOKIE)
    if not header and cookie:
        session = sessions.read(cookie, datetime.now(UTC))
        who = await api.admin.tokens.authenticate_hash(session.token_hash) if session is not None else None
        if session is None or who is None or session.ended_by(who.sessions_ended_at):
            raise ApiError(401, "unauthorized", "the session has ended: log in again", "Cookie")
        if request.method in UNSAFE_METHODS and not sessions.csrf_ok(session, request.headers.get(CSRF_HEADER)):
            raise ApiError(403, "forbidden", "a write from a page needs its CSRF token", CSRF_HEADER)
        return who
    scheme, _, token = header.partition(" ")
    token = token.strip()
    # A token is URL-safe ASCII; anything else cannot be one (and must not reach the hash).
    who = await api.admin.tokens.authenticate(token) if scheme.lower() == "bearer" and token.isascii() else None
    if who is None:
        raise ApiError(401, "unauthorized", "a valid bearer token is required", "Authorization")
    return who


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _middleware(api: Api, public: set[str], sessions: Sessions) -> Any:
    @web.middleware
    async def handle(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        status = 500
        try:
            if route not in public:
                request[PRINCIPAL_KEY] = await _principal(api, sessions, request)
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
        except asyncio.CancelledError:
            status = 499  # the client went away (a page left while its event stream was open): nginx's code
            raise
        except Exception:
            _log.exception("http_request_failed", method=request.method, route=route)
            return _error(500, "internal", "the request failed; the server log has the details")
        finally:
            # A method outside HTTP's own is "other": a client's made-up word must not make a series of its own.
            method = request.method if request.method in _METHODS else "other"
            api.metrics.http_request(method, route, status, time.perf_counter() - started)
            # Never the Authorization header, nor the query string (it may carry a number being searched).
            _log.info("http_request", method=request.method, route=route, status=status,
                      ms=round((time.perf_counter() - started) * 1000, 1))
    return handle


def make_app(admin: Admin, *, presence: Callable[[str], str] | None = None,
             database_up: Callable[[], Awaitable[bool]] | None = None,
             ami_up: Callable[[], bool] | None = None,
             recordings_dir: Path | None = None, sessions: Sessions | None = None,
             changed: asyncio.Event | None = None, metrics: Metrics = NO_METRICS,
             exposition: Exposition | None = None) -> web.Application:
    """The admin API and the pages. `presence`: an agent's device state as the dialer heard it; `database_up`:
    a cheap check that PostgreSQL answers (without it /healthz reads the metrics); `ami_up`: whether the
    dialer's AMI link is up (without it /healthz says nothing of AMI); `recordings_dir`: where the callers'
    recordings are read (without it, GET /callbacks/{id}/recording is 404); `sessions`: the pages' sessions
    (default: a random key, 12 hours); `changed`: set when the book changed (the pages' live updates);
    `metrics` observes every request, `exposition` is the scrape of /metrics (without it, an empty one)."""
    api = Api(admin, presence or (lambda dial_string: "UNKNOWN"), database_up, ami_up, recordings_dir, metrics,
              exposition)
    sessions = sessions or Sessions(secrets.token_bytes(32), timedelta(hours=12))
    public = {route.full_path(PREFIX) for route in SERVED if route.public} | PAGE_PATHS | {"/static"}
    app = web.Application(client_max_size=MAX_BODY, middlewares=[page_headers, _middleware(api, public, sessions)])
    add_pages(app, admin, sessions, changed)
    for route in SERVED:
        if route.public and route.method == "GET":  # also HEAD, for the load balancers and monitors that probe
            app.router.add_get(route.full_path(PREFIX), _view(api, route))
        else:
            app.router.add_route(route.method, route.full_path(PREFIX), _view(api, route))
    app[OPENAPI_KEY] = openapi_document(DOCUMENTED, PREFIX)
    return app


async def serve(app: web.Application, host: str, port: int, stop: asyncio.Event,
                started: Callable[[int], None] | None = None, *, tls_cert_file: Path | None = None,
                tls_key_file: Path | None = None) -> None:
    """Serve `app` until `stop`; `started` gets the bound port (useful with port 0). With `tls_cert_file` (the
    certificate chain, PEM) and `tls_key_file` (its private key), over HTTPS only; a pair that cannot be loaded
    is an error before anything listens."""
    import ssl  # here, not at the top: only this function serves TLS

    ssl_context: ssl.SSLContext | None = None
    if (tls_cert_file is None) != (tls_key_file is None):
        raise ValueError("admin API HTTPS needs both a certificate file and a key file "
                         "(CBDIALER_HTTP_TLS_CERT_FILE, CBDIALER_HTTP_TLS_KEY_FILE)")
    if tls_cert_file is not None and tls_key_file is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ssl_context.load_cert_chain(tls_cert_file, tls_key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"admin API HTTPS: cannot load the certificate {tls_cert_file} "
                             f"(CBDIALER_HTTP_TLS_CERT_FILE) with the key {tls_key_file} "
                             f"(CBDIALER_HTTP_TLS_KEY_FILE): {exc}") from None
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        _log.info("admin_api_listening", host=host, port=bound, scheme="https" if ssl_context else "http")
        if started is not None:
            started(bound)
        await stop.wait()
    finally:
        await runner.cleanup()


__all__ = ["MAX_BODY", "OPENAPI_KEY", "PREFIX", "make_app", "serve"]
