"""Keep secrets out of everything printed or logged.

Structured output is redacted by path and by value (see ``Request.redacted_body``); this module
scrubs free text (exception messages, tracebacks, a server's reflected error, the success line).
A secret is tracked as a value: the API key, every value the request marks secret, and every
``CALLPROFILE_*`` environment value templates can read. Text that shows a secret in another
spelling (JSON-escaped, URL-encoded, as a Python literal, HTML-escaped, with control characters
escaped) is scrubbed too.
"""

from __future__ import annotations

import _thread  # threading.Lock is this lock; importing threading costs more
import os

MIN_SECRET_LENGTH = 4  # scrubbing very short strings would blank out ordinary words
# CALLPROFILE_* variables that configure callprofile itself rather than hold template values.
CONFIG_VARIABLES = ("CALLPROFILE_DIR",)
TEST_HOOK_PREFIX = "CALLPROFILE_TEST_"

_known: set[str] = set()
_lock = _thread.allocate_lock()  # batch workers scrub while the main thread learns new secrets
_spellings: dict[str, tuple[str, ...]] = {}
# Every spelling to replace, longest first (a secret holding another goes whole), for the
# remembered secrets and the environment's values as last seen. Rebuilt, never changed in
# place: a scrub under way keeps the list it read.
_forms: tuple[frozenset[str], list[str]] = (frozenset(), [])


def api_key() -> str | None:
    key = os.environ.get("TELNYX_API_KEY")
    if key:
        remember(key)
    return key or None


def remember(*values: str) -> None:
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and value not in _known:
            with _lock:
                _known.add(value)


def environment_values() -> list[str]:
    """Values of the environment variables templates can read (``env.CALLPROFILE_*``)."""
    return [
        v
        for k, v in os.environ.items()
        if k.startswith("CALLPROFILE_")
        and k not in CONFIG_VARIABLES
        and not k.startswith(TEST_HOOK_PREFIX)
    ]


def known() -> set[str]:
    """Every secret value known now (the environment is read each time: tests change it)."""
    key = os.environ.get("TELNYX_API_KEY")
    if key:
        remember(key)
    # Read, not remembered: a value is a secret while it is in the environment.
    current = {v for v in environment_values() if len(v) >= MIN_SECRET_LENGTH}
    return _known | current


def spellings(secret: str) -> tuple[str, ...]:
    """``secret`` as it can appear in output: raw, JSON-escaped (ASCII or not), as a Python
    literal, URL-encoded (path, form), HTML-escaped, and with control characters escaped."""
    found = _spellings.get(secret)
    if found is not None:
        return found
    import html
    import json
    import re
    from urllib.parse import quote, quote_plus

    from runner.textsafety import escape_controls

    candidates = [
        secret,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        escape_controls(secret),
        escape_controls(secret, keep_newlines=False),
        html.escape(secret),
        html.escape(secret, quote=False),
    ]
    for encode in (quote, quote_plus):
        try:
            encoded = encode(secret, safe="")
        except UnicodeEncodeError:  # a lone surrogate: no URL spelling exists
            continue
        candidates.append(encoded)
        candidates.append(re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded))
    unique = tuple(sorted({c for c in candidates if len(c) >= MIN_SECRET_LENGTH}, key=len))
    _spellings[secret] = unique[::-1]
    return _spellings[secret]


def contains_secret(text: str) -> bool:
    return any(secret in text for secret in known())


def _forms_now(extra: tuple[str, ...]) -> list[str]:
    global _forms
    secrets = frozenset(known() | {e for e in extra if len(e) >= MIN_SECRET_LENGTH})
    cached_for, forms = _forms
    if cached_for != secrets:
        spelled = {form for secret in secrets for form in spellings(secret)}
        forms = sorted(spelled, key=len, reverse=True)
        with _lock:
            _forms = (secrets, forms)
    return forms


def scrub(text: str, extra: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with every known secret (and each of ``extra``) replaced by ``***``."""
    for form in _forms_now(tuple(extra)):
        if form in text:
            text = text.replace(form, "***")
    return text


def shown(text: str, reveal: bool = False) -> str:
    """Output for the user: every known secret masked in every spelling; with
    ``--show-secrets`` (``reveal``) only the API key, which is never shown."""
    if not reveal:
        return scrub(text)
    key = api_key()
    for form in spellings(key) if key else ():
        text = text.replace(form, "***")
    return text
