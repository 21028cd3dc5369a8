"""Send a request to Telnyx, retrying only what provably never reached it.

Telnyx offers no idempotency key for this endpoint, so a POST that may have arrived is never sent
again: a read timeout, a connection dropped after the body was sent, or any 5xx is reported as
"outcome unknown" (docs/guide/submitting.md, "Retries"). Only failures before the request left
(connection refused, DNS failure, connect or pool timeout) and 429 answers are retried.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from runner import __version__ as __version__  # the User-Agent's version (runner.send.prepared)
from runner.exitcodes import ExitCode
from runner.send.prepared import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from runner.send.prepared import HttpRequest as HttpRequest
from runner.send.prepared import encode_body as encode_body
from runner.send.prepared import prepare as prepare

# Seconds. A 429 asking for a longer wait is not retried: waiting less than asked only earns
# another 429, and a CLI that silently sleeps for minutes looks hung.
MAX_RETRY_WAIT = 60.0
MIN_RATE_LIMIT_WAIT = 1.0  # a 429 without a hint waits at least this long
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
_EPOCH_THRESHOLD = 1_000_000_000  # x-ratelimit-reset above this is a Unix time, not seconds

Status = Literal["placed", "rejected", "unknown", "unreachable", "invalid"]


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 15.0  # the POST answers "queued" at once; longer waits only add ambiguity
    write: float = 10.0
    pool: float = 5.0


@dataclass
class TelnyxError:
    code: str | None
    title: str | None
    detail: str | None
    pointer: str | None


@dataclass
class Result:
    status: Status
    message: str
    http_status: int | None = None
    response: Any = None  # the parsed JSON reply, when there was one
    errors: list[TelnyxError] = field(default_factory=list)
    attempts: int = 0
    sent_at: str | None = None  # UTC time of the last attempt
    request_id: str | None = None
    reply_excerpt: str | None = None  # the start of a reply that was not the documented JSON
    notes: list[str] = field(default_factory=list)  # one line per attempt, oldest first
    interrupted: bool = False  # Ctrl-C while the request was on its way or being answered

    @property
    def call_sid(self) -> str | None:
        if isinstance(self.response, dict):
            value = self.response.get("call_sid")
            return value if isinstance(value, str) else None
        return None

    @property
    def exit_code(self) -> ExitCode:
        return {
            "placed": ExitCode.OK,
            "rejected": ExitCode.REJECTED,
            "unknown": ExitCode.UNKNOWN,
            "unreachable": ExitCode.UNREACHABLE,
            "invalid": ExitCode.INVALID,
        }[self.status]


def make_client(timeouts: Timeouts = Timeouts(), max_connections: int = 10) -> Any:
    """An httpx client whose attempts report whether any byte left, with a deadline for the
    whole reply (``timeouts.read``), not only for each read."""
    from runner.send import wire

    return wire.make_client(
        connect=timeouts.connect,
        read=timeouts.read,
        write=timeouts.write,
        pool=timeouts.pool,
        max_connections=max_connections,
    )


def retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or ``x-ratelimit-reset``."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            import email.utils  # only for an HTTP-date Retry-After: ~14 ms to import

            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=timezone.utc)
                current = now if now is not None else time.time()
                return max(0.0, when.timestamp() - current)
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            seconds = float(reset.strip())
        except ValueError:
            return None
        if seconds > _EPOCH_THRESHOLD:
            seconds -= now if now is not None else time.time()
        return max(0.0, seconds)
    return None


def backoff(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng() * min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt))


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_errors(payload: Any) -> list[TelnyxError]:
    out: list[TelnyxError] = []
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        for item in payload["errors"]:
            if not isinstance(item, dict):
                continue
            source: dict[str, Any] = item["source"] if isinstance(item.get("source"), dict) else {}
            out.append(
                TelnyxError(
                    code=str(item["code"]) if item.get("code") is not None else None,
                    title=item.get("title") if isinstance(item.get("title"), str) else None,
                    detail=item.get("detail") if isinstance(item.get("detail"), str) else None,
                    pointer=source.get("pointer")
                    if isinstance(source.get("pointer"), str)
                    else None,
                )
            )
    return out


def _excerpt(raw: bytes, limit: int = 200) -> str:
    text = raw.decode("utf-8", "replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def send(
    request: HttpRequest,
    *,
    client: Any = None,
    max_retries: int = 2,
    sleep: Callable[[float], object] = time.sleep,
    wait_for_rate_limit: Callable[[float], None] | None = None,
    on_retry: Callable[[str, float], None] | None = None,
    rng: Callable[[], float] = random.random,
) -> Result:
    """POST ``request`` and classify the outcome. Never raises for network or HTTP trouble.

    ``sleep`` waits between attempts (inject a fake in tests: no real waiting needed);
    ``wait_for_rate_limit`` lets a batch pause every worker on a 429 (default: ``sleep``);
    ``on_retry(reason, delay)`` is told about each retry before the wait.

    Ctrl-C while a request is being sent or answered returns an ``unknown`` result marked
    ``interrupted`` (the call may have been placed); before any byte left, it propagates.
    """
    problem = _gate_problem(request)
    if problem:
        return Result("invalid", f"{problem}; nothing was sent")
    own_client = client is None
    if own_client:
        client = make_client()
    attempts = 0
    notes: list[str] = []
    try:
        while True:
            attempts += 1
            sent_at = _utc_now()
            outcome = _attempt(client, request)
            if isinstance(outcome, _Failure):
                reason = outcome.reason
                if not outcome.maybe_sent and outcome.retryable:
                    notes.append(f"attempt {attempts} at {sent_at}: {reason} (nothing sent)")
                    if attempts <= max_retries:
                        delay = backoff(attempts - 1, rng)
                        if on_retry:
                            on_retry(reason, delay)
                        sleep(delay)
                        continue
                    return Result(
                        "unreachable",
                        f"could not reach Telnyx ({reason}) after {attempts} attempt(s); "
                        "no call was placed",
                        attempts=attempts,
                        sent_at=sent_at,
                        notes=notes,
                    )
                if not outcome.maybe_sent:
                    notes.append(f"attempt {attempts} at {sent_at}: {reason} (nothing sent)")
                    return Result(
                        "invalid",
                        f"the request could not be sent ({reason}); nothing was sent",
                        attempts=attempts,
                        notes=notes,
                    )
                # Read/write timeout, connection reset or closed, Ctrl-C after (part of) the
                # request went out: Telnyx may have queued the call. Never sent again.
                notes.append(f"attempt {attempts} at {sent_at}: {reason} after sending")
                return Result(
                    "unknown",
                    f"outcome unknown: the call may have been placed ({reason} at {sent_at}, "
                    "after the request was sent); it was not sent again",
                    attempts=attempts,
                    sent_at=sent_at,
                    notes=notes,
                    interrupted=outcome.interrupted,
                )
            response = outcome
            result = _classify(response, attempts, sent_at)
            notes.append(f"attempt {attempts} at {sent_at}: HTTP {response.status_code}")
            result.notes = notes
            if response.status_code != 429:
                return result
            wait = retry_after(response.headers)
            if wait is not None and wait > MAX_RETRY_WAIT:
                result.message = (
                    f"Telnyx answered 429 Too Many Requests and asked to wait {wait:.0f}s, "
                    f"more than callprofile waits ({MAX_RETRY_WAIT:.0f}s); gave up after "
                    f"{attempts} attempt(s); no call was placed; try again later"
                )
                return result
            if attempts > max_retries:
                result.message = (
                    f"Telnyx kept answering 429 Too Many Requests; gave up after {attempts} "
                    f"attempt(s) (--max-retries {max_retries}); no call was placed"
                )
                return result
            delay = (
                wait if wait is not None else max(MIN_RATE_LIMIT_WAIT, backoff(attempts - 1, rng))
            )
            if on_retry:
                on_retry("429 Too Many Requests", delay)
            (wait_for_rate_limit or sleep)(delay)
    finally:
        if own_client:
            client.close()


def _gate_problem(request: HttpRequest) -> str | None:
    """The gate's verdict on a prepared request (its URL and key), or None."""
    key = next((v for n, v in request.headers if n.lower() == "authorization"), "")
    key = key[len("Bearer ") :] if key.startswith("Bearer ") else key
    return _gate_verdict(request.url, key)


@functools.lru_cache(maxsize=8)
def _gate_verdict(url: str, key: str) -> str | None:
    """The gate's checks depend on nothing but the URL and the key, the same for every row of a
    batch: checked once per run, not per call (about 20 µs a call, parsing the URL twice)."""
    from runner.send import gate

    return gate.check_base_url(url) or gate.check_api_key(key)


@dataclass
class _Failure:
    reason: str
    maybe_sent: bool  # a byte of the request may have reached the network
    retryable: bool = False  # failed before anything left, for a transient reason
    interrupted: bool = False


def _attempt(client: Any, request: HttpRequest) -> Any:
    """One POST: the response, or a _Failure saying whether anything may have left."""
    import httpx

    from runner.send import wire

    tracked = wire.is_tracked(client)
    read = client.timeout.read if tracked and client.timeout.read is not None else 15.0
    lanes = client.lanes if tracked and request.method == "POST" else None
    with wire.attempt(read) as probe:
        try:
            if lanes is not None:
                return lanes.post(wire.parsed_url(request.url), request.headers, request.body)
            return client.request(
                request.method,
                wire.parsed_url(request.url),
                headers=list(request.headers),
                content=request.body,
            )
        except KeyboardInterrupt:
            if tracked and not probe.wrote:
                raise  # nothing left: an ordinary interruption
            return _Failure("interrupted (Ctrl-C)", maybe_sent=True, interrupted=True)
        except wire.before_sending() as exc:
            # Raised before a byte of the request left: safe to try again.
            return _Failure(wire.transport_reason(exc), maybe_sent=False, retryable=True)
        except Exception as exc:
            if probe.deadline_passed:
                reason = f"read timeout: no complete answer within {read:g}s"
            else:
                reason = wire.transport_reason(exc)
            if tracked:
                return _Failure(reason, maybe_sent=probe.wrote)
            # A client of the caller's: judge by what httpx raises before anything is sent.
            local = (
                httpx.UnsupportedProtocol,
                httpx.LocalProtocolError,
                httpx.InvalidURL,
                UnicodeError,
            )
            return _Failure(reason, maybe_sent=not isinstance(exc, local))


def _status_text(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _classify(response: Any, attempts: int, sent_at: str) -> Result:
    status = response.status_code
    raw = response.content
    request_id = response.headers.get("x-request-id")
    try:
        payload = json.loads(raw) if raw else None
        readable = payload is not None
    except ValueError:
        payload, readable = None, False
    excerpt = None if readable else (_excerpt(raw) or "(empty)")
    common = {
        "http_status": status,
        "response": payload,
        "attempts": attempts,
        "sent_at": sent_at,
        "request_id": request_id,
        "reply_excerpt": excerpt,
    }
    shown = _status_text(status)
    if 200 <= status < 300:
        if readable and isinstance(payload, dict) and isinstance(payload.get("call_sid"), str):
            return Result("placed", f"call {payload.get('status') or 'accepted'}", **common)
        return Result(
            "unknown",
            f"outcome unknown: Telnyx answered {shown} at {sent_at} but the reply was not the "
            "documented JSON; the call was probably placed; it was not sent again",
            **common,
        )
    errors = parse_errors(payload)
    if status == 429:
        return Result("unreachable", "429 Too Many Requests", errors=errors, **common)
    if status >= 500 or status == 408:
        return Result(
            "unknown",
            f"outcome unknown: the call may have been placed (Telnyx answered {shown} at "
            f"{sent_at}); it was not sent again",
            errors=errors,
            **common,
        )
    if 300 <= status < 400:
        where = response.headers.get("location") or "an unnamed place"
        return Result(
            "rejected",
            f"the server answered {shown} (a redirect to {where}, not followed; check the "
            "base URL); no call was placed",
            **common,
        )
    if not errors:
        what = "a reply that is not Telnyx's error JSON" if not readable else "no error details"
        return Result(
            "rejected",
            f"Telnyx rejected the request ({shown}) with {what}; no call was placed",
            **common,
        )
    return Result(
        "rejected",
        f"Telnyx rejected the request ({shown}); no call was placed",
        errors=errors,
        **common,
    )
