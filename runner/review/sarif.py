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


def rule_help() -> dict[str, tuple[str, str]]:
    """code -> (what it finds, why it matters): the registry's meaning, and a lint rule's
    reason where it has one."""
    from runner import codes
    from runner.review.lint import RULES

    out = {code: (entry.meaning, "") for code, entry in codes.REGISTRY.items()}
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
