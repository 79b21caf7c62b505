"""The remark reaches the agent (seed 003): a short form of it is the caller name of the offer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cbdialer.domain.lifecycle import CallbackState
from cbdialer.domain.models import Callback, CallbackType
from cbdialer.domain.offer import CALLER_NAME_LENGTH, offer_caller_id, offer_caller_name

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def callback(remark: str) -> Callback:
    return Callback(id=uuid.uuid4(), queue_id="q", destination="+442079460012", type=CallbackType.STANDARD,
                    state=CallbackState.QUEUED, due_at=NOW, start_at=NOW, end_at=NOW + timedelta(hours=1),
                    created_at=NOW, remark=remark)


@pytest.mark.parametrize(("remark", "name"), [
    ("", "CB"),
    ("asked for the manager", "CB asked for the manager"),
    ('say "hi", <b>\r\nnow\\', "CB say hi b now"),
    ("x" * 100, "CB " + "x" * (CALLER_NAME_LENGTH - 6) + "..."),
    ("rappeler après 14h \u202etxet", "CB rappeler apres 14h txet"),
])
def test_the_caller_name_is_the_remark_made_short_and_safe(remark: str, name: str) -> None:
    assert offer_caller_name(callback(remark)) == name
    assert len(name) <= CALLER_NAME_LENGTH


def test_the_caller_id_carries_the_contacts_number() -> None:
    assert offer_caller_id(callback("renewal")) == '"CB renewal" <+442079460012>'
