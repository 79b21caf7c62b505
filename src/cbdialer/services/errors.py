"""What a service refuses, besides the domain's InvalidValue and AccessDenied. Rule: no HTTP here; the http
adapter maps NotFound to 404, InvalidValue to 422, AccessDenied to 403 and Conflict to 409, and the command
line prints the message."""

from __future__ import annotations

from cbdialer.domain.access import AccessDenied

__all__ = ["AccessDenied", "Conflict", "NotFound"]


class NotFound(Exception):
    """No such thing, or not one this principal may see."""


class Conflict(Exception):
    """The request is valid, but the thing is not in a state that allows it."""
