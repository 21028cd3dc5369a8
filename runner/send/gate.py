"""The one gate every sending command passes before anything is claimed or sent.

``admit`` checks where requests would go (https, or plain http to loopback only, with a host that
can be looked up) and the API key (non-empty, printable ASCII: it goes into an HTTP header).
``run`` calls it before the POST, ``batch`` before it opens the ledger, and ``submit.send``
checks every request against it once more, so a request that fails here is never sent and never
recorded as possibly sent. Messages never quote the key.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from runner import codes
from runner.exitcodes import ExitCode

CODE_GATE = codes.SEND_GATE

MAX_HOST = 253
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$", re.IGNORECASE)
_DOTTED_NUMBERS = re.compile(r"^[0-9.]+$")


class GateClosed(Exception):
    """Why nothing may be sent, the exit code that says so, and its diagnostic code."""

    def __init__(self, message: str, code: int = ExitCode.INVALID):
        self.message = message
        self.code = int(code)
        self.diagnostic = CODE_GATE
        super().__init__(message)


@dataclass(frozen=True)
class Destination:
    """A base URL and key that passed the gate."""

    base_url: str
    api_key: str


def admit(
    base_url: str,
    api_key: str | None,
    *,
    key_hint: str = "",
    unset: str = "nothing was sent",
    refused: str = "nothing was sent",
) -> Destination:
    """The gate: a Destination, or GateClosed naming the problem (exit 2 for a missing key,
    1 for a key or URL that cannot be used). ``unset`` and ``refused`` say what did not happen,
    in the caller's words (a lookup sends nothing either)."""
    if not api_key:
        raise GateClosed(
            f"TELNYX_API_KEY is not set; export your Telnyx API key{key_hint} ({unset})",
            ExitCode.USAGE,
        )
    for problem in (check_base_url(base_url), check_api_key(api_key)):
        if problem:
            raise GateClosed(f"{problem} ({refused})")
    return Destination(base_url, api_key)


# Both checks are pure functions of their text, and submit.send asks them again for every
# request a batch sends (the same URL and key each time): remember the last few verdicts.
@functools.lru_cache(maxsize=32)
def check_api_key(api_key: str) -> str | None:
    """Why ``api_key`` cannot go in an HTTP header, or None. Never quotes the key."""
    if not api_key.strip():
        return "TELNYX_API_KEY is empty"
    if any(not (33 <= ord(c) <= 126) for c in api_key):
        return (
            "TELNYX_API_KEY contains spaces, line breaks, control or non-ASCII characters "
            "(a key file saved with Windows line endings ends in one); copy the key again"
        )
    return None


@functools.lru_cache(maxsize=32)
def check_base_url(base_url: str) -> str | None:
    """Why ``base_url`` cannot be used, or None. Plain http is allowed only to loopback, so the
    key never crosses a network unencrypted; the host must be one a resolver could look up."""
    from urllib.parse import urlsplit

    shown = _show(base_url)
    if not base_url or any(ord(c) < 33 or ord(c) == 127 for c in base_url):
        return f"the base URL {shown} is empty or holds spaces or control characters"
    try:
        parts = urlsplit(base_url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"the base URL {shown} is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return f"the base URL {shown} is not an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return f"the base URL {shown} holds a user name or password; remove them"
    if parts.query or parts.fragment or "?" in base_url or "#" in base_url:
        return f"the base URL {shown} holds a query or fragment; give only scheme, host and path"
    problem = host_problem(host)
    if problem:
        return f"the base URL {shown} has an invalid host: {problem}"
    if parts.scheme == "http" and not is_loopback(host):
        return (
            f"the base URL {shown} uses plain http to a host that is not loopback; the API key "
            "would travel unencrypted (use https)"
        )
    try:
        import httpx

        httpx.URL(base_url)
    except Exception:  # httpx's own parser is the last word on what it can send to
        return f"the base URL {shown} is not a valid URL"
    return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_problem(host: str) -> str | None:
    """Why ``host`` is neither an IP address nor a well-formed DNS name, or None."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if _DOTTED_NUMBERS.match(host):
        return f"{host!r} is not a valid IPv4 address"
    name = host[:-1] if host.endswith(".") else host
    if not name.isascii():
        import idna

        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return "it is not a valid internationalised domain name"
    for label in name.split("."):
        if not label:
            return "it has an empty label (two dots in a row, or a leading dot)"
        if len(label) > MAX_LABEL:
            return f"a label is {len(label)} characters long; labels have at most {MAX_LABEL}"
        if label[:4].lower() == "xn--" and not _valid_a_label(label):
            return f"the label {label[:20]!r} is not valid punycode"
        if not _LABEL.match(label):
            return f"the label {label[:20]!r} may hold only letters, digits and inner hyphens"
    if len(name) > MAX_HOST:
        return f"it is {len(name)} characters long; host names have at most {MAX_HOST}"
    return None


def _valid_a_label(label: str) -> bool:
    import idna

    try:
        idna.decode(label)
        return True
    except (idna.IDNAError, UnicodeError, ValueError):
        return False


def _show(url: str, limit: int = 80) -> str:
    text = repr(url)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
