"""Keep secrets out of the sandbox's records, whatever encoding a request body arrives in.

Sensitive fields are the ones the request schema marks ``x-sensitive`` (``SipAuthPassword``),
matched by name in JSON bodies, form-encoded bodies and query strings; values the caller names
as secret are masked wherever they appear. A body that is none of these and still names a
sensitive field is withheld rather than guessed at.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

MASK = "***"
WITHHELD = "*** (withheld: an unparsable body that names a secret field)"
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie"}
TEXT_LIMIT = 2000


@functools.lru_cache(maxsize=1)
def sensitive_names() -> frozenset[str]:
    """Lower-cased names of the top-level request fields the schema marks sensitive."""
    from runner.schema import files as schemas

    properties = schemas.request_schema().get("properties", {})
    return frozenset(name.lower() for name in properties if schemas.is_sensitive((name,)))


def mask_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in _SECRET_HEADERS:
            value = "Bearer ***" if value.startswith("Bearer ") else MASK
        out[name] = value
    return out


def mask_body(
    value: Any, path: tuple[str | int, ...] = (), known: frozenset[str] = frozenset()
) -> Any:
    """``value`` with sensitive fields (x-sensitive in the request schema) and any string
    holding one of the ``known`` secret values replaced by ``***``."""
    if len(path) == 1 and isinstance(path[0], str) and path[0].lower() in sensitive_names():
        return MASK
    if isinstance(value, dict):
        return {k: mask_body(v, (*path, k), known) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_body(v, (*path, i), known) for i, v in enumerate(value)]
    if isinstance(value, str) and any(secret in value for secret in known):
        return MASK
    return value


def mask_form(text: str, known: frozenset[str] = frozenset()) -> dict[str, str]:
    """A form-encoded body or query string as a mapping, sensitive fields masked."""
    out: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        secret = name.lower() in sensitive_names() or any(s in value for s in known)
        out[name] = MASK if secret else value
    return out


def is_form(content_type: str | None, text: str) -> bool:
    if content_type and content_type.split(";")[0].strip().lower() == (
        "application/x-www-form-urlencoded"
    ):
        return True
    return bool(text) and "=" in text and not text.lstrip().startswith(("{", "["))


def mask_text(raw: bytes, known: frozenset[str] = frozenset(), limit: int = TEXT_LIMIT) -> str:
    """The start of a body that parsed as nothing, sensitive values masked; withheld whole
    when a sensitive name is still visible in any of its decodings after masking."""
    text = raw[:limit].decode("utf-8", "replace")
    text = _masker().sub(_keep_name, text)
    for secret in sorted(known, key=len, reverse=True):
        text = text.replace(secret, MASK)
    if _still_exposed(text):
        return WITHHELD
    return text


@functools.lru_cache(maxsize=1)
def _masker() -> re.Pattern[str]:
    names = "|".join(re.escape(n) for n in sorted(sensitive_names()))
    # JSON-ish ("Name": "value") and form-ish (Name=value) spellings.
    return re.compile(
        rf'("?(?:{names})"?\s*:\s*)"(?:[^"\\]|\\.)*"?|((?:{names})\s*=)[^&\s]*',
        re.IGNORECASE,
    )


def _keep_name(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return match.group(1) + f'"{MASK}"'
    return match.group(2) + MASK


def _still_exposed(text: str) -> bool:
    """True if a sensitive name appears, in any decoding, without ``***`` right after it."""
    candidates = {text, unquote_plus(text), _unescape(text), unquote_plus(_unescape(text))}
    for candidate in candidates:
        lowered = candidate.lower()
        for name in sensitive_names():
            start = 0
            while (at := lowered.find(name, start)) >= 0:
                after = lowered[at + len(name) : at + len(name) + 12]
                if MASK not in after:
                    return True
                start = at + len(name)
    return False


def _unescape(text: str) -> str:
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return text
