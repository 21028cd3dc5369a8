"""Phone numbers: one normalisation (E.164) for --to/--from, contacts and the do-not-call list.

Valid numbers are personal data and are masked in messages; a value that is not a usable number
is the user's own input and is shown as given, so they can find and fix it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from runner.phonetype import types_for

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber


class Known(NamedTuple):
    """What normalise learnt about a number it returned."""

    parsed: PhoneNumber
    region: str | None  # the region that owns it (US, CA...), None when none does
    kind: int  # phonenumbers.PhoneNumberType


# E.164 -> Known, so the stages after normalise (time zones, the calling policy) do not parse
# and classify the same number again. They ask about the row just read: a few entries do.
_seen: dict[str, Known] = {}
_MAX_SEEN = 64


class NumberError(ValueError):
    """A value that is not a valid, dialable phone number."""


@cache
def _phonenumbers() -> Any:
    """phonenumbers, imported on first use (a module-level import would slow every command's
    start-up) and then at the cost of a cached call, not an import statement per number."""
    import phonenumbers

    return phonenumbers


def normalise(raw: str, region: str | None = None) -> str:
    """``raw`` as E.164 (``+13125550123``). Without ``region`` the number must start with ``+``."""
    phonenumbers = _phonenumbers()
    text = raw.strip()
    if not text:
        raise NumberError("no number")
    parsed = _nanp(phonenumbers, text)
    if parsed is None:
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            hint = (
                "" if region or text.startswith("+") else " (write it as +<country code><number>)"
            )
            raise NumberError(f"{_shown(text)} is not a phone number{hint}") from None
        e164 = None
    else:
        e164 = text  # what format_number gives for it: "+1" and the ten digits
    known = _classify(parsed)
    # phonenumbers.is_valid_number, from the same two facts (a test holds them equal).
    if known.region is None or known.kind == phonenumbers.PhoneNumberType.UNKNOWN:
        raise NumberError(f"{_shown(text)} is not a valid phone number")
    if e164 is None:
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    _remember(e164, known)
    return e164


def _nanp(phonenumbers: Any, text: str) -> PhoneNumber | None:
    """``phonenumbers.parse(text, region)`` for the commonest input of a contacts file, a North
    American number already in E.164 (``+1``, then ten ASCII digits, the first 2-9), else None.

    For such text, whatever the region, parse finds country code 1 after the plus, takes the
    other ten digits as the national number, and strips nothing from it: the national prefix
    (``1``) cannot start it, there is no extension, and no leading zero to keep. So the number is
    built directly, at a tenth of parse's cost; tests/adversarial/test_dryrun_fastpaths.py holds
    it equal to parse (and its E.164 form to format_number) over every area code."""
    if (
        len(text) == 12
        and text[1] == "1"
        and text[0] == "+"
        and text[2] in "23456789"
        and text.isascii()
        and text[3:].isdigit()
    ):
        return phonenumbers.PhoneNumber(country_code=1, national_number=int(text[2:]))
    return None


def _classify(parsed: PhoneNumber) -> Known:
    """The region that owns ``parsed`` and its type: ``region_code_for_number`` and
    ``number_type`` in one pass. For a calling code shared by several regions (+1, +7, +44...)
    phonenumbers finds the owner by classifying the number against each region in turn, and
    ``number_type`` would then find the owner and classify it once more; here the type the
    search found is kept, and each type is found by runner.phonetype's precompiled tests
    (tests/adversarial/test_dryrun_fastpaths.py holds both answers equal to phonenumbers')."""
    phonenumbers = _phonenumbers()
    util = phonenumbers.phonenumberutil
    by_code = getattr(util, "COUNTRY_CODE_TO_REGION_CODE", None)
    if by_code is None:  # the public calls, should the table move
        return Known(parsed, phonenumbers.region_code_for_number(parsed), util.number_type(parsed))
    kinds = phonenumbers.PhoneNumberType

    def helper(national: str, metadata: Any) -> int:
        return types_for(metadata, kinds).of(national)

    unknown = phonenumbers.PhoneNumberType.UNKNOWN
    country = parsed.country_code
    regions = by_code.get(country)
    if not regions:
        return Known(parsed, None, unknown)
    national = util.national_significant_number(parsed)
    owner = regions[0] if len(regions) == 1 else None
    if owner is None:
        compile_ = getattr(util, "re_compile", None) or _compile
        for region in regions:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                if compile_(metadata.leading_digits).match(national):
                    owner = region
                    break
                continue
            kind = helper(national, metadata)
            if kind != unknown:
                return Known(parsed, region, kind)
        if owner is None:
            return Known(parsed, None, unknown)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country, owner)
    if metadata is None:
        return Known(parsed, owner, unknown)
    return Known(parsed, owner, helper(national, metadata))


def _compile(pattern: str) -> Any:
    import re

    return re.compile(pattern)


def _remember(e164: str, known: Known) -> None:
    if len(_seen) >= _MAX_SEEN:
        _seen.clear()
    _seen[e164] = known


def known(e164: str) -> Known:
    """``e164`` (a number normalise returned) parsed and classified: from normalise's own work
    when it is still at hand, else worked out here."""
    found = _seen.get(e164)
    if found is None:
        found = _classify(_phonenumbers().parse(e164, None))
        _remember(e164, found)
    return found


def mask(number: str) -> str:
    """Numbers are personal data: messages show ``+1312***0123``, the ledger keeps the full one."""
    if len(number) <= 8:
        return number[:2] + "***"
    return number[:5] + "***" + number[-4:]


def _shown(text: str, limit: int = 60) -> str:
    """The value as given (the user must find it), shortened when it is long."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"
