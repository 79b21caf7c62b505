"""The limits of a value, declared once on the field they bound (`field(metadata=bounded(...))`). Rule: plain
values that any layer can read without a library: the domain checks them (models.check_bounds), the admin
API generates its input model and OpenAPI document from them (adapters/http/derive.py)."""

from __future__ import annotations

from dataclasses import Field, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Bounds:
    """The limits of one value, declared once on the field they bound (`field(metadata=bounded(...))`): the
    domain checks them on construction, and the admin API's input model and OpenAPI document are generated
    from them (plain values: no library needed to read them). Numbers: `gt`, `ge`, `le`. Text: `min_length`,
    `max_length` in characters; a tuple: in items, each bounded by `items`. `note` ends the message."""

    gt: int | float | None = None
    ge: int | float | None = None
    le: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    items: Bounds | None = None
    note: str = ""

    @property
    def numeric(self) -> bool:
        return self.gt is not None or self.ge is not None or self.le is not None

    def problem(self, value: object, *, upper: bool = True) -> str | None:
        """What is wrong with `value` by these bounds, in words (an InvalidValue's message), or None. With
        `upper=False`, only what makes the value meaningless (its type and lower bounds) is checked."""
        if self.numeric:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return "must be a number"
            # Written as "not within" so that NaN is out of every bound.
            note = f" ({self.note})" if self.note else ""
            if self.gt is not None and not value > self.gt:
                return f"must be greater than {self.gt}{note}"
            if self.ge is not None and not value >= self.ge:
                return ("must not be negative" if self.ge == 0 else f"must be at least {self.ge}") + note
            if upper and self.le is not None and not value <= self.le:
                return f"must be at most {self.le}"
        if self.min_length is None and self.max_length is None and self.items is None:
            return None
        if not isinstance(value, str | tuple | list):
            return "must be text or a list"
        unit = "characters" if isinstance(value, str) else "items"
        if self.min_length is not None and len(value) < self.min_length:
            return "must not be empty" if self.min_length == 1 else f"must have at least {self.min_length} {unit}"
        if upper and self.max_length is not None and len(value) > self.max_length:
            return f"must have at most {self.max_length} {unit}"
        if self.items is not None and not isinstance(value, str):
            for item in value:
                if (wrong := self.items.problem(item, upper=upper)) is not None:
                    return f"each item {wrong}"
        return None


BOUNDS = "bounds"  # the key of a field's Bounds in its dataclass metadata


def bounded(**limits: Any) -> dict[str, Bounds]:
    """A dataclass field's metadata that bounds it: `field(default=60, metadata=bounded(gt=0))`."""
    return {BOUNDS: Bounds(**limits)}


def bounds_of(f: Field[Any]) -> Bounds | None:
    return f.metadata.get(BOUNDS)
