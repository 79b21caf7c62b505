"""The http adapter: the admin API (aiohttp + pydantic). Only this package imports aiohttp."""

from cbdialer.adapters.http.app import MAX_BODY, PREFIX, make_app, serve
from cbdialer.adapters.http.sessions import Sessions

__all__ = ["MAX_BODY", "PREFIX", "Sessions", "make_app", "serve"]
