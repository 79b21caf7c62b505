"""What cbdialer tells its operator's metrics as things happen (issue 15; README "Operating cbdialer"). Rule: an
observation is a plain call that never waits, never fails and never reads the database; NO_METRICS drops every
one (tests of the core, and anything run without the daemon)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

# The phases of a callback's call that are timed: the agent's phone offered until answered, the customer
# dialled until answered, the customer talked to until the line's result.
CallPhase = Literal["offer_to_answer", "dial_to_answer", "talk"]
CALL_PHASES: tuple[CallPhase, ...] = ("offer_to_answer", "dial_to_answer", "talk")


class Metrics(Protocol):
    def offer_sent(self, queue: str, lateness: float) -> None:
        """An Originate sent for a callback `lateness` seconds after it fell due."""

    def originate_refused(self, queue: str) -> None:
        """An Originate not sent (the link down) or refused by Asterisk: nobody was dialled."""

    def call_phase(self, queue: str, phase: CallPhase, seconds: float) -> None: ...

    def attempt_ended(self, queue: str, status: str) -> None:
        """An attempt ended with this completion status."""

    def held(self, reason: str) -> None:
        """A due callback held back or skipped, by the reason it was given (restricted_time, postponed...)."""

    def claimed(self, seconds: float, count: int) -> None:
        """One claim of due callbacks: how long it took and how many it took."""

    def ami_connected(self) -> None:
        """The AMI link came up (the first time, or again after a drop: a reconnect)."""

    def caller_requested(self, queue: str) -> None:
        """A caller asked for a callback from a queue (the IVR's offer)."""

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None: ...

    def loop_lag(self, seconds: float) -> None:
        """How late the event loop ran a timer: how far behind the daemon is."""


class NoMetrics:
    """Every observation dropped."""

    def offer_sent(self, queue: str, lateness: float) -> None: ...
    def originate_refused(self, queue: str) -> None: ...
    def call_phase(self, queue: str, phase: CallPhase, seconds: float) -> None: ...
    def attempt_ended(self, queue: str, status: str) -> None: ...
    def held(self, reason: str) -> None: ...
    def claimed(self, seconds: float, count: int) -> None: ...
    def ami_connected(self) -> None: ...
    def caller_requested(self, queue: str) -> None: ...
    def http_request(self, method: str, route: str, status: int, seconds: float) -> None: ...
    def loop_lag(self, seconds: float) -> None: ...


NO_METRICS: Metrics = NoMetrics()
# A scrape: the body and its content type (the Prometheus adapter's exposition).
Exposition = Callable[[], tuple[bytes, str]]
