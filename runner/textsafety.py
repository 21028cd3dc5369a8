"""Text that came from outside: is it valid Unicode, and how to print it harmlessly.

Python reads non-UTF-8 bytes in arguments and environment variables as lone surrogates
(``\\udcff``), and JSON can spell them (``"\\ud800"``); such text cannot be encoded, so it must be
refused before it reaches a request, a ledger or a terminal. Text printed on a terminal must not
carry control characters either: an escape sequence or a carriage return in a server's error
detail could rewrite what the user sees.
"""

from __future__ import annotations

import re

# C0 controls except tab/newline, DEL, C1 controls, lone surrogates, and the Unicode
# formatting characters that reorder or hide text (bidi overrides and isolates, zero-width).
# Pattern strings: `re` compiles and caches each on first use, so importing costs nothing.
_INVISIBLE = "\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff"
_UNSAFE = f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{_INVISIBLE}]"
_UNSAFE_ALL = f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_INVISIBLE}]"
_ASCII_UNSAFE = "[\x00-\x08\x0b-\x1f\x7f]"  # _UNSAFE's ASCII part
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def is_valid_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def describe_invalid(text: str) -> str:
    """Where the first lone surrogate in ``text`` is, for a message (never the text itself)."""
    for index, char in enumerate(text):
        if 0xD800 <= ord(char) <= 0xDFFF:
            byte = f" (byte 0x{ord(char) - 0xDC00:02x}, not UTF-8)" if ord(char) >= 0xDC80 else ""
            return f"a lone surrogate U+{ord(char):04X} at character {index + 1}{byte}"
    return "no invalid character"


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with control and invisible formatting characters written as escapes.

    ``keep_newlines`` keeps line breaks and tabs (for whole messages we built ourselves); pass
    False for a single piece of outside text, so it cannot start a line of its own."""
    return re.sub(_UNSAFE if keep_newlines else _UNSAFE_ALL, _escape, text)


def escape_json_text(text: str) -> str:
    """JSON text with the characters ``json.dumps(ensure_ascii=False)`` leaves raw (C1
    controls, bidi and invisible characters, lone surrogates) escaped as ``\\uXXXX``. The result
    is the same JSON document; only its spelling changes."""
    if text.isascii() and (text.isprintable() or re.search(_ASCII_UNSAFE, text) is None):
        return text  # the common case (a dry run's every line), without a substitution pass
    return escape_json_text_scan(text)


def escape_json_text_scan(text: str) -> str:
    """``escape_json_text`` by a substitution pass over every character (the general path)."""
    return re.sub(_UNSAFE, lambda m: f"\\u{ord(m.group(0)):04x}", text)
