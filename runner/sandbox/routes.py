"""What the sandbox answers to each request: the call endpoint, the call lookups, 404s.

Every request becomes one record (secrets masked), kept before the answer is sent. POSTs to
``/v2/texml/ai_calls/{connection_id}`` take the next scripted step (a number rule first) and
are answered as Telnyx would, or broken on purpose; an accepted call gets its simulated outcome,
joins the call store and, when it asked for callbacks, a delivery plan.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from runner.sandbox import callbacks, lookup, masking, telnyx
from runner.sandbox.calls import SimCall, new_call
from runner.sandbox.script import Step
from runner.sandbox.wire import Exchange, Request

if TYPE_CHECKING:
    from runner.sandbox.server import Sandbox

CALL_PATH = re.compile(r"^/v2/texml/ai_calls/([^/]+)/?$")
CALLS_PATH = re.compile(r"^/v2/texml/Accounts/([^/]+)/Calls(?:\.json)?/?$")
CALL_RESOURCE = re.compile(r"^/v2/texml/Accounts/([^/]+)/Calls/([^/]+?)(?:\.json)?/?$")
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
TRUNCATED = '{"call_sid": "v3:sandbox-truncated", "status": "que'


def handle(sandbox: Sandbox, request: Request, exchange: Exchange) -> None:
    path = request.path
    match = CALL_PATH.match(path)
    record: dict[str, Any] = {
        "kind": "request",
        "method": request.method,
        "path": path,
        "connection_id": unquote(match.group(1)) if match else None,
        "headers": masking.mask_headers(request.headers),
    }
    if request.query:
        record["query"] = masking.mask_form(request.query, sandbox.secrets)
    parsed = _describe_body(record, request, sandbox.secrets)
    if request.body is None:
        exchange.keep_alive = False  # the unread body would be taken for a request
        answer(sandbox, exchange, record, 413, telnyx.default_error_body(400))
        return
    if match:
        if request.method != "POST":
            answer(sandbox, exchange, record, 405, telnyx.default_error_body(400))
            return
        _call(sandbox, request, exchange, record, parsed)
        return
    if request.method == "GET" and (CALLS_PATH.match(path) or CALL_RESOURCE.match(path)):
        _lookup(sandbox, request, exchange, record)
        return
    answer(sandbox, exchange, record, 404, telnyx.default_error_body(404))


def _describe_body(record: dict[str, Any], request: Request, known: frozenset[str]) -> Any:
    """Record the body (masked) in whichever encoding it came; return it parsed, if JSON."""
    raw = request.body
    if not raw:
        return None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        text = raw.decode("utf-8", "replace")
        if masking.is_form(request.header("Content-Type"), text):
            record["form"] = masking.mask_form(text, known)
        else:
            record["body_text"] = masking.mask_text(raw, known)
        return None
    record["body"] = masking.mask_body(body, known=known)
    return body


def _call(
    sandbox: Sandbox, request: Request, exchange: Exchange, record: dict[str, Any], body: Any
) -> None:
    to = body.get("To") if isinstance(body, dict) else None
    with sandbox.lock:
        sandbox.seq += 1
        record["seq"] = seq = sandbox.seq
        step = sandbox.script.next(to if isinstance(to, str) else None)
    if step != Step():
        record["script"] = _describe_step(step)
    delay = step.delay + sandbox.latency
    if delay and sandbox.stopping.wait(delay):
        return
    if step.fault in ("stall", "reset", "close"):
        record["response"] = {"fault": step.fault}
        sandbox.journal.record(record)
        if step.fault == "stall":
            sandbox.released.wait()
        exchange.drop(reset=step.fault == "reset")
        return
    if step.fault == "html":
        status = step.status or 502
        answer(sandbox, exchange, record, status, HTML_502, step, content_type="text/html")
        return
    if step.fault == "bad-json":
        answer(sandbox, exchange, record, step.status or 200, TRUNCATED, step)
        return
    if step.status is not None and not 200 <= step.status < 300:
        reply = step.body if step.body is not None else telnyx.default_error_body(step.status)
        answer(sandbox, exchange, record, step.status, reply, step)
        return
    # Answer as Telnyx would (a scripted 2xx still checks the request).
    problem = telnyx.auth_problem(request.header("Authorization"))
    if problem:
        record["auth"] = problem
        status, reply = telnyx.unauthorized()
        answer(sandbox, exchange, record, status, reply, step)
        return
    known = body if "body" in record else telnyx.UNPARSED
    failure, parsed, ignored = telnyx.check_body(request.body or b"", known)
    if ignored:
        record["ignored_fields"] = ignored
    if failure is not None:
        answer(sandbox, exchange, record, failure[0], failure[1], step)
        return
    status, reply = telnyx.queued(parsed)
    if step.status is not None:
        status = step.status
    if step.body is not None:
        reply = step.body
    call_sid = reply.get("call_sid") if isinstance(reply, dict) else None
    if not isinstance(call_sid, str):
        answer(sandbox, exchange, record, status, reply, step)
        return
    call = _place(sandbox, seq, call_sid, record, parsed, step)
    plan = None
    wanted = callbacks.wants_callbacks(parsed)
    reserved = wanted and sandbox.dispatcher.reserve()
    if reserved:
        plan = callbacks.plan_for(
            call, parsed, request.peer, sandbox.callback_allow, sandbox.callback_cap
        )
    elif wanted and not sandbox.stopping.is_set():
        reason = "not sent: callbacks of earlier calls have waited too long (a stalled receiver?)"
        sandbox.journal.record({"kind": "callback", "call_sid": call_sid, "refused": reason})
    try:
        answer(sandbox, exchange, record, status, reply, step, call_sid=call_sid)
    finally:
        # The call was placed whether or not its answer got through: callbacks follow.
        if plan is not None:
            for refusal in plan.refused:
                sandbox.journal.record(refusal)
        if reserved:
            sandbox.dispatcher.submit(plan)


def _place(
    sandbox: Sandbox,
    seq: int,
    call_sid: str,
    record: dict[str, Any],
    body: dict[str, Any],
    step: Step,
) -> SimCall:
    draw = sandbox.chooser.draw(str(body.get("To", "")), step.outcome, step.callback_faults)
    call = new_call(
        seq,
        call_sid,
        sandbox.account_sid,
        record["connection_id"],
        body,
        draw,
        created=time.time(),
        start=datetime.now(timezone.utc).replace(microsecond=0),
    )
    record["outcome"] = call.outcome
    if call.answered_by:
        record["answered_by"] = call.answered_by
    if call.faults:
        record["callback_faults"] = list(call.faults)
    sandbox.store.add(call)
    return call


def _lookup(sandbox: Sandbox, request: Request, exchange: Exchange, record: dict[str, Any]) -> None:
    problem = telnyx.auth_problem(request.header("Authorization"))
    if problem:
        record["auth"] = problem
        status, reply = telnyx.unauthorized()
        answer(sandbox, exchange, record, status, reply)
        return
    one = CALL_RESOURCE.match(request.path)
    listing = CALLS_PATH.match(request.path)
    account = unquote((one or listing).group(1))  # type: ignore[union-attr]
    if account != sandbox.account_sid:
        answer(sandbox, exchange, record, 404, lookup.NOT_FOUND)
        return
    if one:
        status, reply = lookup.fetch_call(sandbox.store, unquote(one.group(2)), sandbox.visible)
    else:
        status, reply = lookup.list_calls(
            sandbox.store, sandbox.account_sid, request.query, sandbox.visible
        )
        if status == 200:
            record["found"] = len(reply["calls"])
    answer(sandbox, exchange, record, status, reply)


def answer(
    sandbox: Sandbox,
    exchange: Exchange,
    record: dict[str, Any],
    status: int,
    reply: Any,
    step: Step | None = None,
    *,
    content_type: str = "application/json",
    call_sid: str | None = None,
) -> None:
    data = (reply if isinstance(reply, str) else json.dumps(reply)).encode("utf-8")
    headers = list(step.headers) if step else []
    record["response"] = {"status": status}
    if call_sid:
        record["response"]["call_sid"] = call_sid
    if isinstance(reply, dict) and isinstance(reply.get("errors"), list):
        codes = [e.get("code") for e in reply["errors"] if isinstance(e, dict)]
        if any(codes):
            record["response"]["errors"] = codes
    if headers:
        record["response"]["headers"] = dict(headers)
    sandbox.journal.record(record)
    sent = [("Content-Type", content_type), ("x-request-id", f"sandbox-{record.get('seq', 0)}")]
    exchange.answer(status, data, sent + headers)


def _describe_step(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"fault": step.fault}
    if step.status is not None:
        out["status"] = step.status
    if step.delay:
        out["delay"] = step.delay
    if step.outcome is not None:
        out["outcome"] = step.outcome
    if step.to is not None:
        out["to"] = step.to
    if step.callback_faults:
        out["callback_faults"] = list(step.callback_faults)
    return out
