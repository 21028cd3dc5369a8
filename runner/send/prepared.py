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
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


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
