"""Keep secrets out of everything printed or logged.

Structured output is redacted by path (see ``Request.redacted_body``); this module scrubs free
text (exception messages, tracebacks) of the secret strings known to the process.
"""

from __future__ import annotations

import os
import threading

MIN_SECRET_LENGTH = 4  # scrubbing very short strings would blank out ordinary words

_known: set[str] = set()
_longest_first: list[str] = []  # _known, longest first, so a secret holding another goes whole
_lock = threading.Lock()  # batch workers scrub while the main thread learns new secrets


def api_key() -> str | None:
    key = os.environ.get("TELNYX_API_KEY")
    if key:
        remember(key)
    return key or None


def remember(*values: str) -> None:
    global _longest_first
    for value in values:
        if value and len(value) >= MIN_SECRET_LENGTH and value not in _known:
            with _lock:
                _known.add(value)
                # A new list, not changed in place: a scrub under way keeps the one it read.
                _longest_first = sorted(_known, key=len, reverse=True)


def scrub(text: str) -> str:
    key = os.environ.get("TELNYX_API_KEY")
    if key:
        remember(key)
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, "***")
    return text
