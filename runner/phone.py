"""Phone numbers: one normalisation (E.164) for --to/--from, contacts and the do-not-call list.

Valid numbers are personal data and are masked in messages; a value that is not a usable number
is the user's own input and is shown as given, so they can find and fix it.
"""

from __future__ import annotations


class NumberError(ValueError):
    """A value that is not a valid, dialable phone number."""


def normalise(raw: str, region: str | None = None) -> str:
    """``raw`` as E.164 (``+13125550123``). Without ``region`` the number must start with ``+``."""
    import phonenumbers

    text = raw.strip()
    if not text:
        raise NumberError("no number")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        hint = "" if region or text.startswith("+") else " (write it as +<country code><number>)"
        raise NumberError(f"{_shown(text)} is not a phone number{hint}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise NumberError(f"{_shown(text)} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(number: str) -> str:
    """Numbers are personal data: messages show ``+1312***0123``, the ledger keeps the full one."""
    if len(number) <= 8:
        return number[:2] + "***"
    return number[:5] + "***" + number[-4:]


def _shown(text: str, limit: int = 60) -> str:
    """The value as given (the user must find it), shortened when it is long."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"
