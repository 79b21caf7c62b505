"""Dial strings (an agent's phone, a queue's customer leg). Rule: a dial string names exactly one channel of
a technology the operator would use for phones and trunks (PJSIP, SIP, DAHDI, Local), with nothing Dial or
Originate would read as another channel or as options; and one that runs dialplan (a Local channel,
`Local/exten@context`) reaches only a context the operator allowed (CBDIALER_DIAL_CONTEXTS), so that no one who
may edit a queue or an agent can send calls into the PBX's own contexts."""

from __future__ import annotations

import re

from cbdialer.domain.models import InvalidValue

TECHNOLOGIES = frozenset({"pjsip", "sip", "dahdi", "local"})
# `&` adds a channel to Dial, brackets and quotes open options or arguments, white space ends the value.
_NOT_ONE_CHANNEL = re.compile(r"[&()\"'|\s]")
_LOCAL = re.compile(r"^Local/[^@/]*@([^/]+)(/[a-z]*)?$", re.IGNORECASE)


def dial_context(dial_string: str) -> str | None:
    """The dialplan context a Local dial string reaches, or None if it dials a device (PJSIP/..., SIP/...)."""
    found = _LOCAL.match(dial_string)
    return found[1] if found else None


def check_dial_string(field_name: str, dial_string: str, allowed: frozenset[str]) -> None:
    if _NOT_ONE_CHANNEL.search(dial_string):
        raise InvalidValue(field_name, "must be one channel: no &, spaces, quotes or brackets")
    technology = dial_string.split("/", 1)[0].lower()
    if technology not in TECHNOLOGIES:
        raise InvalidValue(field_name, f"must dial through {', '.join(sorted(t.upper() for t in TECHNOLOGIES))} "
                                       f"(not {dial_string.split('/', 1)[0]!r})")
    if technology != "local":
        return
    context = dial_context(dial_string)
    if context is None:
        raise InvalidValue(field_name, "a Local channel must name its context: Local/exten@context")
    if context not in allowed:
        shown = ", ".join(sorted(allowed)) or "none"
        raise InvalidValue(field_name, f"reaches the dialplan context {context!r}, which is not allowed "
                                       f"(allowed: {shown}; an admin sets CBDIALER_DIAL_CONTEXTS)")
