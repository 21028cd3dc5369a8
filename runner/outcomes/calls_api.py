"""Read Telnyx's call list: ``GET /v2/texml/Accounts/{account_sid}/Calls``, every page.

Filters ``To`` and ``From`` as the API documents them; ``StartTime_gt`` takes a date only
(``YYYY-MM-DD``), so the list asks from the day before the claim and the exact cut is made here,
from each call's ``start_time`` (RFC 2822, as the API answers). Pages follow ``next_page_uri``,
which must stay on the base URL's host. A GET changes nothing at Telnyx, so unlike the call
POST it is retried after timeouts and 5xx as well as 429 and connection failures.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from runner.outcomes.callbacks import timestamp

PAGE_SIZE = 100
MAX_PAGES = 50  # 5,000 calls to one number in a day is not a campaign to reconcile blindly
_RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504})


class LookupError_(Exception):
    """The list could not be read. ``kind``: rejected (4xx: fix something), unreachable
    (connection, 429 or 5xx after the retries), or malformed (a reply not in Telnyx's shape)."""

    def __init__(self, kind: str, message: str, http_status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True)
class FoundCall:
    sid: str
    to: str
    from_: str
    status: str
    start_time: str | None  # ISO 8601 UTC, as callbacks.timestamp normalises
    created: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "to": self.to,
            "from": self.from_,
            "status": self.status,
            "start_time": self.start_time,
            "date_created": self.created,
        }


@dataclass
class Listing:
    calls: list[FoundCall] = field(default_factory=list)
    pages: int = 0
    query: dict[str, str] = field(default_factory=dict)
    complete: bool = True  # False when MAX_PAGES stopped the walk


def list_url(base_url: str, account_sid: str) -> str:
    return f"{base_url.rstrip('/')}/texml/Accounts/{quote(account_sid, safe='')}/Calls"


def _next_url(base_url: str, next_uri: Any) -> str | None:
    """The next page's URL, only if it is a path on the base URL's own scheme and host."""
    if not isinstance(next_uri, str) or not next_uri.strip():
        return None
    uri = next_uri.strip()
    if not uri.startswith("/") or uri.startswith("//"):
        return None
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}{uri}"


def _calls(payload: Any) -> list[FoundCall]:
    if not isinstance(payload, dict) or not isinstance(payload.get("calls"), list):
        raise LookupError_("malformed", "the call list reply has no 'calls' array")
    out = []
    for item in payload["calls"]:
        if not isinstance(item, dict) or not isinstance(item.get("sid"), str):
            continue
        out.append(
            FoundCall(
                sid=item["sid"],
                to=str(item.get("to") or ""),
                from_=str(item.get("from") or ""),
                status=str(item.get("status") or ""),
                start_time=timestamp(item.get("start_time")),
                created=timestamp(item.get("date_created")),
            )
        )
    return out


def fetch(
    client: Any,
    *,
    base_url: str,
    api_key: str,
    account_sid: str,
    to: str,
    from_: str | None,
    since: datetime,
    max_retries: int = 2,
    sleep: Callable[[float], None] = time.sleep,
) -> Listing:
    """Every call to ``to`` (from ``from_`` when known) that started on or after the day before
    ``since``. Raises :class:`LookupError_`."""
    query = {"To": to, "StartTime_gt": (since - timedelta(days=1)).strftime("%Y-%m-%d")}
    if from_:
        query["From"] = from_
    query["PageSize"] = str(PAGE_SIZE)
    listing = Listing(query=dict(query))
    url: str | None = list_url(base_url, account_sid)
    params: dict[str, str] | None = query
    while url is not None:
        if listing.pages >= MAX_PAGES:
            listing.complete = False
            break
        payload = _get(client, url, params, api_key, max_retries, sleep)
        listing.pages += 1
        listing.calls.extend(_calls(payload))
        url, params = _next_url(base_url, payload.get("next_page_uri")), None
    return listing


def _get(
    client: Any,
    url: str,
    params: dict[str, str] | None,
    api_key: str,
    max_retries: int,
    sleep: Callable[[float], None],
) -> Any:
    import httpx

    from runner import __version__
    from runner.send.submit import backoff, parse_errors, retry_after

    headers = {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": f"callprofile/{__version__}",
    }
    attempt = 0
    while True:
        attempt += 1
        try:
            reply = client.get(url, params=params, headers=headers)
        except httpx.HTTPError as exc:
            if attempt <= max_retries:
                sleep(backoff(attempt - 1, random.random))
                continue
            raise LookupError_(
                "unreachable",
                f"could not read the call list ({type(exc).__name__}) after {attempt} attempt(s)",
            ) from None
        status = reply.status_code
        if status in _RETRYABLE and attempt <= max_retries:
            wait = retry_after(reply.headers) if status == 429 else None
            sleep(min(wait, 60.0) if wait is not None else backoff(attempt - 1, random.random))
            continue
        try:
            payload = json.loads(reply.content) if reply.content else None
        except ValueError:
            payload = None
        if 200 <= status < 300:
            if not isinstance(payload, dict):
                raise LookupError_("malformed", "the call list reply is not a JSON object", status)
            return payload
        details = "; ".join(
            " ".join(p for p in (e.code, e.title, e.detail) if p) for e in parse_errors(payload)
        )
        text = f"Telnyx answered {status} to the call list" + (f": {details}" if details else "")
        kind = "unreachable" if status in _RETRYABLE else "rejected"
        raise LookupError_(kind, text, status)
