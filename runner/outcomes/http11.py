"""The part of HTTP/1.1 a callback receiver needs, parsed strictly and incrementally.

Only what a webhook sender uses: a request line, headers, and a body sized by Content-Length
(chunked bodies are refused with 411, oversized ones with 413 before a byte of them is kept).
Bytes are fed in as they arrive and complete requests come out, so the receiver runs as a plain
asyncio protocol (no task per request). Every limit is explicit (head size, header count, body
size) and every refusal is an :class:`HttpError` with a status, a code and a reason: never a
traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runner import codes

MAX_HEAD = 16 * 1024  # request line and headers
MAX_HEADERS = 100
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_END = b"\r\n\r\n"
REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


class HttpError(Exception):
    """A request that cannot be read; the connection is closed after the answer."""

    def __init__(self, status: int, code: str, reason: str, request: Request | None = None):
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.request = request  # when the head could be read


def parse_head(head: bytes) -> Request:
    """Request line and headers (``head`` without the blank line that ends it)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise HttpError(
            400, codes.HTTP_BAD_REQUEST, "the request line is not METHOD TARGET VERSION"
        )
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, codes.HTTP_BAD_REQUEST, "only HTTP/1.0 and HTTP/1.1 are spoken here")
    if not target.startswith("/") or not target.isprintable():
        raise HttpError(400, codes.HTTP_BAD_REQUEST, "the request target is not a path")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, codes.HTTP_BAD_REQUEST, f"more than {MAX_HEADERS} header fields")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            # Also refuses obsolete line folding (a line starting with white space).
            raise HttpError(400, codes.HTTP_BAD_REQUEST, "a header line is not NAME: VALUE")
        key = name.lower()
        value = value.strip(" \t")
        if key in headers:
            if key in ("content-length", "transfer-encoding", "host"):
                if headers[key] != value:
                    raise HttpError(400, codes.HTTP_BAD_REQUEST, f"conflicting {name} headers")
                continue
            # Two signatures or timestamps would leave the choice to whoever reads first.
            if key.startswith("telnyx-"):
                raise HttpError(400, codes.HTTP_BAD_REQUEST, f"the {name} header appears twice")
            headers[key] = f"{headers[key]}, {value}"
        else:
            headers[key] = value
    return Request(method.upper(), target, version, headers)


def body_length(request: Request, max_body: int) -> int:
    if "transfer-encoding" in request.headers:
        raise HttpError(
            411,
            codes.BODY_NO_LENGTH,
            "chunked or encoded bodies are not accepted; send Content-Length",
            request,
        )
    raw = request.headers.get("content-length")
    if raw is None:
        return 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise HttpError(400, codes.HTTP_BAD_REQUEST, "Content-Length is not a number", request)
    size = int(raw)
    if size > max_body:
        raise HttpError(
            413,
            codes.BODY_TOO_LARGE,
            f"the body is {size} bytes; at most {max_body} are accepted",
            request,
        )
    return size


class RequestReader:
    """Feed bytes in, take complete requests out (several, when a client pipelines)."""

    def __init__(self, max_body: int):
        self.max_body = max_body
        self.buffer = bytearray()
        self._head: Request | None = None
        self._size = 0
        self.continue_sent = False

    @property
    def partial(self) -> bool:
        """Part of a request has arrived (for the receiver's timeout)."""
        return bool(self.buffer) or self._head is not None

    @property
    def wants_continue(self) -> bool:
        """The client waits for ``100 Continue`` before sending the body."""
        return (
            self._head is not None
            and not self.continue_sent
            and self._size > 0
            and self._head.headers.get("expect", "").lower() == "100-continue"
        )

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def next(self) -> Request | None:
        """The next complete request, or None until more bytes arrive."""
        if self._head is None:
            end = self.buffer.find(_END, 0, MAX_HEAD + len(_END))
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise HttpError(
                        431, codes.HTTP_BAD_REQUEST, f"the head is larger than {MAX_HEAD} bytes"
                    )
                return None
            head = parse_head(bytes(self.buffer[:end]))
            self._size = body_length(head, self.max_body)
            del self.buffer[: end + len(_END)]
            self._head = head
            self.continue_sent = False
        if len(self.buffer) < self._size:
            return None
        request = self._head
        request.body = bytes(self.buffer[: self._size])
        del self.buffer[: self._size]
        self._head = None
        self._size = 0
        return request


def response(
    status: int, text: str, keep_alive: bool, extra: tuple[tuple[str, str], ...] = ()
) -> bytes:
    body = text.encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Server: callprofile-listen\r\n"
    )
    head += "".join(f"{name}: {value}\r\n" for name, value in extra)
    if not keep_alive:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode("latin-1") + body


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
