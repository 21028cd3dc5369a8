"""The HTTP request for one call, built but not sent: what ``run --dry-run`` prints and what
runner.send.submit sends. Apart from submit so a dry run imports nothing that sending needs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from runner import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"


@dataclass(frozen=True)
class HttpRequest:
    """Exactly what goes on the wire. ``headers`` hold the real key; print with ``text``."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def text(self, body: bytes | None = None) -> str:
        """The request as text with the API key hidden (``--dry-run``). ``body`` replaces the
        real body, for printing a redacted one."""
        lines = [f"{self.method} {self.url}"]
        for name, value in self.headers:
            if name.lower() == "authorization":
                value = "Bearer ***"
            lines.append(f"{name}: {value}")
        shown = self.body if body is None else body
        return "\n".join(lines) + "\n\n" + shown.decode("utf-8")


def encode_body(body: dict[str, Any]) -> bytes:
    """The body as ``json.dumps(body, indent=2, ensure_ascii=False)`` writes it, and a newline.

    With ``indent`` set, ``json`` encodes in pure Python, one generator per container, which a
    batch paid for every row; the same text is built here with the C escaping of strings, for
    the types a request body holds (``json`` itself for anything else)."""
    try:
        text = _indented(body, "\n")
    except _Unusual:
        text = json.dumps(body, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


class _Unusual(Exception):
    """A value this encoder leaves to ``json``: subclasses, tuples, non-string keys, floats."""


_escape = json.encoder.encode_basestring  # C, as json.dumps uses it


def _indented(value: Any, indent: str) -> str:
    kind = type(value)
    if kind is str:
        return _escape(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = indent + "  "
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                raise _Unusual
            parts.append(f"{inner}{_escape(key)}: {_indented(item, inner)}")
        return "{" + ",".join(parts) + indent + "}"
    if kind is list:
        if not value:
            return "[]"
        inner = indent + "  "
        return "[" + ",".join(inner + _indented(item, inner) for item in value) + indent + "]"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    raise _Unusual


def prepare(
    connection_id: str, body: dict[str, Any], *, base_url: str, api_key: str
) -> HttpRequest:
    from urllib.parse import quote

    url = f"{base_url.rstrip('/')}/texml/ai_calls/{quote(connection_id, safe='')}"
    headers = (
        ("Authorization", f"Bearer {api_key}"),
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
        ("User-Agent", f"callprofile/{__version__}"),
    )
    return HttpRequest("POST", url, headers, encode_body(body))
