"""The queues: create, read, change the settings, start and stop (their metrics: routes/monitor.py)."""

from __future__ import annotations

from typing import Any

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.table import Call, Route
from cbdialer.domain.codec import settings_to_dict
from cbdialer.domain.models import Queue
from cbdialer.services import queue_status


def queue_out(call: Call, queue: Queue) -> m.QueueOut:
    return m.QueueOut(id=queue.id, name=queue.name, status=queue_status(queue, call.admin.clock()),
                      skills=sorted(queue.skills), settings=settings_to_dict(queue.settings))


async def create_queue(call: Call) -> Any:
    body: m.QueueIn = call.body
    queue = await call.admin.queues.create_queue(call.principal, id=body.id, name=body.name, settings=body.given(),
                                                 skills=frozenset(body.skills))
    return 201, queue_out(call, queue)


async def list_queues(call: Call) -> Any:
    return [queue_out(call, q) for q in await call.admin.queues.queues(call.principal)]


async def get_queue(call: Call) -> Any:
    return queue_out(call, await call.admin.queues.queue(call.principal, call.param("id")))


async def patch_queue(call: Call) -> Any:
    body: m.QueuePatch = call.body
    queue = await call.admin.queues.update_queue(call.principal, call.param("id"), name=body.name,
                                                 settings=body.given(),
                                                 skills=frozenset(body.skills) if body.skills is not None else None)
    return queue_out(call, queue)


async def start_queue(call: Call) -> Any:
    queue, moved = await call.admin.queues.run_queue(call.principal, call.param("id"), True)
    return m.QueueRunOut(queue=queue_out(call, queue), callbacks_moved=moved)


async def stop_queue(call: Call) -> Any:
    queue, moved = await call.admin.queues.run_queue(call.principal, call.param("id"), False)
    return m.QueueRunOut(queue=queue_out(call, queue), callbacks_moved=moved)


async def terminate_queue(call: Call) -> Any:
    queue, ended = await call.admin.queues.terminate_queue(call.principal, call.param("id"))
    return m.QueueRunOut(queue=queue_out(call, queue), callbacks_moved=ended)


_Q = "queues"

ROUTES = [
    Route("POST", "/queues", create_queue, "Create a queue", m.QueueOut, 201, body=m.QueueIn, tag=_Q),
    Route("GET", "/queues", list_queues, "The queues", list[m.QueueOut], tag=_Q),
    Route("GET", "/queues/{id}", get_queue, "A queue", m.QueueOut, tag=_Q),
    Route("PATCH", "/queues/{id}", patch_queue, "Change a queue's settings", m.QueueOut, body=m.QueuePatch, tag=_Q),
    Route("POST", "/queues/{id}/start", start_queue, "Start the queue's callbacks", m.QueueRunOut, tag=_Q),
    Route("POST", "/queues/{id}/stop", stop_queue, "Stop the queue's callbacks", m.QueueRunOut, tag=_Q),
    Route("POST", "/queues/{id}/terminate", terminate_queue,
          "Stop the queue for good: its waiting callbacks end as queue_terminated", m.QueueRunOut, tag=_Q),
]
