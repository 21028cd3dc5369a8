"""Derive the profile schema from the request schema.

A profile's ``call`` holds request fields, but every field is optional there (parents and flags
may supply it), any string may be a Jinja template (so ``Timeout: "{{ ring_seconds }}"`` is fine
in a file even though the request wants an integer), and ``null`` removes an inherited key.
Deriving the file keeps the two schemas from drifting apart; a test checks the committed copy
(``callprofile schema profile`` prints it) equals what this module builds.
"""

from __future__ import annotations

import copy

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Names the template context already uses; a variable of that name would be shadowed.
RESERVED_VARIABLES = ("to", "from", "profile", "now", "env")
HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TEMPLATE = {
    "type": "string",
    "pattern": r"\{[{%#]",
    "description": "A Jinja template, rendered and converted to the field's type at run time.",
}


def _leaf(schema: dict[str, Any]) -> dict[str, Any]:
    if "x-refused" in schema:
        return copy.deepcopy(schema)
    wrapped: dict[str, Any] = {"anyOf": [copy.deepcopy(schema), TEMPLATE, {"type": "null"}]}
    for key in ("description", "default"):
        if key in schema:
            wrapped[key] = schema[key]
    return wrapped


def _profileize(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") == "object" and (
        "properties" in schema or isinstance(schema.get("additionalProperties"), dict)
    ):
        out = {k: copy.deepcopy(v) for k, v in schema.items() if k not in ("required",)}
        out["type"] = ["object", "null"]
        if "properties" in schema:
            out["properties"] = {k: _profileize(v) for k, v in schema["properties"].items()}
        if isinstance(schema.get("additionalProperties"), dict):
            out["additionalProperties"] = _leaf(schema["additionalProperties"])
        return out
    return _leaf(schema)


def build(request_schema: dict[str, Any]) -> dict[str, Any]:
    call = {
        k: v
        for k, v in _profileize(
            {k: v for k, v in request_schema.items() if not k.startswith("$") and k != "title"}
        ).items()
        if k != "not"
    }
    call["type"] = "object"
    call["description"] = (
        "Request body fields exactly as the API spells them. Any string may be a Jinja template; "
        "null removes a value inherited through 'extends'."
    )
    name = {"type": "string", "pattern": NAME_PATTERN}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://callprofile.dev/schemas/profile.schema.json",
        "$comment": (
            "Generated from ai-call-request.schema.json by runner/schema/profile.py; do not edit. "
            "Draft-07 because yaml-language-server and most editors support it fully."
        ),
        "title": "callprofile profile",
        "description": "A named, reusable bundle of request defaults for Telnyx AI calls.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "description": {"type": "string", "description": "One line shown by 'list'."},
            "extends": {
                "description": "Profiles applied before this one, left to right.",
                "anyOf": [name, {"type": "array", "items": name, "uniqueItems": True}],
            },
            "abstract": {
                "type": "boolean",
                "default": False,
                "description": "A fragment meant only to be extended, never run.",
            },
            "connection_id": {
                "type": "string",
                "minLength": 1,
                "description": "The TeXML connection the call uses (path parameter); "
                "may be a template.",
            },
            "variables": {
                "type": "object",
                "description": "The template inputs this profile accepts.",
                "propertyNames": {
                    "pattern": VARIABLE_PATTERN,
                    "not": {"enum": list(RESERVED_VARIABLES)},
                },
                "additionalProperties": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {
                        "required": {"type": "boolean", "default": False},
                        "default": {"type": "string"},
                        "description": {"type": "string"},
                        "example": {"type": "string"},
                    },
                },
            },
            "call": call,
            "campaign": campaign(),
        },
    }


def campaign() -> dict[str, Any]:
    """The ``campaign`` block: the calling policy batches, plans and can-call apply. Its values
    are data, never templates; ``null`` removes an inherited value, like everywhere else."""
    clock = {
        "type": "string",
        "pattern": HHMM_PATTERN,
        "description": '24-hour local time, quoted: "09:00".',
    }
    policy = {
        "type": ["object", "null"],
        "additionalProperties": False,
        "description": "Who may be called when; each decision names the rule that made it. "
        "Not legal advice.",
        "properties": {
            "hours": {
                "description": "Calling hours in the callee's local time: us-federal "
                "(08:00-21:00, 47 CFR 64.1200(c)(1)) or {start, end}.",
                "anyOf": [
                    {"type": "string", "enum": ["us-federal"]},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"start": clock, "end": clock},
                    },
                    {"type": "null"},
                ],
            },
            "state_rules": {
                "type": ["boolean", "null"],
                "description": "Apply the built-in table of federal and state rules "
                "(Florida, Oklahoma: 08:00-20:00, 3 calls per 24 h); the strictest wins.",
            },
            "consent": {
                "enum": ["required", "not-required", None],
                "description": "required: each contact row needs consent (written or express) "
                "and consent_date.",
            },
            "purpose": {
                "enum": ["telemarketing", "informational", None],
                "description": "telemarketing: consent must be written.",
            },
            "max_attempts_per_24h": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 100,
                "description": "Calls to one number in any 24 hours, across batches.",
            },
            "quiet_days": {
                "type": ["array", "null"],
                "uniqueItems": True,
                "items": {"type": "string", "pattern": DATE_PATTERN},
                "description": "Dates (YYYY-MM-DD, the callee's local date) with no calls.",
            },
        },
    }
    return {
        "type": ["object", "null"],
        "additionalProperties": False,
        "description": "How campaigns (batch, plan, apply, can-call) treat this profile.",
        "properties": {"policy": policy, "retry": retry()},
    }


# The final outcomes a retry rule may name (runner/outcomes/record.py OUTCOMES, less
# "awaiting", which is no outcome yet). Kept here as data: the schema module imports no runtime.
RETRY_OUTCOMES = ("human", "machine", "answered", "no-answer", "busy", "failed", "canceled")
DURATION_PATTERN = r"^[0-9]{1,7}(s|m|h|d)$"


def retry() -> dict[str, Any]:
    """``campaign.retry``: which final outcomes earn another attempt, how long after, how many
    attempts per number in one batch. The 24-hour cap across batches is the policy's
    ``max_attempts_per_24h``, not a second key here."""
    return {
        "type": ["object", "null"],
        "additionalProperties": False,
        "description": "Outcome-aware retries in a batch: a row whose final outcome (from its "
        "callbacks) is listed in `on` is called again, `after` the previous attempt, up to "
        "`max_attempts` calls per number in the batch; the policy's max_attempts_per_24h still "
        "applies.",
        "properties": {
            "on": {
                "type": ["array", "null"],
                "minItems": 1,
                "uniqueItems": True,
                "items": {"enum": list(RETRY_OUTCOMES)},
                "description": "Final outcomes that earn another attempt: "
                + ", ".join(RETRY_OUTCOMES)
                + ".",
            },
            "after": {
                "type": ["string", "null"],
                "pattern": DURATION_PATTERN,
                "description": "Wait at least this long after the previous attempt was placed: "
                "a whole number and a unit, s, m, h or d (90s, 30m, 2h, 1d; 0s for at once).",
            },
            "max_attempts": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": 20,
                "description": "Calls per number in this batch, the first one included.",
            },
        },
    }
