"""What a store raises that is not a bug of the request. Rule: StoreUnavailable means "the same call may
succeed later", and nothing else ever means that."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store cannot be reached right now: PostgreSQL is down, restarting or refusing connections, or the
    connection dropped under a statement. A fault of the infrastructure, not of the request: the same call
    may succeed once the store answers again (the daemon's tasks retry it with backoff, see
    cbdialer.supervision). Errors that are bugs (bad SQL, a violated constraint, ...) are never this.

    A statement whose connection dropped may or may not have been committed: the caller cannot tell which.
    Callers rely on every state change being a guarded statement (`WHERE state = $expected`, the first end
    of an attempt wins, ...), so that repeating one that did commit changes nothing."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key was used before with a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was used before with a different request")
        self.key = key


class SlotFull(Exception):
    """The time slot has as many active callbacks as its capacity: the booking was not written."""


class CallerLimitReached(Exception):
    """The queue has its max_caller_callbacks pending: the caller's callback was not written."""
