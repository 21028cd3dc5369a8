"""Status callbacks the sandbox sends, as Telnyx would, but only to loopback addresses.

Fields follow the TeXML status-callback schemas (reference: telnyx-ai-call-api.md, section 3.3):
form-encoded, PascalCase, every value a string. The sandbox does not sign callbacks (it has no
Telnyx key pair), so a receiver that verifies signatures must allow unsigned ones in tests.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# The call each outcome simulates, as the status events Telnyx would send, in order.
PROGRESS: dict[str, tuple[str, ...]] = {
    "completed": ("initiated", "ringing", "answered", "completed"),
    "no-answer": ("initiated", "ringing", "no-answer"),
    "busy": ("initiated", "busy"),
    "canceled": ("initiated", "ringing", "canceled"),
    "failed": ("failed",),  # an unreachable number: one callback, nothing before it
}
# What CallStatus says on the wire for each requested event.
WIRE_STATUS = {"answered": "in-progress"}
HANGUP = {
    "completed": ("normal_clearing", "callee", "200"),
    "no-answer": ("timeout", "unknown", "480"),
    "busy": ("user_busy", "callee", "486"),
    "canceled": ("originator_cancel", "caller", "487"),
    "failed": ("unallocated_number", "unknown", "480"),
}


def loopback_target(url: str) -> tuple[str | None, str | None]:
    """(url to connect to, None) for an http(s) URL on loopback, else (None, reason).

    Only IP literals and ``localhost`` count; no name is looked up, so nothing leaves the
    machine even to ask DNS. ``localhost`` is rewritten to 127.0.0.1 for the same reason.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None, "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return None, "not an http(s) URL"
    if not host:
        return None, "no host in the URL"
    if host == "localhost":
        netloc = "127.0.0.1" + (f":{port}" if port else "")
        return urlunsplit(parts._replace(netloc=netloc)), None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None, f"{host} is not a loopback address (the sandbox calls only 127.0.0.1/::1)"
    if not address.is_loopback:
        return None, f"{host} is not a loopback address (the sandbox calls only 127.0.0.1/::1)"
    return url, None


def requested_events(body: dict[str, Any]) -> set[str]:
    raw = body.get("StatusCallbackEvent")
    if not isinstance(raw, str) or not raw.strip():
        return {"completed"}  # Telnyx's default
    return set(raw.split())


def callback_urls(body: dict[str, Any]) -> list[str]:
    urls: list[str] = []
    if isinstance(body.get("StatusCallback"), str):
        urls.append(body["StatusCallback"])
    if isinstance(body.get("StatusCallbacks"), list):
        urls.extend(u for u in body["StatusCallbacks"] if isinstance(u, str))
    return list(dict.fromkeys(urls))


def events_for(body: dict[str, Any], outcome: str) -> list[str]:
    wanted = requested_events(body)
    return [event for event in PROGRESS[outcome] if event in wanted]


def fields(
    event: str,
    sequence: int,
    body: dict[str, Any],
    call_sid: str,
    connection_id: str,
    started: datetime,
    now: datetime,
    ids: dict[str, str],
) -> dict[str, str]:
    def stamp(moment: datetime) -> str:
        return moment.isoformat(timespec="seconds").replace("+00:00", "Z")

    status = WIRE_STATUS.get(event, event)
    out = {
        "AccountSid": ids["account"],
        "CallSid": call_sid,
        "CallSidLegacy": ids["legacy"],
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
        "CallInitiatedAt": stamp(started),
        "ConnectionId": connection_id,
        "From": str(body.get("From", "")),
        "To": str(body.get("To", "")),
        "SequenceNumber": str(sequence),
        "Timestamp": stamp(now),
    }
    if isinstance(body.get("CallerId"), str):
        out["CallerId"] = body["CallerId"]
    if event == "ringing":
        out["CallDuration"] = "0"
    if event == "answered":
        out.update(Codec="PCMU", SamplingRate="8000")
    if event in HANGUP:
        cause, source, sip = HANGUP[event]
        answered = event == "completed"
        out.update(
            CallDuration="42" if answered else "0",
            HangupCause=cause,
            HangupSource=source,
            SipHangupCause=sip,
        )
        if answered:
            out.update(
                AnsweredTime=stamp(started + timedelta(seconds=3)),
                StartTime=stamp(started),
                EndTime=stamp(now),
                OccurredAt=stamp(now),
                CallControlId=call_sid,
                CallLegId=ids["leg"],
                CallSessionId=ids["session"],
            )
    return out


def new_ids() -> dict[str, str]:
    return {
        "account": str(uuid.uuid4()),
        "legacy": "v3:" + secrets.token_hex(16),
        "leg": str(uuid.uuid4()),
        "session": str(uuid.uuid4()),
    }


def deliver(
    body: dict[str, Any],
    call_sid: str,
    connection_id: str,
    outcome: str,
    record: Callable[[dict[str, Any]], None],
    wait: Callable[[float], bool],
    delay: float = 0.0,
    client: Any = None,
) -> None:
    """Send the status callbacks one call asks for, in order, to every loopback URL.

    ``record`` receives one log record per delivery (or refusal); ``wait(seconds)`` returns True
    when the sandbox is stopping, which ends the call's callbacks early.
    """
    import httpx

    events = events_for(body, outcome)
    targets: list[tuple[str, str]] = []
    for url in callback_urls(body):
        target, reason = loopback_target(url)
        if target is None:
            record({"kind": "callback", "url": url, "refused": reason, "call_sid": call_sid})
        else:
            targets.append((url, target))
    if not events or not targets:
        return
    method = "GET" if body.get("StatusCallbackMethod") == "GET" else "POST"
    ids = new_ids()
    started = datetime.now(timezone.utc)
    own = client is None
    client = client or httpx.Client(trust_env=False, follow_redirects=False, timeout=5.0)
    try:
        for sequence, event in enumerate(events):
            if delay and wait(delay):
                return
            data = fields(
                event,
                sequence,
                body,
                call_sid,
                connection_id,
                started,
                datetime.now(timezone.utc),
                ids,
            )
            for url, target in targets:
                entry: dict[str, Any] = {
                    "kind": "callback",
                    "url": url,
                    "method": method,
                    "event": event,
                    "call_status": data["CallStatus"],
                    "call_sid": call_sid,
                }
                headers = {"telnyx-timestamp": str(int(datetime.now(timezone.utc).timestamp()))}
                try:
                    if method == "GET":
                        reply = client.get(target, params=data, headers=headers)
                    else:
                        reply = client.post(target, data=data, headers=headers)
                    entry["status"] = reply.status_code
                except httpx.HTTPError as exc:
                    entry["error"] = type(exc).__name__
                record(entry)
    finally:
        if own:
            client.close()
