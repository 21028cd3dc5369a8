"""A loopback stand-in for Telnyx's ``GET /v2/texml/Accounts/{account_sid}/Calls``, in the
documented shape (``CallResourceIndex``: ``calls`` of ``CallResource`` objects, ``page``,
``page_size``, ``next_page_uri`` with a ``PageToken``), until the sandbox serves it.

Filters as documented: ``To``, ``From``, ``Status`` exact; ``StartTime_gt`` a ``YYYY-MM-DD``
date. ``page_cap`` forces small pages so tests see pagination; ``status``/``body`` script an
error answer; every request is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ACCOUNT = "61bf923e-5e4d-4595-a110-56190ea18a1b"


def call(
    sid: str,
    to: str,
    from_: str = "+13120001234",
    started: datetime | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    """A CallResource as the API documents it (times in RFC 2822, like the documented example)."""
    when = format_datetime(started or datetime.now(timezone.utc), usegmt=False)
    return {
        "account_sid": ACCOUNT,
        "answered_by": "human",
        "caller_name": from_,
        "date_created": when,
        "date_updated": when,
        "direction": "outbound",
        "duration": "11",
        "end_time": when,
        "from": from_,
        "from_formatted": from_,
        "sid": sid,
        "start_time": when,
        "status": status,
        "to": to,
        "to_formatted": to,
        "uri": f"/v2/texml/Accounts/{ACCOUNT}/Calls/{sid}.json",
    }


class CallsList:
    def __init__(self, calls: list[dict[str, Any]] | None = None, page_cap: int = 100):
        self.calls = list(calls or [])
        self.page_cap = page_cap
        self.requests: list[dict[str, Any]] = []
        self.status: int | None = None  # answer every request with this status when set
        self.body: Any = None
        self.next_page_override: str | None = None
        self.ignored: set[str] = set()  # filters to ignore, as a lagging or lax API might
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer._answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v2"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.requests.append(
            {"path": parts.path, "query": query, "auth": handler.headers.get("Authorization")}
        )
        if self.status is not None:
            self._send(handler, self.status, self.body or {"errors": [{"code": "10009"}]})
            return
        if self.body is not None:
            self._send(handler, 200, self.body)
            return
        prefix = "/v2/texml/Accounts/"
        if not parts.path.startswith(prefix) or not parts.path.rstrip("/").endswith(
            ("/Calls", "/Calls.json")
        ):
            self._send(handler, 404, {"errors": [{"detail": "Resource not found"}]})
            return
        account = parts.path[len(prefix) :].split("/", 1)[0]
        kept = {k: v for k, v in query.items() if k not in self.ignored}
        found = [c for c in self.calls if self._keep(c, kept, account)]
        size = min(int(query.get("PageSize", "20")), self.page_cap)
        page = int(query.get("Page", "0"))
        chunk = found[page * size : (page + 1) * size]
        base = f"{prefix}{account}/Calls.json"
        next_uri = None
        if (page + 1) * size < len(found):
            following = {**query, "Page": str(page + 1), "PageToken": f"tok{page + 1}"}
            next_uri = f"{base}?{urlencode(following)}"
        if self.next_page_override is not None:
            next_uri = self.next_page_override
        self._send(
            handler,
            200,
            {
                "calls": chunk,
                "end": page * size + max(0, len(chunk) - 1),
                "first_page_uri": f"{base}?Page=0&PageSize={size}",
                "next_page_uri": next_uri,
                "page": page,
                "page_size": size,
                "start": page * size,
                "uri": f"{base}?{urlencode(query)}",
            },
        )

    @staticmethod
    def _keep(item: dict[str, Any], query: dict[str, str], account: str) -> bool:
        if item["account_sid"] != account:
            return False
        for field, name in (("to", "To"), ("from", "From"), ("status", "Status")):
            if name in query and item[field] != query[name]:
                return False
        if "StartTime_gt" in query:
            from email.utils import parsedate_to_datetime

            day = parsedate_to_datetime(item["start_time"]).strftime("%Y-%m-%d")
            if day <= query["StartTime_gt"]:
                return False
        return True

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
