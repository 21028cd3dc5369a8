"""What Telnyx answers to a call request: 401, 422 with ``errors[]``, or 200 "queued".

The schema checks are callprofile's own (``runner.schema.errors`` over the request schema), mapped
onto Telnyx's error codes (reference: telnyx-ai-call-api.md, section 1.3). Fields the schema does
not know are ignored, as Telnyx ignores them; only Twiml, Texml and Url are refused.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from runner.schema import errors as schema_errors
from runner.schema import files as schemas

Reply = tuple[int, dict[str, Any]]

# Any bearer token (RFC 6750's token characters, no spaces), as the docs promise: the sandbox
# does not know anyone's key, so a minimum length would only make trying it harder.
_TOKEN = re.compile(r"^Bearer ([A-Za-z0-9._~+/=-]+)$")


def error(code: str, title: str, detail: str, pointer: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if pointer is not None:
        item["source"] = {"pointer": pointer}
    item["meta"] = {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"}
    return item


def errors(*items: dict[str, Any]) -> dict[str, Any]:
    return {"errors": list(items)}


# Default bodies for scripted statuses, in Telnyx's shape.
STATUS_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("10015", "Bad Request", "The request failed because it was not well-formed."),
    401: ("10009", "Authentication failed", "Could not understand the provided credentials."),
    403: ("10010", "Authorization failed", "You do not have permission to perform this action."),
    404: ("10005", "Resource not found", "The requested resource or URL could not be found."),
    408: ("10008", "Request timeout", "The request timed out."),
    422: ("10015", "Bad Request", "The request could not be processed."),
    429: (
        "10011",
        "Too many requests",
        "You have exceeded the maximum number of allowed requests.",
    ),
}


def default_error_body(status: int) -> dict[str, Any]:
    code, title, detail = STATUS_ERRORS.get(
        status, ("10007", "Unexpected error", "An unexpected error occured.")
    )
    return errors(error(code, title, detail))


def auth_problem(header: str | None) -> str | None:
    """Why the Authorization header is unacceptable, or None when it is a bearer token."""
    if not header:
        return "missing"
    if not _TOKEN.match(header.strip()):
        return "malformed"
    return None


def unauthorized() -> Reply:
    return 401, errors(
        error("10009", "Authentication failed", "Could not understand the provided credentials.")
    )


def pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


UNPARSED: Any = object()


def check_body(raw: bytes, parsed: Any = UNPARSED) -> tuple[Reply | None, Any, list[str]]:
    """Parse (unless ``parsed`` is given) and validate a call body. Returns (error reply or
    None, the parsed body, names of fields ignored because the endpoint does not know them)."""
    try:
        body = json.loads(raw.decode("utf-8")) if parsed is UNPARSED else parsed
    except (UnicodeDecodeError, ValueError):
        return (
            (400, errors(error("10015", "Bad Request", "The request body is not valid JSON."))),
            None,
            [],
        )
    if not isinstance(body, dict):
        detail = "The request body must be a JSON object."
        return (400, errors(error("10015", "Bad Request", detail))), body, []
    found: list[dict[str, Any]] = []
    ignored: list[str] = []
    for problem in schema_errors.problems(schemas.REQUEST, body, hide=schemas.is_sensitive):
        if problem.code == schema_errors.CODE_UNKNOWN:
            ignored.append(".".join(map(str, problem.path)))
            continue
        found.append(_telnyx_error(problem))
    if found:
        return (422, errors(*found)), body, ignored
    return None, body, ignored


def _telnyx_error(problem: schema_errors.Problem) -> dict[str, Any]:
    path = problem.path
    name = ".".join(map(str, path))
    message = problem.message
    if message.startswith("missing required field"):
        missing = message.split("'")[1]
        full = (*path, missing)
        return error(
            "10004",
            "Missing required parameter",
            f"The '{'.'.join(map(str, full))}' parameter is required.",
            pointer(full),
        )
    if problem.code == schema_errors.CODE_REFUSED:
        return error(
            "10015",
            "Bad Request",
            f"The '{name}' parameter is not allowed on this endpoint.",
            pointer(path),
        )
    if message.startswith("expected ") or problem.expected_type:
        wanted = problem.expected_type or message.split()[2]
        return error(
            "10026",
            "Invalid parameter type",
            f"The '{name}' parameter must be of type '{wanted}'.",
            pointer(path),
        )
    if " is not one of " in message:
        options = message.split(" is not one of ", 1)[1].split(";")[0]
        return error(
            "10032",
            "Invalid enumerated value",
            f"The '{name}' parameter must be one of: {options}.",
            pointer(path),
        )
    if path and path[-1] in ("From", "To") and "E.164" in message:
        return error(
            "10016",
            "Phone number must be in +E.164 format",
            f"The '{name}' parameter must be in +E.164 format.",
            pointer(path),
        )
    return error("10015", "Bad Request", f"The '{name}' parameter {message}.", pointer(path))


def queued(body: dict[str, Any]) -> Reply:
    return 200, {
        "call_sid": "v3:" + secrets.token_urlsafe(24),
        "from": body.get("From"),
        "to": body.get("To"),
        "status": "queued",
    }
