"""A number's type (fixed line, mobile, toll-free...) from a region's metadata, precompiled.

phonenumbers answers ``number_type`` by testing up to eleven number descriptions, each through
three Python calls and a cache lookup for its compiled pattern; for a batch that is most of the
cost of checking a number. Here each region's descriptions are read once into (lengths, compiled
pattern) pairs and tested in phonenumbers' own order, with its own rules: a description with
possible lengths rejects other lengths before its pattern is tried, and the pattern must match
the whole national number. tests/adversarial/test_dryrun_fastpaths.py holds every answer equal
to ``phonenumbers.number_type`` (every region's example numbers and near misses of them).
"""

from __future__ import annotations

import re
from typing import Any

# (lengths or None for "any", pattern) for a description that can match; None for one that cannot.
Desc = tuple[frozenset[int] | None, re.Pattern[str]] | None

# The special types, in the order phonenumbers tests them (before fixed line and mobile).
_SPECIAL = (
    ("premium_rate", "PREMIUM_RATE"),
    ("toll_free", "TOLL_FREE"),
    ("shared_cost", "SHARED_COST"),
    ("voip", "VOIP"),
    ("personal_number", "PERSONAL_NUMBER"),
    ("pager", "PAGER"),
    ("uan", "UAN"),
    ("voicemail", "VOICEMAIL"),
)


class Types:
    """One region's descriptions, compiled."""

    def __init__(self, metadata: Any, kinds: Any):
        self.kinds = kinds  # phonenumbers.PhoneNumberType
        self.general = _desc(metadata.general_desc)
        self.special = [
            (getattr(kinds, kind), _desc(getattr(metadata, attr))) for attr, kind in _SPECIAL
        ]
        self.fixed = _desc(metadata.fixed_line)
        self.mobile = _desc(metadata.mobile)
        self.same = bool(metadata.same_mobile_and_fixed_line_pattern)

    def of(self, national: str) -> int:
        """The type of the national significant number ``national`` (digits only)."""
        kinds = self.kinds
        if not _matches(self.general, national):
            return int(kinds.UNKNOWN)
        for kind, desc in self.special:
            if _matches(desc, national):
                return int(kind)
        if _matches(self.fixed, national):
            if self.same or _matches(self.mobile, national):
                return int(kinds.FIXED_LINE_OR_MOBILE)
            return int(kinds.FIXED_LINE)
        if not self.same and _matches(self.mobile, national):
            return int(kinds.MOBILE)
        return int(kinds.UNKNOWN)


def _desc(desc: Any) -> Desc:
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = desc.possible_length
    return (frozenset(lengths) if lengths else None, re.compile(desc.national_number_pattern))


def _matches(desc: Desc, national: str) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths is not None and len(national) not in lengths:
        return False
    return pattern.fullmatch(national) is not None


_compiled: dict[int, tuple[Any, Types]] = {}


def types_for(metadata: Any, kinds: Any) -> Types:
    """``metadata``'s compiled descriptions (metadata objects live as long as the process)."""
    found = _compiled.get(id(metadata))
    if found is None or found[0] is not metadata:
        found = (metadata, Types(metadata, kinds))
        _compiled[id(metadata)] = found
    return found[1]
