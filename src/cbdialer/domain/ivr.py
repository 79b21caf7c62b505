"""The caller-callback IVR's decisions (docs/design.md section 14), pure: which queue a caller left, whether the
offer may be made, which number, which slots, whether a recording is kept, and when the caller joined. Rule:
nothing here reads the line, the store or the clock; the flow (services/caller_requests.py) asks and acts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum

from cbdialer.domain.models import Queue, QueueStatus
from cbdialer.domain.numbers import caller_as_e164, caller_withheld
from cbdialer.domain.slots import Slot

# RECORD FILE's end position is in samples (8 kHz for the wav of a phone call): under 1.5 s is a caller who
# pressed # at once, or said nothing (a recording ended by its 3 s of silence keeps about 1 s of it).
MIN_RECORDING_SAMPLES = 12000
SLOTS_OFFERED = 3
NUMBER_TRIES = 3
MAX_KEYED_DIGITS = 20


class Result(StrEnum):
    """What the dialplan does after the IVR (the channel variable CBDIALER_RESULT)."""

    CALLBACK = "callback"  # a callback was stored: thank the caller and hang up
    QUEUE = "queue"  # back into the queue at the caller's position (QUEUEPOSITION)


class Refusal(StrEnum):
    """Why the offer is not made: the caller goes back to the queue."""

    NO_QUEUE = "no_queue"  # no cbdialer queue serves the Asterisk queue
    STOPPED = "stopped"
    FULL = "max_caller_callbacks"


def serving_queue(queues: Iterable[Queue], asterisk_queue: str) -> Queue | None:
    """The cbdialer queue whose `asterisk_queue` names this app_queue queue (case-insensitive, as Asterisk's queue
    names are): of several, the first by id that is not terminated."""
    wanted = asterisk_queue.strip().casefold()
    serving = sorted((q for q in queues if wanted and q.settings.asterisk_queue.strip().casefold() == wanted
                      and q.status is not QueueStatus.TERMINATED), key=lambda q: q.id)
    return serving[0] if serving else None


def refusal(queue: Queue | None, pending_caller_callbacks: int, *, has_pending_of_caller: bool) -> Refusal | None:
    """Why the offer may not be made now, or None. A caller who already has a pending one may always ask again
    (the second request updates the first, domain/caller.py)."""
    if queue is None:
        return Refusal.NO_QUEUE
    if queue.status is not QueueStatus.ACTIVE and queue.status is not QueueStatus.OFF_SCHEDULE:
        return Refusal.STOPPED
    if pending_caller_callbacks >= queue.settings.max_caller_callbacks and not has_pending_of_caller:
        return Refusal.FULL
    return None


def presented_number(caller_number: str, presentation: str, *, default_region: str | None) -> str | None:
    """The caller's own number in E.164 if they may confirm it (presented, and a number that can be called)."""
    if caller_withheld(caller_number, presentation):
        return None
    return caller_as_e164(caller_number, default_region=default_region)


def keyed_number(digits: str, *, default_region: str | None) -> str | None:
    """A number the caller keyed in: national (in `default_region`), international with 00, or international
    without a prefix; None if it is no valid number. `*` stands for + (a phone has no + key)."""
    digits = digits.strip()
    if digits.startswith("*"):
        digits = "+" + digits[1:]
    elif digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits or not digits.lstrip("+").isdigit():
        return None
    return caller_as_e164(digits, default_region=default_region)


def free_slots(listed: Sequence[tuple[Slot, int]], now: datetime, count: int = SLOTS_OFFERED) -> list[Slot]:
    """The first `count` slots that start after `now` and have room."""
    return [s for s, booked in sorted(listed, key=lambda item: item[0].start)
            if s.start > now and booked < s.capacity][:count]


def recording_kept(end_position: int) -> bool:
    return end_position >= MIN_RECORDING_SAMPLES


def joined_from_variable(text: str | None) -> datetime | None:
    """CBDIALER_JOINED as the dialplan sets it (`${STRFTIME(,,%s.%3q)}`: epoch seconds with milliseconds)."""
    if not text:
        return None
    try:
        seconds = float(text.strip())
    except ValueError:
        return None
    if not 0 < seconds < 1e11:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def place_of(joined: datetime | None, variable: datetime | None, now: datetime) -> datetime:
    """The caller's place: what the live queue remembers, else the dialplan's variable, else now (never later)."""
    for candidate in (joined, variable):
        if candidate is not None:
            return min(candidate, now)
    return now
