"""What a change does to the calls: the effective request of each profile, before and after.

Both sides are rendered the way validate renders (declared defaults, example values, the
placeholder To, the same clock), so the only differences shown are those the change made.
Values are compared unredacted and shown redacted: a rotated secret shows as ``*** -> ***``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from runner.diagnostics import Diagnostic, ProfileError
from runner.flow.compose import compose
from runner.profiles.merge import Path
from runner.profiles.store import Store
from runner.review.standins import PLACEHOLDER_CONNECTION, render_with, stand_ins
from runner.treewalk import leaves

Describe = Callable[[Diagnostic], str]
Status = Literal["changed", "unchanged", "added", "removed", "invalid", "fixed"]
Kind = Literal["added", "removed", "changed"]
NOT_SET = None  # the connection id when the profile sets none


@dataclass(frozen=True)
class Change:
    field: str
    kind: Kind
    old: Any = None  # shown (redacted) values
    new: Any = None


@dataclass
class ProfileDiff:
    name: str
    status: Status
    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why a side did not render


@dataclass
class _Side:
    real: dict[str, Any] = field(default_factory=dict)  # field -> value
    shown: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _runnable(store: Store) -> list[str]:
    names = []
    for name in store.names():
        try:
            if store.load(name).abstract:
                continue
        except ProfileError:
            pass  # listed; rendering it reports why it is broken
        names.append(name)
    return names


def _render(store: Store, name: str, now: datetime, describe: Describe) -> _Side:
    side = _Side()
    try:
        composed = compose(store, name, default_connection_id=PLACEHOLDER_CONNECTION)
        request = render_with(composed, stand_ins(composed), now=now)
    except ProfileError as exc:
        side.problems = [describe(d) for d in exc.errors or exc.diagnostics]
        return side
    own_id = ("connection_id",) in request.provenance
    side.real["connection_id"] = request.connection_id if own_id else NOT_SET
    side.shown["connection_id"] = request.shown_connection_id() if own_id else NOT_SET
    _flatten(request.body, (), side.real)
    _flatten(request.redacted_body(), (), side.shown)
    # The retry rule is part of what a campaign does (never of the request body): shown with
    # the fields, under its own path.
    from runner.campaign.retry import KEYS, resolve

    try:
        rule = resolve(store, name)
    except ProfileError as exc:
        side.problems = [describe(d) for d in exc.errors or exc.diagnostics]
        return side
    if rule is not None:
        for key in KEYS:
            side.real[f"campaign.retry.{key}"] = side.shown[f"campaign.retry.{key}"] = rule.shown(
                key
            )
    return side


def _flatten(value: Any, path: Path, out: dict[str, Any]) -> None:
    # Lists replace whole when merged, so a list is one value here too.
    for where, leaf in leaves(value, path, lists=False):
        if where:
            out[".".join(str(p) for p in where)] = leaf


def _changes(base: _Side, head: _Side) -> list[Change]:
    found: list[Change] = []
    order = list(head.real) + [k for k in base.real if k not in head.real]
    for key in order:
        before = base.real.get(key)
        after = head.real.get(key)
        if before == after and (key in base.real) == (key in head.real):
            continue
        old, new = base.shown.get(key), head.shown.get(key)
        if key not in base.real or before is NOT_SET:
            found.append(Change(key, "added", None, new))
        elif key not in head.real or after is NOT_SET:
            found.append(Change(key, "removed", old, None))
        else:
            found.append(Change(key, "changed", old, new))
    return found


def diff_stores(
    base: Store,
    head: Store,
    names: list[str] | None = None,
    describe: Describe = Diagnostic.text,
) -> list[ProfileDiff]:
    """Per-profile differences. ``names`` limits the comparison; a named fragment stands for
    the runnable profiles (at either revision) that extend it. ``describe`` turns a problem
    into the line shown."""
    now = datetime.now(timezone.utc)
    before, after = set(_runnable(base)), set(_runnable(head))
    if names:
        wanted_set = set(names) & (before | after)
        fragments = set(names) - wanted_set
        if fragments:
            from runner.review.validate import extending

            users = set(extending(base, fragments)) | set(extending(head, fragments))
            wanted_set |= users & (before | after)
        wanted = sorted(wanted_set)
    else:
        wanted = sorted(before | after)
    out: list[ProfileDiff] = []
    for name in wanted:
        if name not in after:
            out.append(ProfileDiff(name, "removed"))
            continue
        new = _render(head, name, now, describe)
        if new.problems:
            out.append(ProfileDiff(name, "invalid", problems=new.problems))
            continue
        if name not in before:
            out.append(ProfileDiff(name, "added"))
            continue
        old = _render(base, name, now, describe)
        if old.problems:
            out.append(ProfileDiff(name, "fixed", problems=old.problems))
        else:
            changes = _changes(old, new)
            out.append(ProfileDiff(name, "changed" if changes else "unchanged", changes))
    return out


def unknown_names(base: Store, head: Store, names: list[str]) -> list[str]:
    known = set(base.names()) | set(head.names())
    return [n for n in names if n not in known]


# --- formats -----------------------------------------------------------------------------------

_LABELS = {
    "changed": "changed",
    "added": "added",
    "removed": "removed",
    "invalid": "invalid now",
    "fixed": "invalid at base, renders now",
}
_MARK = {"added": "+", "removed": "-", "changed": "~"}


def _value(value: Any) -> str:
    if value is NOT_SET:
        return "(not set)"
    return json.dumps(value, ensure_ascii=False)


def summary(diffs: list[ProfileDiff], base: str) -> str:
    counts = {s: sum(1 for d in diffs if d.status == s) for s in _LABELS}
    counts["unchanged"] = sum(1 for d in diffs if d.status == "unchanged")
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return f"{len(diffs)} profile(s) compared with {base}: " + (", ".join(parts) or "none")


def _unstyled(role: str, text: str) -> str:
    return text


def text(diffs: list[ProfileDiff], base: str, style: Callable[[str, str], str] = _unstyled) -> str:
    """The plain report; ``style(role, text)`` may colour it (roles: profile, added, removed,
    changed, error), as the CLI does on a terminal."""
    lines: list[str] = []
    for d in diffs:
        if d.status == "unchanged":
            continue
        label = _LABELS[d.status]
        tone = {"added": "added", "removed": "removed", "invalid": "error"}.get(d.status)
        lines.append(f"{style('profile', d.name)}: {style(tone, label) if tone else label}")
        for c in d.changes:
            if c.kind == "changed":
                change = f"~ {c.field}: {_value(c.old)} -> {_value(c.new)}"
            elif c.kind == "added":
                change = f"+ {c.field}: {_value(c.new)}"
            else:
                change = f"- {c.field}: {_value(c.old)}"
            lines.append("  " + style(c.kind, change))
        lines.extend(f"  {p}" for p in d.problems)
    lines.append(summary(diffs, base))
    return "\n".join(lines) + "\n"


def _code(value: str) -> str:
    """``value`` as a Markdown code span that survives a table cell."""
    value = value.replace("|", "\\|")
    longest = run = 0
    for ch in value:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


MARKER = "<!-- callprofile-diff -->"


def markdown(diffs: list[ProfileDiff], base: str) -> str:
    """A pull-request comment. The first line is a marker a bot can find to update its comment."""
    lines = [MARKER, f"### callprofile: effective requests compared with {_code(base)}", ""]
    changed = [d for d in diffs if d.status not in ("unchanged", "added", "removed")]
    added = [d.name for d in diffs if d.status == "added"]
    removed = [d.name for d in diffs if d.status == "removed"]
    if not (changed or added or removed):
        lines.append("No profile's effective request changes.")
    for d in changed:
        lines += [f"#### {_code(d.name)}: {_LABELS[d.status]}", ""]
        if d.changes:
            lines += ["| | Field | Before | After |", "|---|---|---|---|"]
            for c in d.changes:
                old = "" if c.kind == "added" else _code(_value(c.old))
                new = "" if c.kind == "removed" else _code(_value(c.new))
                lines.append(f"| {_MARK[c.kind]} | {_code(c.field)} | {old} | {new} |")
            lines.append("")
        if d.problems:
            lines += ["```text", *d.problems, "```", ""]
    if added:
        lines += ["**Added profiles:** " + ", ".join(_code(n) for n in added), ""]
    if removed:
        lines += ["**Removed profiles:** " + ", ".join(_code(n) for n in removed), ""]
    lines.append(
        f"<sub>{summary(diffs, base)}. Rendered with declared defaults, example variable values "
        "and a placeholder To; secrets shown as `***`.</sub>"
    )
    return "\n".join(lines) + "\n"


def as_json(diffs: list[ProfileDiff], base: str) -> str:
    return json.dumps(as_data(diffs, base), indent=2, ensure_ascii=False) + "\n"


def as_data(diffs: list[ProfileDiff], base: str) -> dict[str, Any]:
    return {
        "base": base,
        "profiles": [
            {
                "name": d.name,
                "status": d.status,
                "changes": [
                    {"field": c.field, "kind": c.kind, "old": c.old, "new": c.new}
                    for c in d.changes
                ],
                "problems": d.problems,
            }
            for d in diffs
        ],
    }


FORMATS = {"text": text, "markdown": markdown, "json": as_json}
