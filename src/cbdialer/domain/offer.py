"""What the agent's phone shows of an offer (seed 003: the remark reaches the agent). Rule: the caller name
carries a short form of the remark and the number carries the contact's number; nothing a person typed can
reach AMI as a line break, a quote or a comma (which would break or forge the Originate's headers)."""

from __future__ import annotations

import re
import unicodedata

from cbdialer.domain.models import Callback

# Most desk and soft phones show 20-40 characters of a caller name.
CALLER_NAME_LENGTH = 40
# Printable ASCII only (not every phone shows UTF-8, and bidi or control characters would garble the name),
# less what a CallerID's syntax or AMI reads as structure.
_UNSAFE = re.compile(r'[^\x20-\x7e]|["<>\\,]')


def offer_caller_name(callback: Callback) -> str:
    """The caller name of the offer: "CB" and the remark, shortened to CALLER_NAME_LENGTH with "..." (ASCII: not every phone shows UTF-8)
    (the panel has the whole remark)."""
    # Accents dropped rather than the letters (é -> e), then anything else unsafe becomes a space.
    ascii_ish = "".join(ch for ch in unicodedata.normalize("NFKD", callback.remark) if not unicodedata.combining(ch))
    remark = " ".join(_UNSAFE.sub(" ", ascii_ish).split())
    name = f"CB {remark}" if remark else "CB"
    return name if len(name) <= CALLER_NAME_LENGTH else name[: CALLER_NAME_LENGTH - 3].rstrip() + "..."


def offer_caller_id(callback: Callback) -> str:
    """The Originate's CallerID for the agent's leg: `"name" <number>`."""
    return f'"{offer_caller_name(callback)}" <{callback.destination}>'
