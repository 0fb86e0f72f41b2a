"""Phone numbers in E.164 (``+4930123456``), the form SMS gateways expect.

:func:`to_e164` is what the channel sends to; the DSL function ``e164(phone, region?)``
lets rules, defaults and validations use the same normalisation.
"""

from __future__ import annotations

import phonenumbers

from engine.dsl.functions import Function


class BadNumber(ValueError):
    """A number that cannot be read as a phone number (the message is for the user)."""


def to_e164(number: str, region: str | None = None) -> str:
    """``number`` in E.164; a number without a country prefix is read in ``region``
    (ISO code, e.g. ``DE``). Raises :class:`BadNumber` for text that is no phone number."""
    text = str(number).strip()
    try:
        parsed = phonenumbers.parse(text, (region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise BadNumber(f"{text!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise BadNumber(f"{text!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _py_e164(number: str, region: str | None = None) -> str | None:
    try:
        return to_e164(number, region)
    except BadNumber:
        return None


E164 = Function(
    "e164",
    "e164(string, string?) -> string",
    _py_e164,
    None,  # Python only: phonenumbers has no SQL form
    "The phone number in E.164 (+4930123456); numbers without a country prefix are read in "
    "the region given (ISO code); null when it is no phone number.",
    'e164(mobile, "DE")',
)
