"""One record type for every callback Telnyx sends about a call.

TeXML status and AMD callbacks are ``application/x-www-form-urlencoded`` (PascalCase fields, every
value a string); Call Control webhooks are JSON (``{"data": {"event_type", "id", "occurred_at",
"payload": {...}}}``). Both become a :class:`Callback`. Values arrive from the network, so each one
is checked for type and size; what cannot be used is an error with a code, never an exception
from deep inside a parser.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

from runner import codes

STATUSES = (
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
)
ANSWERED_BY = ("human", "machine", "fax", "unknown")
MAX_FIELDS = 200
MAX_VALUE = 4096  # characters: no callback field is anywhere near this long
MAX_SID = 256
# The answered event is "in-progress" on the wire; accept the event name too.
_STATUS_ALIASES = {"answered": "in-progress"}
# JSON webhooks: event type -> status (call.hangup is decided by its hangup cause).
_EVENT_STATUS = {
    "call.initiated": "initiated",
    "call.ringing": "ringing",
    "call.answered": "in-progress",
    "call.bridged": "in-progress",
}
_HANGUP_STATUS = {
    "user_busy": "busy",
    "timeout": "no-answer",
    "no_answer": "no-answer",
    "originator_cancel": "canceled",
    "normal_clearing": "completed",
    "time_limit": "completed",
}
_AMD_EVENTS = ("call.machine.detection.ended", "call.machine.premium.detection.ended")


class CallbackError(ValueError):
    """A body the receiver cannot use; ``code`` is one of CP720-CP729."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Callback:
    """What one callback says about one call. ``key`` identifies it for de-duplication."""

    call_sid: str
    key: str
    kind: str  # status | amd | other
    source: str  # texml | json
    status: str | None = None  # one of STATUSES
    raw_status: str | None = None  # CallStatus or event_type exactly as sent
    sequence: int | None = None
    occurred_at: str | None = None  # ISO 8601 UTC
    answered_by: str | None = None  # one of ANSWERED_BY
    answered_by_detail: str | None = None  # e.g. machine_end_beep
    duration: int | None = None  # seconds
    attestation: str | None = None  # SHAKEN/STIR: A, B or C
    initiated_at: str | None = None
    answered_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    hangup_cause: str | None = None
    account_sid: str | None = None
    from_: str | None = None
    to: str | None = None

    def as_dict(self) -> dict[str, Any]:
        # Every field is a str or an int: no deep copy needed (dataclasses.asdict costs 20x).
        return {k: v for k in _FIELDS if (v := getattr(self, k)) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Callback:
        return cls(**{k: v for k, v in data.items() if k in _FIELD_SET})


_FIELDS = tuple(f.name for f in fields(Callback))
_FIELD_SET = frozenset(_FIELDS)


def answered_by(value: str | None) -> str | None:
    """Telnyx's AMD verdicts (TeXML and Call Control spellings) in four words."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    if text.startswith("human"):
        return "human"
    if text.startswith("machine"):
        return "machine"
    if text.startswith("fax"):
        return "fax"
    return "unknown"


# The usual UTC shape, normalised without building a datetime (a quarter of the cost).
_UTC = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:Z|z|\+00:?00)")


def timestamp(value: Any) -> str | None:
    """A callback time as ISO 8601 UTC with milliseconds, or None when it cannot be read.

    Telnyx has sent ISO 8601 (``2024-01-15T10:30:26.028Z``), ISO with a space
    (``2021-04-28 21:51:18.731479Z``) and RFC 2822 (``Thu, 15 Jun 2023 09:56:45 +0000``)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    text = value.strip()
    quick = _UTC.fullmatch(text)
    if quick:
        year, month, day, hour, minute, second, fraction = quick.groups()
        # Days past the 28th need the calendar; those take the slow path below.
        valid = "01" <= month <= "12" and "01" <= day <= "28"
        if valid and hour < "24" and minute < "60" and second < "60":
            millis = (fraction or "").ljust(3, "0")[:3]
            return f"{year}-{month}-{day}T{hour}:{minute}:{second}.{millis}Z"
    when: datetime | None = None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        utc = when.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _digest(pairs: list[tuple[str, str]] | Any) -> str:
    canonical = json.dumps(pairs, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _sid(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CallbackError(codes.CALLBACK_NO_CALL, f"the callback has no {name}")
    sid = value.strip()
    if len(sid) > MAX_SID or not sid.isprintable():
        raise CallbackError(codes.CALLBACK_FIELD, f"{name} is not a call id")
    return sid


def _int(value: Any, name: str, strict: bool) -> int | None:
    """A non-negative whole number sent as text (or as a JSON number); None when absent. A value
    that is not one is an error when ``strict`` (it is part of a key), else ignored."""
    number: int | None = None
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value if 0 <= value < 10**12 else None
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.isascii() and text.isdigit() and len(text) <= 12:
            number = int(text)
    if number is None:
        if strict:
            raise CallbackError(codes.CALLBACK_FIELD, f"{name} is not a whole number")
        return None
    return number


def _text(value: Any, limit: int = 64) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text[:limit] if text else None


# ---------------------------------------------------------------------------- TeXML form


def parse_form(text: str) -> dict[str, str]:
    """A form body as a mapping (``urllib.parse.parse_qsl``'s rules, at a third of its cost: most
    callback values need no unquoting). A field sent twice with different values is refused:
    which one counts would be a guess."""
    from urllib.parse import unquote_plus

    out: dict[str, str] = {}
    if not text:
        return out
    parts = text.split("&")
    if len(parts) > MAX_FIELDS:
        raise CallbackError(codes.CALLBACK_FORM, f"the form has more than {MAX_FIELDS} fields")
    for part in parts:
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        if len(value) > MAX_VALUE or len(name) > 128:
            raise CallbackError(codes.CALLBACK_FORM, "a form field is too long")
        if name in out and out[name] != value:
            raise CallbackError(codes.CALLBACK_FORM, f"the field {name!r} is sent twice")
        out[name] = value
    if not out and text.strip():
        raise CallbackError(codes.CALLBACK_FORM, "the body is not a form (name=value&...)")
    return out


def from_form(form: dict[str, str]) -> Callback:
    sid = _sid(form.get("CallSid") or form.get("CallControlId"), "CallSid")
    raw_status = _text(form.get("CallStatus"))
    status = None
    if raw_status is not None:
        lowered = raw_status.lower()
        lowered = _STATUS_ALIASES.get(lowered, lowered)
        status = lowered if lowered in STATUSES else None
    sequence = _int(form.get("SequenceNumber"), "SequenceNumber", strict=True)
    occurred = timestamp(form.get("Timestamp")) or timestamp(form.get("OccurredAt"))
    detail = _text(form.get("AnsweredBy"))
    if raw_status is not None:
        kind = "status"
        if sequence is not None:
            key = f"texml:{sid}:{sequence}:{raw_status}"
        else:
            key = f"texml:{sid}:{raw_status}:{form.get('Timestamp', '')}"
    elif detail is not None:
        kind = "amd"
        key = f"texml:{sid}:amd:{detail}"
    else:
        kind = "other"
        key = f"texml:{sid}:other:{_digest(sorted(form.items()))}"
    return Callback(
        call_sid=sid,
        key=key,
        kind=kind,
        source="texml",
        status=status,
        raw_status=raw_status,
        sequence=sequence,
        occurred_at=occurred,
        answered_by=answered_by(detail),
        answered_by_detail=detail,
        duration=_int(form.get("CallDuration"), "CallDuration", strict=False),
        attestation=_text(form.get("ShakenStirAttestation"), 8),
        initiated_at=timestamp(form.get("CallInitiatedAt")),
        answered_at=timestamp(form.get("AnsweredTime")),
        started_at=timestamp(form.get("StartTime")),
        ended_at=timestamp(form.get("EndTime")),
        hangup_cause=_text(form.get("HangupCause")),
        account_sid=_text(form.get("AccountSid"), 128),
        from_=_text(form.get("From")),
        to=_text(form.get("To")),
    )


# ---------------------------------------------------------------------------- JSON webhooks


def from_json(data: Any) -> Callback:
    if not isinstance(data, dict):
        raise CallbackError(codes.CALLBACK_JSON, "the JSON body is not an object")
    event = data.get("data", data)
    if not isinstance(event, dict):
        raise CallbackError(codes.CALLBACK_JSON, "'data' is not an object")
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise CallbackError(codes.CALLBACK_JSON, "the webhook has no 'payload' object")
    event_type = _text(event.get("event_type"), 128)
    if event_type is None:
        raise CallbackError(codes.CALLBACK_JSON, "the webhook has no 'event_type'")
    sid = _sid(payload.get("call_control_id"), "call_control_id")
    event_id = _text(event.get("id"), 128)
    key = f"json:{event_id}" if event_id else f"json:{sid}:{_digest(event)}"
    status = _EVENT_STATUS.get(event_type)
    cause = _text(payload.get("hangup_cause"))
    if event_type == "call.hangup":
        status = _HANGUP_STATUS.get((cause or "").lower(), "failed")
    detail = _text(payload.get("result")) if event_type in _AMD_EVENTS else None
    kind = "status" if status else ("amd" if detail else "other")
    return Callback(
        call_sid=sid,
        key=key,
        kind=kind,
        source="json",
        status=status,
        raw_status=event_type,
        occurred_at=timestamp(event.get("occurred_at")),
        answered_by=answered_by(detail),
        answered_by_detail=detail,
        duration=_int(payload.get("duration_sec"), "duration_sec", strict=False),
        started_at=timestamp(payload.get("start_time")),
        ended_at=timestamp(payload.get("end_time")),
        hangup_cause=cause,
        from_=_text(payload.get("from")),
        to=_text(payload.get("to")),
    )


def parse(body: bytes, content_type: str | None) -> Callback:
    """The callback in a request body (already verified). Raises :class:`CallbackError`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CallbackError(codes.CALLBACK_ENCODING, "the body is not UTF-8 text") from None
    media = (content_type or "").split(";", 1)[0].strip().lower()
    is_json = media.endswith("json") if media else text.lstrip().startswith("{")
    if is_json:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise CallbackError(codes.CALLBACK_JSON, "the body is not valid JSON") from None
        return from_json(data)
    if media and media != "application/x-www-form-urlencoded":
        raise CallbackError(
            codes.CALLBACK_FORM, f"unexpected Content-Type {media[:60]!r} (form or JSON expected)"
        )
    return from_form(parse_form(text))
