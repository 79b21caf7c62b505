"""Contact numbers. Rule: a number is kept only in E.164, and one phonenumbers cannot read as a valid
number is refused with the field's name."""

from __future__ import annotations

import phonenumbers

from cbdialer.domain.models import InvalidValue


def to_e164(text: object, *, field_name: str = "destination", default_region: str | None = None) -> str:
    """`text` as E.164 (+442079460012). Without a leading + it is read as a national number of
    `default_region` (ISO 3166 code), and refused if there is none."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidValue(field_name, "must be a telephone number, e.g. +442079460012")
    raw = text.strip()
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        hint = "" if raw.startswith("+") or default_region else " (give it in international form, with +)"
        raise InvalidValue(field_name, f"{raw!r} is not a telephone number{hint}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidValue(field_name, f"{raw!r} is not a valid telephone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def caller_as_e164(caller_number: str, *, default_region: str | None = None) -> str | None:
    """An inbound caller's number (CALLERID(num): E.164, or national as a trunk delivers it) as E.164, or
    None when it is not a number that can be read (an extension, "anonymous", or national without a region)."""
    try:
        return to_e164(caller_number, field_name="caller_number", default_region=default_region)
    except InvalidValue:
        pass
    digits = caller_number.strip()
    if digits.isdigit() and not digits.startswith("0"):  # international, without the + (as many trunks send it)
        try:
            return to_e164("+" + digits, field_name="caller_number")
        except InvalidValue:
            return None
    return None


def caller_withheld(number: str, presentation: str = "") -> bool:
    """The one withheld rule: a hidden presentation (prohib...), or no number to call (missing, Asterisk's
    <unknown>, or what trunks put for a hidden caller: anonymous, unknown)."""
    number = number.strip().lower()
    return (not number or presentation.strip().lower().startswith("prohib")
            or number in ("anonymous", "unknown", "<unknown>"))
