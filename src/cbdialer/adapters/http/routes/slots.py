"""A queue's time slots with their bookings (docs/design.md sections 13 and 14); a slot is booked by
POST /callbacks with `slot`. The two bodies live here, beside their one route, in the API's words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.table import Call, Route


class SlotQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: m.QueryTime = Field(alias="from", description="the first slot starts at or after this")
    to: m.QueryTime = Field(description="the last slot starts before this; at most 31 days after `from`")


class SlotOut(BaseModel):
    start: datetime = Field(description="what POST /callbacks takes as `slot`")
    end: datetime
    capacity: int
    booked: int = Field(description="its active callbacks (a cancelled, purged or ended one frees its place)")


async def queue_slots(call: Call) -> Any:
    q: SlotQuery = call.query
    found = await call.admin.callbacks.slots(call.principal, call.param("id"), q.from_, q.to)
    return [SlotOut(start=s.start, end=s.end, capacity=s.capacity, booked=booked) for s, booked in found]


ROUTES = [
    Route("GET", "/queues/{id}/slots", queue_slots, "The queue's time slots in a period, with their bookings",
          list[SlotOut], query=SlotQuery, tag="queues"),
]
