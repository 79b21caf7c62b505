"""Keeping a caller's place (docs/design.md section 14; VICIdial's in-group callback rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cbdialer.domain.models import InvalidValue
from cbdialer.domain.place import joined_at_of, place_reached

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_a_caller_callback_waits_for_everyone_who_joined_before_it() -> None:
    assert not place_reached(T0, waiting_since=[T0 - S, T0 + S], earlier_pending=[])
    assert place_reached(T0, waiting_since=[T0 + S, T0 + 5 * S], earlier_pending=[])
    assert place_reached(T0, waiting_since=[], earlier_pending=[])


def test_and_for_the_earlier_caller_callbacks_of_its_queue() -> None:
    assert not place_reached(T0, waiting_since=[], earlier_pending=[T0 - S])
    assert place_reached(T0, waiting_since=[], earlier_pending=[T0 + S])


def test_a_tie_goes_to_the_callback() -> None:
    assert place_reached(T0, waiting_since=[T0], earlier_pending=[T0])


def test_a_re_read_caller_is_never_put_behind_a_callback_of_the_same_second() -> None:
    read_at = T0 + timedelta(seconds=30, milliseconds=900)
    joined = joined_at_of(read_at, 30)  # QueueStatus's Wait is whole seconds
    assert joined <= T0 + timedelta(milliseconds=900) and T0 - joined <= 2 * S
    assert not place_reached(T0 + timedelta(milliseconds=950), waiting_since=[joined], earlier_pending=[])


def test_times_must_be_aware() -> None:
    with pytest.raises(InvalidValue):
        place_reached(T0.replace(tzinfo=None), waiting_since=[], earlier_pending=[])
