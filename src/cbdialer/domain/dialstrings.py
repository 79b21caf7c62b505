"""Dial strings (an agent's phone, a queue's customer leg). Rule: a dial string that runs dialplan (a Local
channel, `Local/exten@context`) may reach only a context the operator allowed (CBDIALER_DIAL_CONTEXTS), so
that no one who may edit a queue or an agent can send calls into the PBX's own contexts."""

from __future__ import annotations

import re

from cbdialer.domain.models import InvalidValue

_LOCAL = re.compile(r"^Local/[^@/]*@([^/]+)", re.IGNORECASE)


def dial_context(dial_string: str) -> str | None:
    """The dialplan context a dial string reaches, or None if it dials a device (PJSIP/..., SIP/...)."""
    found = _LOCAL.match(dial_string.strip())
    return found[1] if found else None


def check_dial_string(field_name: str, dial_string: str, allowed: frozenset[str]) -> None:
    context = dial_context(dial_string)
    if dial_string.strip().lower().startswith("local/") and context is None:
        raise InvalidValue(field_name, "a Local channel must name its context: Local/exten@context")
    if context is not None and context not in allowed:
        shown = ", ".join(sorted(allowed)) or "none"
        raise InvalidValue(field_name, f"reaches the dialplan context {context!r}, which is not allowed "
                                       f"(allowed: {shown}; see CBDIALER_DIAL_CONTEXTS)")
