"""A caller's recording through the admin API on PostgreSQL (docs/design.md section 14): the callback shows its
URL, the URL serves the wav to whoever may read the callback, and every way there is none is a 404 naming
`recording`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from cbdialer.adapters.db import Database
from cbdialer.domain.access import COMMAND_LINE, Role
from cbdialer.domain.models import CallbackOrigin, CallbackType
from tests.support.api_client import Api, open_api

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)


@pytest.fixture
async def api(db: Database, tmp_path: Path) -> AsyncIterator[Api]:
    async for opened in open_api(db, recordings_dir=tmp_path):
        opened.clock.daytime()
        yield opened


async def caller_callback(api: Api, number: str, recording: str | None) -> str:
    created, _ = await api.admin.callbacks.create_callback(
        COMMAND_LINE, queue="sales", destination=number, type=CallbackType.STANDARD, start_in=60,
        origin=CallbackOrigin.CALLER, joined_at=api.clock.now - timedelta(minutes=2), recording=recording)
    return str(created.id)


@pytest.mark.parametrize("who", ["admin", "supervisor", "agent1001"])
async def test_the_recording_is_served_to_whoever_may_read_the_callback(api: Api, tmp_path: Path, who: str) -> None:
    (tmp_path / "abc.wav").write_bytes(WAV)
    callback_id = await caller_callback(api, "+442079460012", "/var/spool/asterisk/cbdialer-recordings/abc")
    shown = await api.call("GET", f"/callbacks/{callback_id}", who, expect=200)
    assert shown["recording"] == f"/api/v1/callbacks/{callback_id}/recording"
    response = await api.client.get(shown["recording"], headers=api.auth(who))
    assert response.status == 200 and response.content_type == "audio/wav"
    assert await response.read() == WAV


async def test_an_agent_who_may_not_see_the_callback_gets_nothing(api: Api, tmp_path: Path) -> None:
    (tmp_path / "abc.wav").write_bytes(WAV)
    callback_id = await caller_callback(api, "+442079460012", "/var/spool/asterisk/cbdialer-recordings/abc")
    support_agent = await api.admin.tokens.issue_token(Role.AGENT, "1003")  # serves support, not sales
    response = await api.client.get(f"/api/v1/callbacks/{callback_id}/recording",
                                    headers={"Authorization": f"Bearer {support_agent}"})
    same = await api.client.get(f"/api/v1/callbacks/{callback_id}",
                                headers={"Authorization": f"Bearer {support_agent}"})
    assert response.status == same.status and response.status in (403, 404)


async def test_no_recording_no_file_or_no_directory_is_404_naming_recording(api: Api, db: Database) -> None:
    none = await caller_callback(api, "+442079460012", None)
    shown = await api.call("GET", f"/callbacks/{none}", expect=200)
    assert shown["recording"] is None
    missing = await caller_callback(api, "+442079460013", "/var/spool/asterisk/cbdialer-recordings/gone")
    escaping = await caller_callback(api, "+442079460014", "/var/spool/asterisk/cbdialer-recordings/../../etc/passwd")
    for callback_id in (none, missing, escaping):
        body = await api.call("GET", f"/callbacks/{callback_id}/recording", expect=404)
        assert body["field"] == "recording"
    async for bare in open_api(db):
        body = await bare.call("GET", f"/callbacks/{missing}/recording", expect=404)
        assert body["field"] == "recording" and "CBDIALER_RECORDINGS_DIR" in body["message"]


async def test_only_a_callers_callback_has_a_recording(api: Api) -> None:
    with pytest.raises(Exception, match="recording"):
        await api.admin.callbacks.create_callback(COMMAND_LINE, queue="sales", destination="+442079460012",
                                                  type=CallbackType.STANDARD, start_in=60, recording="/x/y")
