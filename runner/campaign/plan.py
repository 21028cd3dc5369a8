"""``plan``: render and judge every contacts row now, and freeze the result for review.

Each row is resolved, rendered (with ``now`` fixed to the plan's time, so templates reading the
clock give the same text at apply time) and validated, then judged by the policy. Rows that would
be called keep their rendered request, secrets replaced by where they come from; rows that would
not keep their reason and the rules that decided it. The inputs' digests go in the header, so
``apply`` can tell whether the world changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from runner import __version__, codes
from runner.campaign import inputs as inputs_mod
from runner.campaign.decide import RowError, row_facts
from runner.campaign.planfile import PlanError, Writer
from runner.campaign.policy import Hours, Policy, resolve
from runner.campaign.verdict import judge
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.overrides import Overrides, SetValue, VariableValue
from runner.profiles.store import Store

if TYPE_CHECKING:
    from runner.flow.compose import Composed

SAMPLE = 5  # rows shown in the summary


@dataclass
class Spec:
    """What to plan: the profile, the contacts and the options that decide what is sent."""

    profile: str
    contacts: str
    profiles_dir: str
    overrides: Overrides = field(default_factory=Overrides)
    to_column: str = "to"
    region: str | None = None
    window: str | None = None  # --window HH:MM-HH:MM, replacing the policy's hours
    dnc: str | None = None
    min_interval: str = "24h"
    max_calls: int | None = None

    def options(self) -> dict[str, Any]:
        o = self.overrides
        return {
            "to_column": self.to_column,
            "region": self.region,
            "window": self.window,
            "dnc": self.dnc,
            "min_interval": self.min_interval,
            "max_calls": self.max_calls,
            "values_files": list(o.values_files),
            "vars_files": list(o.vars_files),
            "sets": [
                {"path": list(item.path), "value": item.value, "origin": item.origin}
                for item in o.sets
            ],
            "vars": [
                {"name": item.name, "value": item.value, "origin": item.origin} for item in o.vars
            ],
            "from": o.from_,
            "connection_id": o.connection_id,
            "origins": dict(sorted(o.origins.items())),
        }

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> Spec:
        o = header.get("options") or {}
        overrides = Overrides(
            values_files=list(o.get("values_files") or []),
            sets=[
                SetValue(tuple(item["path"]), item["value"], item.get("origin"))
                for item in o.get("sets") or []
            ],
            from_=o.get("from"),
            connection_id=o.get("connection_id"),
            vars_files=list(o.get("vars_files") or []),
            vars=[
                VariableValue(item["name"], item["value"], item.get("origin"))
                for item in o.get("vars") or []
            ],
            origins=dict(o.get("origins") or {}),
        )
        return cls(
            profile=header["profile"],
            contacts=header["contacts"],
            profiles_dir=header.get("profiles_dir") or "profiles",
            overrides=overrides,
            to_column=o.get("to_column") or "to",
            region=o.get("region"),
            window=o.get("window"),
            dnc=o.get("dnc"),
            min_interval=o.get("min_interval") or "24h",
            max_calls=o.get("max_calls"),
        )


def stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def effective_policy(store: Store, spec: Spec) -> Policy:
    policy = resolve(store, spec.profile)
    if spec.window is None:
        return policy
    from runner.batch.window import Window

    window = Window.parse(spec.window)
    return policy.with_window(Hours(window.start, window.end), f"--window {spec.window}")


def collect_inputs(store: Store, spec: Spec, policy: Policy) -> list[inputs_mod.Input]:
    from runner.profiles.resolve import chain

    found = [
        inputs_mod.Input("profile", p.file, inputs_mod.file_digest(p.source.file))
        for p in chain(store, spec.profile)
    ]
    found += inputs_mod.files("values", spec.overrides.values_files)
    found += inputs_mod.files("vars", spec.overrides.vars_files)
    found += inputs_mod.files("contacts", [spec.contacts])
    if spec.dnc:
        found += inputs_mod.files("dnc", [spec.dnc])
    found.append(inputs_mod.Input("policy", "campaign.policy", _policy_digest(policy)))
    found.append(inputs_mod.Input("rules", "built-in", inputs_mod.rules_digest()))
    # The command-line options themselves are in the header, which the checksum protects.
    return found


def _policy_digest(policy: Policy) -> str:
    # The values only: moving a line in a file changes that file's digest, not the policy.
    return inputs_mod.data_digest({key: policy.shown(key) for key in sorted(policy.settings)})


@dataclass
class Result:
    path: str
    header: dict[str, Any]
    summary: dict[str, int]
    sample: list[dict[str, Any]]
    first_request: dict[str, Any] | None


def make(store: Store, spec: Spec, *, at: datetime, valid_for: timedelta, out: str) -> Result:
    """Plan every row of ``spec.contacts`` at instant ``at``; write the plan to ``out``.
    Raises ProfileError for input that stops the whole plan, PlanError for the plan file."""
    from runner.batch.contacts import count_rows
    from runner.campaign.show import policy_json
    from runner.flow.compose import compose

    count_rows(spec.contacts, spec.to_column)  # the whole file must be readable first
    policy = effective_policy(store, spec)
    composed = compose(store, spec.profile, spec.overrides)
    header = {
        "tool": f"callprofile {__version__}",
        "created_at": stamp(at),
        "valid_until": stamp(at + valid_for),
        "profile": spec.profile,
        "profiles_dir": spec.profiles_dir,
        "contacts": spec.contacts,
        "options": spec.options(),
        "inputs": [i.as_dict() for i in collect_inputs(store, spec, policy)],
        "policy": policy_json(policy),
    }
    try:
        writer = Writer(out, header)
    except OSError as exc:
        raise PlanError(out, f"cannot write the plan: {exc.strerror or exc}") from None
    sample: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    try:
        for row in judge_rows(composed, spec, policy, at):
            writer.row(row)
            if len(sample) < SAMPLE:
                sample.append(row)
            if first is None and "request" in row:
                first = row["request"]
        summary = writer.close()
    except BaseException:
        writer.abort()
        raise
    return Result(out, header, summary, sample, first)


def judge_rows(
    composed: Composed, spec: Spec, policy: Policy, at: datetime
) -> Iterator[dict[str, Any]]:
    """One plan line per contacts row, in file order."""
    from runner.batch.contacts import read_rows
    from runner.batch.dnc import DoNotCall

    dnc = DoNotCall(spec.dnc, spec.region) if spec.dnc else None
    seen = sqlite3.connect("")
    seen.execute("PRAGMA cache_size = -256")
    seen.execute("CREATE TABLE seen (e164 TEXT PRIMARY KEY, row_no INTEGER) WITHOUT ROWID")
    try:
        for row in read_rows(spec.contacts, spec.to_column):
            yield _judge_row(composed, spec, policy, at, row, dnc, seen)
    finally:
        seen.close()
        if dnc is not None:
            dnc.close()


def _judge_row(
    composed: Composed,
    spec: Spec,
    policy: Policy,
    at: datetime,
    row: Any,
    dnc: Any,
    seen: sqlite3.Connection,
) -> dict[str, Any]:
    from runner.secrets import scrub

    out: dict[str, Any] = {"row": row.line}
    try:
        e164, zone, request = render_row(composed, spec, row, at)
        out["to"] = e164
        facts = row_facts(e164, row.values, zone, dnc)
    except RowProblem as exc:
        if exc.e164:
            out["to"] = exc.e164
        out.update(action="invalid", reason=scrub(exc.reason), codes=exc.codes)
        return out
    except RowError as exc:
        out.update(action="invalid", reason=scrub(str(exc)), codes=[exc.code])
        return out
    first = seen.execute("SELECT row_no FROM seen WHERE e164 = ?", (e164,)).fetchone()
    if first is not None:
        out.update(action="duplicate", reason=f"the same number as row {first[0]}; called once")
        return out
    seen.execute("INSERT INTO seen VALUES (?, ?)", (e164, row.line))
    verdict = judge(facts, policy, at)
    out["action"] = verdict.action
    if verdict.action != "call":
        out["reason"] = scrub(verdict.reason())
        out["rules"] = [f.as_dict() for f in verdict.blocking]
    if verdict.action in ("call", "defer"):
        out["request"] = shown_request(request)
    return out


class RowProblem(Exception):
    def __init__(self, reason: str, codes: list[str], e164: str | None = None):
        self.reason = reason
        self.codes = codes
        self.e164 = e164
        super().__init__(reason)


def render_row(
    composed: Composed, spec: Spec, row: Any, at: datetime
) -> tuple[str, str | None, Any]:
    """The row's number, its own time zone, and its validated request (``now`` = ``at``).
    Raises RowProblem with the reasons."""
    from runner import secrets
    from runner.batch.contacts import TIMEZONE_COLUMN
    from runner.batch.window import zone_error
    from runner.phone import NumberError, normalise

    origin = f"{spec.contacts} row {row.line}"
    if row.problem:
        raise RowProblem(f"the row {row.problem}", [codes.CONTACTS_ROW])
    raw = row.get(spec.to_column)
    if raw is None:
        raise RowProblem(f"no number in column {spec.to_column!r}", [codes.BAD_NUMBER])
    try:
        e164 = normalise(raw, spec.region)
    except NumberError as exc:
        raise RowProblem(str(exc), [codes.BAD_NUMBER]) from None
    zone = row.get(TIMEZONE_COLUMN)
    if zone is not None:
        zone = zone.strip()
        problem = zone_error(zone)
        if problem:
            raise RowProblem(problem, [codes.BAD_TIMEZONE], e164)
    values = {k: v for k, v in row.values.items() if k != spec.to_column}
    try:
        request = composed.request(to=e164, variables=values, origin=origin, now=at)
    except ProfileError as exc:
        raise RowProblem(
            _reasons(exc.diagnostics), [d.code for d in exc.diagnostics], e164
        ) from None
    secrets.remember(*request.secret_values())
    return e164, zone, request


def _reasons(diagnostics: list[Diagnostic]) -> str:
    return "; ".join(
        (f"{d.where}: " if d.file else "") + f"{d.message} [{d.code}]" for d in diagnostics
    )


def shown_request(request: Any) -> dict[str, Any]:
    """The request as the plan keeps it: secrets replaced by ``***`` and listed under
    ``secrets`` with where their value comes from (referenced, not stored)."""
    from runner.flow.request import REDACTED

    shown: dict[str, Any] = {
        "connection_id": request.shown_connection_id(False),
        "body": request.redacted_body(False),
    }
    refs: dict[str, str] = {}
    if request.connection_id_sensitive:
        refs["connection_id"] = "profile (a template reading the environment)"

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        if value == REDACTED and path:
            refs[".".join(map(str, path))] = request.origin(path) or "profile"
        elif isinstance(value, dict):
            for key, child in value.items():
                walk(child, (*path, key))

    walk(shown["body"], ())
    if refs:
        shown["secrets"] = refs
    return shown
