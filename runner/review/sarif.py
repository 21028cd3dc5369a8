"""Diagnostics as SARIF 2.1.0, the format GitHub code scanning ingests.

One run, one rule per code used (with help text), one result per diagnostic with its file, line
and column. Each result carries a fingerprint built from what identifies the problem (code,
file, JSON path, message) and not from its line, so a finding keeps its identity in code
scanning when lines above it move.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from runner import __version__
from runner.diagnostics import Diagnostic
from runner.secrets import scrub

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "callprofile/v1"

# One line each: what the code finds and what to do. Lint rules (CP4xx) carry their own.
MEANINGS: dict[str, tuple[str, str]] = {
    "CP001": ("The file is not valid YAML or not UTF-8 text.", "Fix the syntax at the position."),
    "CP002": ("A key appears twice in one mapping.", "YAML would keep only the last; merge them."),
    "CP003": ("YAML anchors, aliases or merge keys.", "Share values through 'extends' instead."),
    "CP004": ("The file is too large or too deeply nested.", "Split it into fragments."),
    "CP005": ("A YAML tag or a mapping key that is not plain text.", "Write plain values."),
    "CP006": ("The file is not a mapping.", "A profile is a YAML mapping of keys."),
    "CP007": ("The file cannot be read.", "Check the path and its permissions."),
    "CP010": ("An invalid profile name.", "Names are [a-z0-9._-] segments joined by '/'."),
    "CP011": ("No profile of that name.", "Check the name and the profiles directory."),
    "CP012": ("'extends' forms a cycle.", "Remove one link of the cycle."),
    "CP013": ("An abstract profile cannot be run.", "Run a profile that extends it."),
    "CP101": ("A value the profile schema does not allow.", "Use a value of the expected kind."),
    "CP102": ("An unquoted value YAML reads as a number or boolean.", "Quote it."),
    "CP103": ("An unknown field.", "Check the spelling against the schema."),
    "CP104": ("A field callprofile refuses.", "Follow the message's advice."),
    "CP201": ("A template has a syntax error.", "Fix the Jinja syntax."),
    "CP202": ("A template uses a variable the profile does not declare.", "Declare it."),
    "CP203": ("A required variable has no value.", "Give it a value or a default."),
    "CP204": ("A template failed while rendering.", "Fix the expression."),
    "CP205": ("A template rendered a value of the wrong type.", "Render the expected type."),
    "CP206": ("A value was given for an undeclared variable.", "Declare it or drop it."),
    "CP207": ("A required variable has no example for validation.", "Add an 'example'."),
    "CP301": ("The request the profile builds is not valid.", "Fix the field named."),
    "CP302": ("A command-line override is malformed.", "Check the flag's value."),
    "CP303": ("No connection id.", "Set connection_id or TELNYX_CONNECTION_ID."),
    "CP601": (
        "A calling-policy value that cannot work (hours end before start, an impossible date).",
        "Fix the campaign.policy value.",
    ),
}


def rule_help() -> dict[str, tuple[str, str]]:
    from runner.review.lint import RULES

    out = dict(MEANINGS)
    for rule in RULES:
        out[rule.code] = (rule.summary, rule.why)
    return out


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _rule(code: str, help_text: dict[str, tuple[str, str]], level: str) -> dict[str, Any]:
    summary, advice = help_text.get(code, ("callprofile diagnostic " + code, ""))
    summary = _sentence(summary)
    text = f"{summary} {_sentence(advice)}".strip()
    return {
        "id": code,
        "name": code,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": text},
        "help": {"text": text, "markdown": f"**{code}**: {text}"},
        "defaultConfiguration": {"level": level},
    }


def _fingerprint(diag: Diagnostic, uri: str, seen: dict[str, int]) -> str:
    key = "\x1f".join([diag.code, uri, diag.json_path or "", scrub(diag.message)])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    # Two identical findings in one file (rare) stay distinct, in a stable order.
    count = seen.get(digest, 0)
    seen[digest] = count + 1
    return f"{digest}:{count}"


def sarif(
    diagnostics: Iterable[Diagnostic],
    locate: Callable[[Diagnostic], str | None] | None = None,
) -> str:
    """The SARIF log. ``locate`` names a file for a diagnostic that has none (a problem of a
    whole profile), since code scanning shows only results with a location."""
    diagnostics = list(diagnostics)
    help_text = rule_help()
    codes = sorted({d.code for d in diagnostics})
    levels = {
        code: "error"
        if any(d.severity == "error" for d in diagnostics if d.code == code)
        else "warning"
        for code in codes
    }
    index = {code: i for i, code in enumerate(codes)}
    results = []
    seen: dict[str, int] = {}
    for diag in diagnostics:
        uri = diag.file or (locate(diag) if locate else None)
        message = diag.message if diag.file or not diag.origin else f"{diag.origin}: {diag.message}"
        result: dict[str, Any] = {
            "ruleId": diag.code,
            "ruleIndex": index[diag.code],
            "level": diag.severity,
            "message": {"text": scrub(message)},
        }
        if uri is not None:
            region: dict[str, int] = {"startLine": diag.line or 1, "startColumn": diag.col or 1}
            if diag.line is not None and diag.end_line is not None:
                region["endLine"] = diag.end_line
                region["endColumn"] = diag.end_col or 1
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(uri), "uriBaseId": "%SRCROOT%"},
                        "region": region,
                    }
                }
            ]
        result["partialFingerprints"] = {FINGERPRINT: _fingerprint(diag, uri or "", seen)}
        results.append(result)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "callprofile",
                        "version": __version__,
                        "rules": [_rule(code, help_text, levels[code]) for code in codes],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _uri(path: str) -> str:
    """A relative URI reference: forward slashes, characters outside URIs percent-encoded."""
    from urllib.parse import quote

    return quote(path.replace("\\", "/"), safe="/-._~")
