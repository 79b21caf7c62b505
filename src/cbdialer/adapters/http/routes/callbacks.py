"""The callbacks: schedule, search, edit, act on one (cancel, call now, purge, send to queue, disposition),
and read its attempts and audit trail (docs/design.md section 13)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.table import ApiError, Call, Route
from cbdialer.domain.lifecycle import location_of
from cbdialer.domain.models import Callback, CompletionStatus
from cbdialer.ports import CallbackQuery

PREFIX = "/api/v1"  # app.PREFIX (imported there from here would be circular)


def callback_out(c: Callback) -> m.CallbackOut:
    return m.CallbackOut(id=c.id, queue=c.queue_id, destination=c.destination, type=c.type, state=c.state,
                         reason=c.reason, due_at=c.due_at, start_at=c.start_at, end_at=c.end_at,
                         created_at=c.created_at, agent=c.agent_id, team=c.team_id, created_by=c.created_by,
                         customer_timezone=c.customer_timezone, remark=c.remark, attempts_count=c.attempts_count,
                         completion_status=c.completion_status, assigned_agent=c.assigned_agent,
                         call_now_agent=c.call_now_agent, origin=c.origin, joined_at=c.joined_at, slot=c.slot,
                         recording=f"{PREFIX}/callbacks/{c.id}/recording" if c.recording else None,
                         location=location_of(c.state))


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


async def create_callback(call: Call) -> Any:
    body: m.CallbackIn = call.body
    key = call.request.headers.get("Idempotency-Key")
    idempotency = None
    if key is not None:
        if not (1 <= len(key) <= 200 and key.isascii() and key.isprintable()):
            raise ApiError(422, "invalid_value", "must be 1 to 200 printable ASCII characters", "Idempotency-Key")
        idempotency = (key, hashlib.sha256(body.model_dump_json().encode()).hexdigest())
    created, new = await call.admin.callbacks.create_callback(
        call.principal, queue=body.queue, destination=body.destination, type=body.type, agent=body.agent,
        team=body.team, start_at=body.start_at, start_in=body.start_in, end_at=body.end_at,
        customer_timezone=body.customer_timezone, remark=body.remark, created_by=body.created_by,
        origin=body.origin, joined_at=body.joined_at, slot=body.slot, idempotency=idempotency)
    return (201 if new else 200), callback_out(created)


async def get_callback(call: Call) -> Any:
    return callback_out(await call.admin.callbacks.callback(call.principal, call.uuid()))


async def search_callbacks(call: Call) -> Any:
    q: m.CallbackSearch = call.query
    query = CallbackQuery(state=q.state, queue_id=q.queue, agent_id=q.agent, created_by=q.created_by,
                          destination=q.destination, created_from=q.created_from, created_to=q.created_to,
                          due_from=q.due_from, due_to=q.due_to,
                          after=decode_cursor(q.cursor) if q.cursor else None)
    found = await call.admin.callbacks.search(call.principal, query, limit=q.limit + 1)
    page = found[: q.limit]
    return m.CallbackPage(items=[callback_out(c) for c in page],
                          next_cursor=encode_cursor(page[-1]) if len(found) > q.limit else None)


async def edit_callback(call: Call) -> Any:
    changes = call.body.model_dump(exclude_unset=True)
    return callback_out(await call.admin.callbacks.edit_callback(call.principal, call.uuid(), changes))


async def cancel(call: Call) -> Any:
    return callback_out(await call.admin.callbacks.cancel(call.principal, call.uuid()))


async def call_now(call: Call) -> Any:
    return callback_out(await call.admin.callbacks.call_now(call.principal, call.uuid()))


async def purge(call: Call) -> Any:
    return callback_out(await call.admin.callbacks.purge(call.principal, call.uuid()))


async def send_to_queue(call: Call) -> Any:
    return callback_out(await call.admin.callbacks.send_to_queue(call.principal, call.uuid()))


async def disposition(call: Call) -> Any:
    body: m.DispositionIn = call.body
    await call.admin.callbacks.disposition(call.principal, call.uuid(), CompletionStatus(body.status),
                                           start_at=body.start_at, start_in=body.start_in, agent=body.agent)
    return 202, None


async def attempts(call: Call) -> Any:
    return [m.AttemptOut(id=a.id, agent=a.agent_id, started_at=a.started_at, ended_at=a.ended_at,
                         interaction_state=a.interaction_state, completion_status=a.completion_status,
                         dial_status=a.dial_status, hangup_cause=a.hangup_cause, amd_status=a.amd_status,
                         counted=a.counted)
            for a in await call.admin.callbacks.attempts(call.principal, call.uuid())]


async def history(call: Call) -> Any:
    return [m.HistoryOut(at=h.at, from_state=h.from_state, to_state=h.to_state, reason=h.reason, actor=h.actor,
                         due_at=h.due_at) for h in await call.admin.callbacks.history(call.principal, call.uuid())]


async def recording(call: Call) -> Any:
    """The caller's recording as audio/wav, for whoever may read the callback (the same access rule). The file
    is looked up by its name alone in CBDIALER_RECORDINGS_DIR, so a stored path cannot reach outside it."""
    callback = await call.admin.callbacks.callback(call.principal, call.uuid())
    if not callback.recording:
        raise ApiError(404, "not_found", f"callback {callback.id} has no recording", "recording")
    if call.api.recordings_dir is None:
        raise ApiError(404, "not_found", "this server reads no recordings (CBDIALER_RECORDINGS_DIR is unset)",
                       "recording")
    name = callback.recording.replace("\\", "/").rsplit("/", 1)[-1]
    path = call.api.recordings_dir / f"{name}.wav"
    if not name or not path.is_file():
        raise ApiError(404, "not_found", f"the recording file {name}.wav is not in the recordings directory",
                       "recording")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


_CB = "callbacks"
_UUID_ID = {"id": "uuid"}
_IDEMPOTENCY = (("Idempotency-Key", "makes a retried create safe: the same key returns the first callback (200) "
                                    "instead of creating another"),)

ROUTES = [
    Route("POST", "/callbacks", create_callback, "Schedule a callback", m.CallbackOut, 201, body=m.CallbackIn,
          tag=_CB, headers=_IDEMPOTENCY),
    Route("GET", "/callbacks", search_callbacks, "Search callbacks (newest first, cursor pages)", m.CallbackPage,
          query=m.CallbackSearch, tag=_CB),
    Route("GET", "/callbacks/{id}", get_callback, "A callback", m.CallbackOut, tag=_CB, path_formats=_UUID_ID),
    Route("PATCH", "/callbacks/{id}", edit_callback, "Edit or reschedule a waiting callback", m.CallbackOut,
          body=m.CallbackPatch, tag=_CB, path_formats=_UUID_ID),
    Route("POST", "/callbacks/{id}/cancel", cancel, "Cancel a callback", m.CallbackOut, tag=_CB,
          path_formats=_UUID_ID),
    Route("POST", "/callbacks/{id}/call-now", call_now,
          "Call now: due at once. An agent's call now is offered to that agent, or refused (409) saying why it "
          "may not dial now", m.CallbackOut, tag=_CB,
          path_formats=_UUID_ID),
    Route("POST", "/callbacks/{id}/purge", purge, "Purge a pending callback", m.CallbackOut, tag=_CB,
          path_formats=_UUID_ID),
    Route("POST", "/callbacks/{id}/send-to-queue", send_to_queue, "Send a pending callback to the queue",
          m.CallbackOut, tag=_CB, path_formats=_UUID_ID),
    Route("POST", "/callbacks/{id}/disposition", disposition,
          "The agent's disposition for the call in wrap-up (applied when the wrap-up ends)", None, 202,
          body=m.DispositionIn, tag=_CB, path_formats=_UUID_ID),
    Route("GET", "/callbacks/{id}/attempts", attempts, "The attempts of a callback", list[m.AttemptOut], tag=_CB,
          path_formats=_UUID_ID),
    Route("GET", "/callbacks/{id}/recording", recording, "The caller's recording (audio/wav)", None, tag=_CB,
          path_formats=_UUID_ID, produces_wav=True),
    Route("GET", "/callbacks/{id}/history", history, "The audit trail of a callback", list[m.HistoryOut], tag=_CB,
          path_formats=_UUID_ID),
]
