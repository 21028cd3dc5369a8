"""``GET /v2/texml/Accounts/{account_sid}/Calls[.json]`` and ``.../Calls/{call_sid}[.json]``.

Answers from the calls the sandbox has placed, in Telnyx's shapes (``CallResourceIndex`` and
``CallResource``), newest first. Filters: ``To``, ``From``, ``Status``, ``StartTime`` and
``EndTime`` (a date ``YYYY-MM-DD`` or a date-time such as ``2026-05-22T10:00:00Z``) with Telnyx's
``_gt``/``_lt`` variants (strictly after/before; a date means its midnight, UTC) and Twilio's
``StartTime>=``/``StartTime<=`` spellings (a date there includes its whole day). Pages:
``PageSize`` (default 20, at most 1000), ``Page`` and ``PageToken``, and ``next_page_uri``,
which keeps the filters and stays right while new calls arrive.

Like Telnyx's, the list is eventually consistent: a call shows up ``delay`` seconds after it
was placed, by the sandbox's lookup clock (which tests can move forward instead of waiting).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from runner.sandbox import telnyx
from runner.sandbox.calls import CallStore, SimCall, resource_answered_by

Reply = tuple[int, dict[str, Any]]
STATUSES = ("canceled", "completed", "failed", "busy", "no-answer")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
NOT_FOUND: dict[str, Any] = {"errors": [{"detail": "Resource not found"}]}
_TIME_FILTERS = {
    # query name -> (call attribute, comparison)
    "StartTime": ("start", "on"),
    "StartTime_gt": ("start", "gt"),
    "StartTime_lt": ("start", "lt"),
    "StartTime>": ("start", "ge"),  # StartTime>=... arrives as name "StartTime>"
    "StartTime<": ("start", "le"),
    "EndTime": ("end", "on"),
    "EndTime_gt": ("end", "gt"),
    "EndTime_lt": ("end", "lt"),
    "EndTime>": ("end", "ge"),
    "EndTime<": ("end", "le"),
}
_KEPT = ("To", "From", "Status", *_TIME_FILTERS)


class QueryError(ValueError):
    def __init__(self, reply: Reply):
        super().__init__(str(reply))
        self.reply = reply


def _bad(parameter: str, detail: str, code: str = "10015", title: str = "Bad Request") -> Reply:
    item = telnyx.error(code, title, detail)
    item["source"] = {"parameter": parameter}
    return 400, telnyx.errors(item)


def parse_when(name: str, value: str) -> tuple[datetime, bool]:
    """(moment in UTC, True when only a date was given)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc), True
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryError(
            _bad(name, f"The '{name}' parameter must be a date (YYYY-MM-DD) or a date-time.")
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc), False


def _time_test(name: str, value: str) -> Callable[[SimCall], bool]:
    attribute, how = _TIME_FILTERS[name]
    moment, whole_day = parse_when(name, value)
    upto = moment + timedelta(days=1) if whole_day else moment
    if how == "on":
        if whole_day:
            return lambda c: moment <= getattr(c, attribute) < upto
        return lambda c: getattr(c, attribute).replace(microsecond=0) == moment
    if how == "gt":
        return lambda c: getattr(c, attribute) > moment
    if how == "lt":
        return lambda c: getattr(c, attribute) < moment
    if how == "ge":
        return lambda c: getattr(c, attribute) >= moment
    return (
        (lambda c: getattr(c, attribute) < upto)
        if whole_day
        else (lambda c: getattr(c, attribute) <= moment)
    )


def _number(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        detail = f"The '{name}' parameter must be an integer from {low} to {high}."
        raise QueryError(_bad(name, detail))
    return int(text)


def _token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode().rstrip("=")


def _after(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        kind, _, seq = text.partition(":")
        if kind == "after" and seq.isdigit():
            return int(seq)
    except (ValueError, UnicodeDecodeError):
        pass
    raise QueryError(_bad("PageToken", "The 'PageToken' parameter is not a token this list gave."))


def list_calls(
    store: CallStore, account_sid: str, raw_query: str, visible: Callable[[SimCall], bool]
) -> Reply:
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    try:
        tests = [_time_test(name, query[name]) for name in _TIME_FILTERS if name in query]
        status = query.get("Status")
        if status is not None and status not in STATUSES:
            item = telnyx.error(
                "10032",
                "Invalid enumerated value",
                f"Status must be one of {', '.join(STATUSES)}",
                "/Status",
            )
            return 422, telnyx.errors(item)
        size = _number(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = _number(query, "Page", 0, 0, 10**9)
        after = _after(query["PageToken"]) if query.get("PageToken") else None
    except QueryError as exc:
        return exc.reply
    to, from_ = query.get("To"), query.get("From")

    def wanted(call: SimCall) -> bool:
        return (
            visible(call)
            and (to is None or call.to == to)
            and (from_ is None or call.from_ == from_)
            and (status is None or call.status == status)
            and all(test(call) for test in tests)
        )

    matching = [c for c in store.newest_first() if wanted(c)]
    if after is not None:
        matching = [c for c in matching if c.seq < after]
        items = matching[:size]
    else:
        items = matching[page * size : page * size + size]
        matching = matching[page * size :]
    base = f"/v2/texml/Accounts/{quote(account_sid, safe='')}/Calls.json"
    kept = [(k, query[k]) for k in _KEPT if k in query]

    def uri(number: int, token: str | None = None) -> str:
        params = [("Page", str(number)), ("PageSize", str(size)), *kept]
        if token:
            params.append(("PageToken", token))
        return f"{base}?{urlencode(params)}"

    more = len(matching) > len(items)
    start = page * size
    return 200, {
        "calls": [resource(c) for c in items],
        "end": start + max(len(items), 1) - 1,
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, _token(items[-1].seq)) if more and items else None,
        "page": page,
        "page_size": size,
        "start": start,
        "uri": uri(page, query.get("PageToken")),
    }


def fetch_call(store: CallStore, call_sid: str, visible: Callable[[SimCall], bool]) -> Reply:
    call = store.get(call_sid)
    if call is None or not visible(call):
        return 404, NOT_FOUND
    return 200, resource(call)


def resource(call: SimCall) -> dict[str, Any]:
    """One call in Telnyx's ``CallResource`` shape."""
    out: dict[str, Any] = {
        "account_sid": call.account_sid,
        "caller_name": call.caller_id or call.from_,
        "date_created": format_datetime(call.start),
        "date_updated": format_datetime(call.end),
        "direction": "outbound",
        "duration": str(call.duration),
        "end_time": format_datetime(call.end),
        "from": call.from_,
        "from_formatted": formatted(call.from_),
        "sid": call.call_sid,
        "start_time": format_datetime(call.start),
        "status": call.status,
        "to": call.to,
        "to_formatted": formatted(call.to),
        "uri": f"/v2/texml/Accounts/{call.account_sid}/Calls/{call.call_sid}.json",
    }
    answered_by = resource_answered_by(call)
    if answered_by is not None:
        out["answered_by"] = answered_by
    return out


@functools.lru_cache(maxsize=4096)
def formatted(number: str) -> str:
    """A number as a person would write it in its own country: (312) 555-0123."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
