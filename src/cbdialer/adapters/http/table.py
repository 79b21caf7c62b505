"""The route table's types. Rule: a route is one row (method, path, models, the handler's service call); the
request pipeline (app.py) validates and answers from the row and the OpenAPI document (openapi.py) is written
from the rows, so what is checked and what is documented are the same thing. The rows live with their
resource, in routes/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from cbdialer.domain.access import Principal
from cbdialer.ports.metrics import NO_METRICS, Exposition, Metrics
from cbdialer.services import Admin

OPENAPI_KEY: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)


class ApiError(Exception):
    """An answer other than success, raised by the pipeline or a handler: `field` names what is at fault."""

    def __init__(self, status: int, error: str, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field_name


@dataclass
class Api:
    """What every handler shares: the services, what the daemon says of the agents' phones and of its links,
    and the process's metrics (every request observed; the scrape of /metrics)."""

    admin: Admin
    presence: Callable[[str], str]
    database_up: Callable[[], Awaitable[bool]] | None = None
    ami_up: Callable[[], bool] | None = None
    recordings_dir: Path | None = None  # where this host sees the callers' recordings (CBDIALER_RECORDINGS_DIR)
    metrics: Metrics = NO_METRICS
    exposition: Exposition | None = None  # None: this process keeps no metrics (/metrics is empty)


@dataclass
class Call:
    """One request, as a handler sees it: validated body and query, and who asks."""

    api: Api
    request: web.Request
    who: Principal | None
    body: Any = None
    query: Any = None

    @property
    def admin(self) -> Admin:
        return self.api.admin

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    def uuid(self, name: str = "id") -> UUID:
        try:
            return UUID(self.param(name))
        except ValueError:
            raise ApiError(404, "not_found", f"no callback {self.param(name)!r}") from None

    @property
    def principal(self) -> Principal:
        assert self.who is not None
        return self.who


# A handler answers with a payload (a model, a list of models, or None), a (status, payload) pair, or an
# aiohttp response of its own (CSV, Prometheus text).
Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # under the API's prefix (/api/v1) unless `prefixed` is false
    handler: Handler
    summary: str
    response: Any = None  # a model, list[model], or None (no body)
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    public: bool = False  # served without a token
    tag: str = "callbacks"
    headers: tuple[tuple[str, str], ...] = ()  # documented request headers: (name, description)
    produces_csv: bool = False
    produces_wav: bool = False  # the body is audio/wav (a caller's recording), not JSON
    path_formats: dict[str, str] = field(default_factory=dict)  # path parameter -> JSON schema format
    prefixed: bool = True

    def full_path(self, prefix: str) -> str:
        return prefix + self.path if self.prefixed else self.path
