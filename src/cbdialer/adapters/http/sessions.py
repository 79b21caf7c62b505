"""The pages' sessions (docs/design.md section 15). Rule: a session is the hash of the API token it was opened
with and when it was opened, in a cookie signed with the server's secret and an expiry (never the token
itself); every request through it is authenticated as that token is, so that a page can do exactly what the
API lets its token do; a logout ends the token's sessions opened until then, on every node. A write through a
session also needs the session's CSRF token (a header, or a form field), which another site cannot read:
cross-site posts fail."""

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
    token_hash: str
    opened: datetime
    expires: datetime
    csrf: str

    def ended_by(self, sessions_ended_at: datetime | None) -> bool:
        """Whether a logout (of this token, at `sessions_ended_at`) came after this session was opened."""
        return sessions_ended_at is not None and self.opened <= sessions_ended_at


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

    def open(self, token_hash: str, now: datetime) -> str:
        """The cookie's value for a session of the token of that hash, opened `now` (to the microsecond)."""
        opened, expires = str(int(now.timestamp() * 1_000_000)), str(int((now + self.lifetime).timestamp()))
        return f"{token_hash}.{opened}.{expires}.{self._sign('session', token_hash, opened, expires)}"

    def read(self, cookie: str, now: datetime) -> Session | None:
        """The session a cookie holds, or None if it is forged, damaged or expired."""
        parts = cookie.split(".")
        if len(parts) != 4 or not cookie.isascii():
            return None
        token_hash, opened, expires, signature = parts
        if not (opened.isdigit() and expires.isdigit() and len(opened) < 20 and len(expires) < 15):
            return None
        if not hmac.compare_digest(signature, self._sign("session", token_hash, opened, expires)):
            return None
        expiry = datetime.fromtimestamp(int(expires), tz=now.tzinfo)
        if expiry <= now:
            return None
        return Session(token_hash=token_hash, opened=datetime.fromtimestamp(int(opened) / 1_000_000, tz=now.tzinfo),
                       expires=expiry, csrf=self._sign("csrf", token_hash, opened, expires))

    def csrf_ok(self, session: Session, offered: str | None) -> bool:
        return offered is not None and offered.isascii() and hmac.compare_digest(session.csrf, offered)
