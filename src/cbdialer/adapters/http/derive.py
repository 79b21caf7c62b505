"""pydantic input fields from a domain dataclass (models.QueueSettingsIn from domain.models.QueueSettings).
Rule: a field's JSON name, type and limits are the dataclass's own (its annotation, and the domain's Bounds in
its metadata); nothing is restated here. A type that is not a number, a bool, a str, an Enum or a tuple of
those needs an explicit model, given in `nested`."""

from __future__ import annotations

import dataclasses
import typing
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from cbdialer.domain.bounds import Bounds, bounds_of

_NUMBER = ("gt", "ge", "le")
_LENGTH = ("min_length", "max_length")


def _given(bounds: Bounds | None, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: value for name in names if bounds is not None and (value := getattr(bounds, name)) is not None}


def input_type(name: str, hint: Any, bounds: Bounds | None, nested: dict[Any, type[BaseModel]]) -> Any:
    """The JSON input type of a field of the domain's type `hint` within `bounds`."""
    if hint in nested:
        return nested[hint]
    if typing.get_origin(hint) is tuple:  # tuple[X, ...] is a JSON array
        item = input_type(name, typing.get_args(hint)[0], bounds.items if bounds else None, nested)
        lengths = _given(bounds, _LENGTH)
        return Annotated[list[item], Field(**lengths)] if lengths else list[item]  # type: ignore[valid-type]
    if hint in (int, float) and _given(bounds, _NUMBER):
        return Annotated[hint, Field(**_given(bounds, _NUMBER))]
    if hint is str and _given(bounds, _LENGTH):
        return Annotated[str, StringConstraints(**_given(bounds, _LENGTH))]
    if hint in (int, float, bool, str) or (isinstance(hint, type) and issubclass(hint, Enum)):
        return hint
    raise TypeError(f"{name}: no JSON input for {hint!r}; give it an explicit model in `nested`")


def optional_fields(cls: type, nested: dict[Any, type[BaseModel]]) -> dict[str, tuple[Any, None]]:
    """Every field of the dataclass `cls`, for pydantic.create_model, each optional (absent or null: not given)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[Any, None]] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if type(None) in typing.get_args(hint):  # `str | None`: the value's type is str
            (hint,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
        out[f.name] = (typing.Optional[input_type(f.name, hint, bounds_of(f), nested)], None)  # noqa: UP007
    return out


def clearable(cls: type) -> frozenset[str]:
    """The fields whose default is None: for them (and only them) a null means "set back to None"."""
    return frozenset(f.name for f in dataclasses.fields(cls) if f.default is None)
