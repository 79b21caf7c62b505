"""The do-not-call and exclusion lists: list, add and remove a number (normalised to E.164)."""

from __future__ import annotations

from typing import Any

from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.table import Call, Handler, Route
from cbdialer.services.lists import Listing


def _handlers(listing: Listing) -> tuple[Handler, Handler, Handler]:
    async def add(call: Call) -> Any:
        number = await call.admin.lists.add_number(call.principal, listing, call.param("number"))
        return 201, m.NumberOut(number=number, list=listing)

    async def remove(call: Call) -> Any:
        number = await call.admin.lists.remove_number(call.principal, listing, call.param("number"))
        return m.NumberOut(number=number, list=listing)

    async def listed(call: Call) -> Any:
        return [m.ListedNumberOut(**row) for row in await call.admin.lists.list_numbers(call.principal, listing)]
    return add, remove, listed


_add_dnc, _remove_dnc, _list_dnc = _handlers("dnc")
_add_excl, _remove_excl, _list_excl = _handlers("exclusions")
_LI = "lists"

ROUTES = [
    Route("GET", "/dnc", _list_dnc, "The do-not-call list", list[m.ListedNumberOut], tag=_LI),
    Route("POST", "/dnc/{number}", _add_dnc, "Add a number to the do-not-call list", m.NumberOut, 201, tag=_LI),
    Route("DELETE", "/dnc/{number}", _remove_dnc, "Remove a number from the do-not-call list", m.NumberOut, tag=_LI),
    Route("GET", "/exclusions", _list_excl, "The exclusion list", list[m.ListedNumberOut], tag=_LI),
    Route("POST", "/exclusions/{number}", _add_excl, "Add a number to the exclusion list", m.NumberOut, 201,
          tag=_LI),
    Route("DELETE", "/exclusions/{number}", _remove_excl, "Remove a number from the exclusion list", m.NumberOut,
          tag=_LI),
]
