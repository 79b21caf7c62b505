"""A queue setting's bounds, declared once on QueueSettings: the domain holds a value to its type and lower
bounds, the admin API's input model (generated from the same declaration) to all of them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cbdialer.adapters.http.models import QueueSettingsIn
from cbdialer.domain.codec import settings_from_dict, settings_to_dict
from cbdialer.domain.models import InvalidValue, QueueSettings


def test_a_stored_value_above_what_a_person_may_enter_is_still_read() -> None:
    # Written by an older version or past the API: the queue stays readable (and so editable).
    stored = settings_to_dict(QueueSettings()) | {"max_concurrent_calls": 200_000, "recall_intervals": [60] * 60}
    settings = settings_from_dict(stored)
    assert (settings.max_concurrent_calls, len(settings.recall_intervals)) == (200_000, 60)


def test_the_api_refuses_what_is_above_the_declared_bound() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 100000"):
        QueueSettingsIn.model_validate({"max_concurrent_calls": 200_000})
    assert QueueSettingsIn.model_validate({"max_concurrent_calls": 100_000}).given() == {"max_concurrent_calls": 100_000}


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"max_concurrent_calls": 0}, "max_concurrent_calls", "must be greater than 0"),
    ({"wrap_up_time": -1}, "wrap_up_time", "must not be negative"),
    ({"calls_per_second": 0.001}, "calls_per_second", "must be at least 0.01 (one call every 100 s)"),
    ({"recall_intervals": ()}, "recall_intervals", "must not be empty"),
    ({"recall_intervals": (60, 0)}, "recall_intervals", "each item must be greater than 0"),
    ({"retry_interval": True}, "retry_interval", "must be a number"),
])
def test_the_domain_refuses_a_meaningless_value_by_name(changes: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        QueueSettings(**changes)  # type: ignore[arg-type]
    assert (refused.value.field, refused.value.message) == (field, message)
