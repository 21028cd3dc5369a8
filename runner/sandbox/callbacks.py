"""The callbacks one simulated call earns, as Telnyx would send them, and where they may go.

Status callbacks follow the TeXML status-callback schemas: form-encoded, PascalCase, every value
a string, ``CallbackSource=call-progress-events`` and a ``SequenceNumber`` counting from 0 per
call. Calls that ask for answering machine detection get ``AnsweredBy``: in the status callbacks
from ``in-progress`` on, or, with ``AsyncAmd``, in one AMD callback to
``AsyncAmdStatusCallback`` (fields ``AccountSid``, ``AnsweredBy``, ``CallSid``,
``CallSidLegacy``, ``ConnectionId``, ``MachineDetectionDuration``).

Targets: only http(s) URLs whose host is an IP address (or ``localhost``; no name is ever looked
up) and is the host that sent the call request (any loopback address counts as the same host
for a loopback client), or an address in the allow-list. Never anything else, even when the
sandbox listens on a public address, so a POST cannot make it a relay (SSRF).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from runner.sandbox.calls import SimCall

# The status events each outcome passes through, in order.
PROGRESS: dict[str, tuple[str, ...]] = {
    "human": ("initiated", "ringing", "answered", "completed"),
    "machine": ("initiated", "ringing", "answered", "completed"),
    "fax": ("initiated", "ringing", "answered", "completed"),
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
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Delivery:
    url: str  # as the request gave it (for the records)
    target: str  # the URL connected to (localhost rewritten to 127.0.0.1)
    method: str
    fields: dict[str, str]
    event: str  # a status event, or "amd"
    fault: str | None = None  # what this delivery simulates going wrong, if anything


@dataclass
class Plan:
    call_sid: str
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)  # records to keep


def stamp(moment: datetime, millis: bool = False) -> str:
    return moment.isoformat(timespec="milliseconds" if millis else "seconds").replace("+00:00", "Z")


def parse_allow(values: Iterable[str]) -> list[Network]:
    """``--callback-allow`` values (IP addresses or networks) -> networks; ValueError names
    the bad one."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address or network (names are not looked up)"
            ) from None
    return networks


def target_for(
    url: str, peer: str, allow: list[Network] | tuple[Network, ...]
) -> tuple[str | None, str | None]:
    """(url to connect to, None) when callbacks may go to ``url``, else (None, reason)."""
    return _target_for(url, peer, tuple(allow))


@functools.lru_cache(maxsize=1024)  # a campaign sends every call's callbacks to a few URLs
def _target_for(url: str, peer: str, allow: tuple[Network, ...]) -> tuple[str | None, str | None]:
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
    target = url
    if host == "localhost":
        target = parts._replace(netloc="127.0.0.1" + (f":{port}" if port else "")).geturl()
        host = "127.0.0.1"
    try:
        client = ipaddress.ip_address(peer)
    except ValueError:
        client = None
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped  # an IPv4 client of a dual-stack listener
    local = client is not None and client.is_loopback
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if (address is not None and client is not None) and (
        address == client or (address.is_loopback and local)
    ):
        return target, None
    if address is not None and any(address in network for network in allow):
        return target, None
    if local:
        return None, (
            f"{host} is not a loopback address (the sandbox calls back only the host that "
            "placed the call, here 127.0.0.1/::1, or a --callback-allow address)"
        )
    if address is None:
        return None, f"{host} is a name; the sandbox calls back IP addresses only (no lookups)"
    return None, (
        f"{host} is not the host that placed the call ({peer}) nor a --callback-allow address"
    )


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


def wants_callbacks(body: dict[str, Any]) -> bool:
    return bool(callback_urls(body)) or (
        body.get("AsyncAmd") is True and isinstance(body.get("AsyncAmdStatusCallback"), str)
    )


def events_for(body: dict[str, Any], outcome: str) -> list[str]:
    """The status events to send, in order. ``completed`` asks for the end of the call
    whatever its final status (as in TwiML, and so the default, ``completed`` alone, still
    reports a busy or unanswered call); ``busy``, ``no-answer``... ask for that end only."""
    wanted = requested_events(body)
    events = list(PROGRESS[outcome])
    final = events[-1]
    return [e for e in events if e in wanted or (e == final and "completed" in wanted)]


def event_time(call: SimCall, event: str) -> datetime:
    if event == "initiated":
        return call.start
    if event == "ringing":
        return call.start + timedelta(seconds=1)
    if event == "answered" and call.answered is not None:
        return call.answered
    return call.end


def base_fields(call: SimCall) -> dict[str, str]:
    """The fields every status callback of ``call`` carries."""
    out = {
        "AccountSid": call.account_sid,
        "CallSid": call.call_sid,
        "CallSidLegacy": call.legacy_sid,
        "CallStatus": "",
        "CallbackSource": "call-progress-events",
        "CallInitiatedAt": stamp(call.start, millis=True),
        "ConnectionId": call.connection_id,
        "From": call.from_,
        "To": call.to,
    }
    if call.caller_id is not None:
        out["CallerId"] = call.caller_id
    return out


def status_fields(
    call: SimCall, event: str, sequence: int, base: dict[str, str] | None = None
) -> dict[str, str]:
    out = dict(base or base_fields(call))
    out["CallStatus"] = WIRE_STATUS.get(event, event)
    out["SequenceNumber"] = str(sequence)
    out["Timestamp"] = stamp(event_time(call, event))
    if event == "ringing":
        out["CallDuration"] = "0"
    if event == "answered":
        out.update(Codec="PCMU", SamplingRate="8000")
    if call.answered_by and not call.amd_async and event in ("answered", "completed"):
        out["AnsweredBy"] = call.answered_by
    if event in HANGUP:
        cause, source, sip = HANGUP[event]
        out.update(
            CallDuration=str(call.duration),
            HangupCause=cause,
            HangupSource=source,
            SipHangupCause=sip,
        )
        if event == "completed" and call.answered is not None:
            out.update(
                AnsweredTime=stamp(call.answered),
                StartTime=stamp(call.start),
                EndTime=stamp(call.end),
                OccurredAt=stamp(call.end),
                CallControlId=call.call_sid,
                CallLegId=call.leg_id,
                CallSessionId=call.session_id,
            )
    return out


def amd_fields(call: SimCall) -> dict[str, str]:
    return {
        "AccountSid": call.account_sid,
        "AnsweredBy": call.answered_by or "unknown",
        "CallSid": call.call_sid,
        "CallSidLegacy": call.legacy_sid,
        "ConnectionId": call.connection_id,
        "MachineDetectionDuration": str(call.amd_ms),
    }


def plan_for(
    call: SimCall, body: dict[str, Any], peer: str, allow: list[Network], cap: int
) -> Plan:
    """Every delivery the call earns, in sending order, faults applied, at most ``cap``."""
    plan = Plan(call.call_sid)
    status_targets = _targets(callback_urls(body), peer, allow, plan)
    method = "GET" if body.get("StatusCallbackMethod") == "GET" else "POST"
    events = events_for(body, call.outcome) if status_targets else []
    groups: list[list[Delivery]] = []
    base = base_fields(call) if events else {}
    for sequence, event in enumerate(events):
        fields = status_fields(call, event, sequence, base)
        groups.append([Delivery(u, t, method, fields, event) for u, t in status_targets])
        if event == "answered" and call.answered_by and call.amd_async:
            groups.append(_amd(call, body, peer, allow, plan))
    if call.answered_by and call.amd_async and "answered" not in events:
        groups.append(_amd(call, body, peer, allow, plan))
    groups = [g for g in groups if g]
    if "out-of-order" in call.faults:
        groups.reverse()
    deliveries = [d for group in groups for d in group]
    deliveries += _fault_extras(call, deliveries)
    if len(deliveries) > cap:
        plan.refused.append(
            {
                "kind": "callback",
                "call_sid": call.call_sid,
                "refused": f"over the cap of {cap} callbacks per call: "
                f"{len(deliveries) - cap} not sent",
            }
        )
        deliveries = deliveries[:cap]
    plan.deliveries = deliveries
    return plan


def _targets(urls: list[str], peer: str, allow: list[Network], plan: Plan) -> list[tuple]:
    found = []
    for url in urls:
        target, reason = target_for(url, peer, allow)
        if target is None:
            plan.refused.append(
                {"kind": "callback", "url": url, "refused": reason, "call_sid": plan.call_sid}
            )
        else:
            found.append((url, target))
    return found


def _amd(
    call: SimCall, body: dict[str, Any], peer: str, allow: list[Network], plan: Plan
) -> list[Delivery]:
    url = body.get("AsyncAmdStatusCallback")
    if not isinstance(url, str):
        return []
    method = "GET" if body.get("AsyncAmdStatusCallbackMethod") == "GET" else "POST"
    fields = amd_fields(call)
    return [Delivery(u, t, method, fields, "amd") for u, t in _targets([url], peer, allow, plan)]


def _fault_extras(call: SimCall, deliveries: list[Delivery]) -> list[Delivery]:
    """Extra deliveries for the call's faults. Forged ones (bad signature, tampered body,
    stale timestamp) claim a different end and a later sequence number, so a receiver that
    believed one would end up with a different record."""
    status = [d for d in deliveries if d.event != "amd"]
    if not status:
        return []
    last = max(status, key=lambda d: int(d.fields["SequenceNumber"]))
    extras: list[Delivery] = []
    if "duplicate" in call.faults:
        extras.append(_copy(last, last.fields, "duplicate"))
    forged = dict(last.fields)
    forged["CallStatus"] = "busy" if last.fields["CallStatus"] != "busy" else "completed"
    forged["SequenceNumber"] = str(int(last.fields["SequenceNumber"]) + 1)
    for fault in ("bad-signature", "tampered", "stale-timestamp"):
        if fault in call.faults:
            extras.append(_copy(last, forged, fault))
    return extras


def _copy(delivery: Delivery, fields: dict[str, str], fault: str) -> Delivery:
    return Delivery(
        delivery.url, delivery.target, delivery.method, dict(fields), delivery.event, fault
    )
