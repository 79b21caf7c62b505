"""What the scheduler needs of the dialer and of the agent board. Rule: the scheduler decides, the dialer
carries out; routing sees one consistent view of the agents per decision."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Protocol

from cbdialer.domain.models import Callback, Queue
from cbdialer.domain.routing import AgentPool, AgentView, EnqueueForAgent, Offer
from cbdialer.ports.agents import AgentRecord


class DialerPort(Protocol):
    def present(self, callback: Callback, queue: Queue, decision: Offer | EnqueueForAgent, *,
                now: datetime) -> Awaitable[None]:
        """Take a queued callback leased to this process and offer it to the chosen agent (or keep it in
        that agent's callback queue). From here on the dialer owns its transitions. What routing the next
        callback must see (the agent taken, the dial slot used) is settled when this is called; the awaitable
        it returns does the I/O, and may run beside other callbacks' I/O."""
        ...

    async def recover(self, callback: Callback, queue: Queue, *, now: datetime) -> bool:
        """An in-progress callback whose holder died is now ours: re-attach to its call if it is still on
        the line, or end the attempt as of unknown outcome. False if this dialer cannot tell; the
        scheduler then applies the unknown outcome itself."""
        ...

    async def place_reached(self, callback: Callback, queue: Queue) -> bool:
        """For a caller's callback that keeps a place (domain/place.py): whether no caller who joined the
        Asterisk queue earlier still waits and no earlier one is pending."""
        ...

    def wait_for_place(self, callback: Callback, *, now: datetime) -> Awaitable[None]:
        """It stays queued until its place is reached (the dialer makes it due then)."""
        ...


class AgentDirectory(Protocol):
    async def pool_for(self, queue: Queue, callback: Callback) -> Sequence[AgentView] | AgentPool:
        """Who could take `callback` of `queue` right now: presence, readiness, and each agent's own callback
        queue as this callback sees it (only those that joined before it count as ahead of it)."""
        ...

    def free_agents(self) -> int | None:
        """How many callbacks could be offered now (None: not known yet); claims are sized to it."""
        ...

    def next_free_at(self) -> datetime | None:
        """When the end of a wrap-up or a reservation next frees an agent, if that is known."""
        ...


class AgentSource(Protocol):
    async def agents_of_queue(self, queue_id: str) -> list[AgentRecord]: ...
