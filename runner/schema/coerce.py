"""Convert text to the JSON type the request schema wants at a path.

Used for rendered templates (a template always produces text) and for ``--set`` values, so
``Timeout: "{{ ring }}"`` and ``--set Timeout=60`` both send the integer 60, while phone numbers
stay strings with their ``+``. The schema decides; nothing is guessed from the text.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from runner.schema import files as schemas

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

# Pattern strings, compiled (and cached by `re`) on first use rather than at import.
_INT = r"^[+-]?[0-9]+$"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_TRUE = ("true",)
_FALSE = ("false",)


MAX_NUMBER_TEXT = 30  # characters; every numeric field is an int32


class CoercionError(ValueError):
    pass


def _shown(text: str, limit: int = 40) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


@lru_cache(maxsize=4096)
def target_type(path: tuple[str | int, ...]) -> str | None:
    """The type the request schema wants at ``path`` inside the request body (cached: a batch
    asks about the same paths for every row)."""
    return schemas.schema_type(schemas.sub_schema(schemas.request_schema(), path))


def coerce_text(text: str, wanted: str | None) -> Any:
    """``text`` as a value of JSON type ``wanted``; CoercionError when it is not one."""
    if wanted in (None, "string"):
        return text
    stripped = text.strip()
    if wanted in ("integer", "number") and len(stripped) > MAX_NUMBER_TEXT:
        # Python refuses to convert thousands of digits (and no field takes such a number).
        raise CoercionError(
            f"a number of {len(stripped)} characters is out of range "
            f"(at most {MAX_NUMBER_TEXT} characters)"
        )
    if wanted == "integer":
        if re.match(_INT, stripped):
            return int(stripped)
        raise CoercionError(f"{_shown(text)} is not an integer")
    if wanted == "number":
        if re.match(_NUMBER, stripped):
            number = float(stripped)
            if not math.isfinite(number):
                raise CoercionError(f"{_shown(text)} is out of range")
            return int(number) if number.is_integer() and "." not in stripped else number
        raise CoercionError(f"{_shown(text)} is not a number")
    if wanted == "boolean":
        lowered = stripped.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise CoercionError(f"{_shown(text)} is not a boolean (use true or false)")
    if wanted == "null" and stripped in ("", "null"):
        return None
    raise CoercionError(f"a {wanted} cannot be given as text")
