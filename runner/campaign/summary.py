"""What a reviewer reads about a plan: counts by verdict, the effective request, a sample of
rows with their reasons; as text, as Markdown for a pull-request comment, or as JSON.

Numbers are masked here (a pull-request comment is read widely); the plan file keeps them whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runner.campaign.rules import NOT_LEGAL_ADVICE

ORDER = ("call", "defer", "skip", "invalid", "duplicate")
MEANING = {
    "call": "would be called now",
    "defer": "outside a calling window or cap now; re-checked when apply dials",
    "skip": "not called: a rule forbids it (see the reasons)",
    "invalid": "not called: the row cannot become a valid request",
    "duplicate": "not called: the same number is on an earlier row",
}
MAX_LISTED = 50  # rows not called, listed in the Markdown summary


@dataclass
class View:
    path: str
    header: dict[str, Any]
    summary: dict[str, int]
    sample: list[dict[str, Any]]
    request: dict[str, Any] | None
    not_called: list[dict[str, Any]]


def _mask(number: str | None) -> str:
    from runner.phone import mask

    return mask(number) if number else "-"


def text(view: View) -> str:
    h, s = view.header, view.summary
    lines = [
        f"plan {view.path}: profile {h['profile']}, contacts {h['contacts']}",
        f"  made {h['created_at']}, valid until {h['valid_until']} ({h['tool']})",
        f"  rows       {s.get('rows', 0):>6}",
    ]
    for action in ORDER:
        lines.append(f"  {action:<10} {s.get(action, 0):>6}  {MEANING[action]}")
    if view.request is not None:
        lines.append("effective request (first planned row):")
        lines.append(f"  connection_id: {view.request['connection_id']}")
        lines.append(f"  body: {json.dumps(view.request['body'], ensure_ascii=False)}")
        for field, where in (view.request.get("secrets") or {}).items():
            lines.append(f"  secret {field}: not stored; read at apply time from {where}")
    if view.sample:
        lines.append(f"rows (first {len(view.sample)}):")
        for row in view.sample:
            reason = f"  {row['reason']}" if row.get("reason") else ""
            lines.append(
                f"  row {row['row']:<5} {_mask(row.get('to')):<13} {row['action']}{reason}"
            )
    lines.append(f"note: {NOT_LEGAL_ADVICE}")
    return "\n".join(lines) + "\n"


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(view: View) -> str:
    h, s = view.header, view.summary
    out = [
        f"### callprofile plan: `{h['profile']}` ({s.get('rows', 0)} rows)",
        "",
        f"Contacts `{h['contacts']}`, made {h['created_at']}, valid until {h['valid_until']}.",
        "",
        "| verdict | rows | meaning |",
        "|---|---:|---|",
    ]
    out += [f"| {a} | {s.get(a, 0)} | {MEANING[a]} |" for a in ORDER]
    policy = (h.get("policy") or {}).get("settings") or {}
    if policy:
        out += ["", "| policy | value | set by |", "|---|---|---|"]
        for key, setting in policy.items():
            value = setting["value"]
            shown = value if isinstance(value, str) else json.dumps(value)
            out.append(f"| {key} | `{_cell(shown)}` | {_cell(setting['set_by'])} |")
    if view.request is not None:
        body = json.dumps(view.request["body"], indent=2, ensure_ascii=False)
        out += [
            "",
            "<details><summary>Effective request (first planned row)</summary>",
            "",
            "```json",
            body,
            "```",
            "</details>",
        ]
    if view.not_called:
        more = s.get("skip", 0) + s.get("invalid", 0) + s.get("duplicate", 0) - len(view.not_called)
        out += [
            "",
            f"<details><summary>Rows not called ({len(view.not_called)}"
            + (f" of {len(view.not_called) + more}" if more > 0 else "")
            + ")</summary>",
            "",
            "| row | number | verdict | reason |",
            "|---:|---|---|---|",
        ]
        out += [
            f"| {r['row']} | {_mask(r.get('to'))} | {r['action']} | {_cell(r.get('reason', ''))} |"
            for r in view.not_called
        ]
        out.append("</details>")
    out += ["", "<details><summary>Inputs</summary>", "", "| input | sha256 |", "|---|---|"]
    out += [
        f"| {i['kind']} `{_cell(i['name'])}` | `{i['sha256'][:12]}` |" for i in h.get("inputs", [])
    ]
    out += ["</details>", "", f"_{NOT_LEGAL_ADVICE}_", ""]
    return "\n".join(out)


def as_json(view: View) -> dict[str, Any]:
    h = view.header
    return {
        "plan": view.path,
        "profile": h["profile"],
        "contacts": h["contacts"],
        "created_at": h["created_at"],
        "valid_until": h["valid_until"],
        "tool": h["tool"],
        "summary": view.summary,
        "inputs": h.get("inputs", []),
        "policy": h.get("policy"),
        "request": view.request,
        "not_called": view.not_called,
        "notice": NOT_LEGAL_ADVICE,
    }


def _masked_request(request: dict[str, Any]) -> dict[str, Any]:
    body = dict(request["body"])
    if isinstance(body.get("To"), str):
        body["To"] = _mask(body["To"])
    return {**request, "body": body}


def view_of(plan: Any, sample: int = 5) -> View:
    """The summary of a plan file (read as a stream)."""
    rows: list[dict[str, Any]] = []
    request = None
    not_called: list[dict[str, Any]] = []
    for row in plan.rows():
        if len(rows) < sample:
            rows.append(row)
        if request is None and "request" in row:
            request = _masked_request(row["request"])
        if row["action"] in ("skip", "invalid", "duplicate") and len(not_called) < MAX_LISTED:
            not_called.append(row)
    return View(plan.path, plan.header, plan.summary, rows, request, not_called)
