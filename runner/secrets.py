"""Keep secrets out of everything printed or logged.

Structured output is redacted by path (see ``Request.redacted_body``); this module scrubs free
text (exception messages, tracebacks) of the secret strings known to the process.
"""

from __future__ import annotations

import os

MIN_SECRET_LENGTH = 4  # scrubbing very short strings would blank out ordinary words

_known: set[str] = set()


def api_key() -> str | None:
    key = os.environ.get("TELNYX_API_KEY")
    if key:
        remember(key)
    return key or None


def remember(*values: str) -> None:
    for value in values:
        if value and len(value) >= MIN_SECRET_LENGTH:
            _known.add(value)


def scrub(text: str) -> str:
    key = os.environ.get("TELNYX_API_KEY")
    if key:
        remember(key)
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
