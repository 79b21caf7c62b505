"""Schemathesis over the OpenAPI document the daemon serves (issue 5): for bounded examples of every
operation, no server error and no response that the document does not allow. CBDIALER_FUZZ_EXAMPLES sets
the examples per operation (6 in the suite; a longer hunt: 200)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cbdialer.adapters.db import Database
from cbdialer.adapters.http import make_app, serve
from cbdialer.adapters.http.app import OPENAPI_KEY
from cbdialer.domain.access import Role
from cbdialer.domain.models import Agent, Queue
from cbdialer.services import Admin
from tests.conftest import _admin, _unique, url_for


class ServedApi:
    """The admin API on a database of its own, served by a thread's event loop (schemathesis calls it over
    real HTTP, synchronously, from the test's thread)."""

    def __init__(self, template: str) -> None:
        self.name = _unique("fuzz")
        self.template = template
        self.ready = threading.Event()
        self.port = 0
        self.token = ""
        self.failure: BaseException | None = None
        self.loop = asyncio.new_event_loop()
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name="fuzzed-api", daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.failure = exc
            self.ready.set()

    async def _serve(self) -> None:
        self.stop = asyncio.Event()
        await _admin(f"CREATE DATABASE {self.name} TEMPLATE {self.template}")
        db = await Database.connect(url_for(self.name))
        try:
            store = db.store()
            await store.save_queue(Queue(id="sales", name="Sales"))
            await store.upsert_agent(Agent(id="1001", dial_string="PJSIP/agent-1001", queues=frozenset({"sales"})))
            admin = Admin(store, lambda: datetime.now(UTC))
            self.token = await admin.tokens.issue_token(Role.ADMIN)

            def started(port: int) -> None:
                self.port = port
                self.ready.set()
            await serve(make_app(admin), "127.0.0.1", 0, self.stop, started)
        finally:
            await db.close()
            await _admin(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")

    def __enter__(self) -> ServedApi:
        self.thread.start()
        if not self.ready.wait(30) or self.failure is not None:
            raise RuntimeError(f"the API did not start: {self.failure!r}")
        return self

    def __exit__(self, *_: object) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)
        self.loop.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def served(template_database: str) -> Iterator[ServedApi]:
    with ServedApi(template_database) as api:
        yield api


def document() -> dict:
    """The document the app serves, built as make_app builds it (no database needed to build it)."""
    return make_app(Admin(None, lambda: datetime.now(UTC)))[OPENAPI_KEY]  # type: ignore[arg-type]


# Loaded at import: schemathesis's lazy fixture loader does not work with pytest 9.
schema = schemathesis.openapi.from_dict(document())


def test_the_served_document_is_the_one_fuzzed(served: ServedApi) -> None:
    with urllib.request.urlopen(f"{served.base_url}/api/v1/openapi.json", timeout=10) as response:
        assert json.load(response) == json.loads(json.dumps(document(), default=str))


@schema.parametrize()
# Derandomised: the same examples on every run of CI (schemathesis's negative checks read a query value such as
# agent=168 as the integer it generated, and an Authorization it removed as absent, so a random run can fail
# on its own mistakes); raise CBDIALER_FUZZ_EXAMPLES, or set CBDIALER_FUZZ_RANDOM=1, to explore further.
@settings(max_examples=int(os.environ.get("CBDIALER_FUZZ_EXAMPLES", "6")), deadline=None,
          suppress_health_check=list(HealthCheck), database=None,
          derandomize=os.environ.get("CBDIALER_FUZZ_RANDOM") != "1")
def test_no_server_error_and_every_response_as_documented(case: schemathesis.Case, served: ServedApi) -> None:
    # Every default check but "schema-valid data is accepted": input the document allows may still break a
    # domain rule (an unknown queue, a number that is not a telephone number), which is a 422 naming the field.
    case.call_and_validate(base_url=served.base_url, headers={"Authorization": f"Bearer {served.token}"},
                           excluded_checks=[positive_data_acceptance])
