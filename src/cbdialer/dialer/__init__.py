"""The dialer, in rooms: core.py (offers, the attempt table's effects, the events), recovery.py (reconcile
and takeover), background.py (watchdog, state writer), inbound.py (cancel on an inbound call), live.py (what
is kept of a live call), waits.py (holds, waits, dial slots), turns.py and places.py (callers' turns). Rule: see
core.py."""

from cbdialer.dialer.core import ORDERED_EVENTS, Dialer
from cbdialer.dialer.live import CALLBACK_CONTEXT, RESULT_FAMILY, LiveAttempt

__all__ = ["CALLBACK_CONTEXT", "ORDERED_EVENTS", "RESULT_FAMILY", "Dialer", "LiveAttempt"]
