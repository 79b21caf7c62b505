"""The pages' sessions (docs/design.md section 15). Rule: a session is the API token it was opened with, in a
cookie signed with the server's secret and an expiry; every request through it is authenticated as that token
is, so that a page can do exactly what the API lets its token do. A write through a session also needs the
session's CSRF token (a header, or a form field), which another site cannot read: cross-site posts fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

COOKIE = "cbdialer_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Session:
    token: str
    expires: datetime
    csrf: str


class Sessions:
    """Opens and reads sessions. `secret`: the key the cookies are signed with (CBDIALER_SESSION_SECRET; without
    it a random one per process, so that a restart ends every session)."""

    def __init__(self, secret: bytes, lifetime: timedelta) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self.lifetime = lifetime

    def _sign(self, *parts: str) -> str:
        digest = hmac.new(self._secret, "\x1f".join(parts).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def open(self, token: str, now: datetime) -> str:
        """The cookie's value for a session of `token` from `now`."""
        expires = str(int((now + self.lifetime).timestamp()))
        return f"{token}.{expires}.{self._sign('session', token, expires)}"

    def read(self, cookie: str, now: datetime) -> Session | None:
        """The session a cookie holds, or None if it is forged, damaged or expired."""
        body, _, signature = cookie.rpartition(".")
        token, _, expires = body.rpartition(".")
        if not token or not expires.isdigit() or not token.isascii():
            return None
        if not hmac.compare_digest(signature, self._sign("session", token, expires)):
            return None
        expiry = datetime.fromtimestamp(int(expires), tz=now.tzinfo)
        if expiry <= now:
            return None
        return Session(token=token, expires=expiry, csrf=self._sign("csrf", token, expires))

    def csrf_ok(self, session: Session, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(session.csrf, offered)
