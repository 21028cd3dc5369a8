"""``apply``: check that a plan still describes the world, then run exactly its calls.

A plan is refused when it is too old (``--valid-for`` at plan time), when it was made by another
version of callprofile, or when any input differs from the one planned (each is named: which
profile file, the contacts, the do-not-call list, the policy). The calls then run through the
batch machinery (ledger, pacing, retries), limited to the planned rows, and each row's request
is rendered again and compared with the plan before it is sent.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runner import __version__, codes
from runner.campaign.inputs import Input, changes
from runner.campaign.plan import Spec, collect_inputs, effective_policy, parse_stamp
from runner.campaign.planfile import Plan, PlanError
from runner.diagnostics import ProfileError
from runner.profiles.store import Store

CODE_EXPIRED = codes.PLAN_EXPIRED
CODE_STALE = codes.PLAN_STALE
CODE_DRIFT = codes.PLAN_DRIFT
FILE_KINDS = ("profile", "values", "vars", "contacts", "dnc")


def verify(plan: Plan, now: datetime) -> tuple[Spec, Store]:
    """The plan's spec and store when the plan may be applied at ``now``; PlanError naming
    every reason when not."""
    header = plan.header
    tool = f"callprofile {__version__}"
    if header["tool"] != tool:
        raise PlanError(
            plan.path,
            f"the plan was made by {header['tool']}; this is {tool}: plan again",
            CODE_STALE,
        )
    try:
        valid_until = parse_stamp(header["valid_until"])
    except (TypeError, ValueError):
        raise PlanError(plan.path, "the plan's valid_until is not a time") from None
    if now > valid_until:
        raise PlanError(
            plan.path,
            f"the plan expired at {header['valid_until']} (made {header['created_at']}); "
            "plan again (plan --valid-for sets how long a plan stays valid)",
            CODE_EXPIRED,
        )
    spec = Spec.from_header(header)
    store = Store(Path(spec.profiles_dir))
    try:
        planned = [Input.from_dict(i) for i in header["inputs"]]
    except ValueError as exc:
        raise PlanError(plan.path, f"the plan's inputs are malformed: {exc}") from None
    try:
        current = collect_inputs(store, spec, effective_policy(store, spec))
    except ProfileError as exc:
        # The profile no longer resolves (a file was deleted or broken): say what changed.
        files = [i for i in planned if i.kind in FILE_KINDS]
        found = changes(files, _files_now(files))
        detail = "; ".join(d.text() for d in exc.diagnostics[:3])
        raise PlanError(
            plan.path,
            "inputs changed since the plan was made: "
            + ("; ".join(found) + "; " if found else "")
            + f"the profile no longer resolves ({detail}); plan again",
            CODE_STALE,
        ) from None
    found = changes(planned, current)
    if found:
        raise PlanError(
            plan.path,
            "inputs changed since the plan was made: " + "; ".join(found) + "; plan again",
            CODE_STALE,
        )
    return spec, store


def _files_now(files: list[Input]) -> list[Input]:
    """The planned files as they are now (to name what changed when the profile cannot be
    resolved any more)."""
    from runner.campaign.inputs import file_digest

    return [Input(i.kind, i.name, file_digest(i.name)) for i in files]


def planned_rows(plan: Plan, spec: Spec, store: Store) -> frozenset[int]:
    """The rows apply may dial. Each is rendered again, as of the plan's time, and compared
    with the plan (secrets excepted: they are referenced, and read now); a row that renders
    differently refuses the whole plan before anything is sent."""
    from runner.batch.contacts import read_rows
    from runner.campaign.plan import RowProblem, render_row, shown_request
    from runner.campaign.planfile import PLANNED
    from runner.flow.compose import compose

    composed = compose(store, spec.profile, spec.overrides)
    created = parse_stamp(plan.header["created_at"])
    contacts = iter(read_rows(spec.contacts, spec.to_column))
    rows: set[int] = set()
    drift: list[str] = []
    for planned in plan.rows():
        if planned.get("action") not in PLANNED:
            continue
        line = int(planned["row"])
        row = next((r for r in contacts if r.line == line), None)
        if row is None:
            drift.append(f"row {line} is not in the contacts file")
            break
        try:
            _, _, request = render_row(composed, spec, row, created)
        except RowProblem as exc:
            drift.append(f"row {line} no longer renders ({exc.reason})")
            continue
        if shown_request(request) != planned.get("request"):
            drift.append(f"row {line}")
        rows.add(line)
    if drift:
        shown = ", ".join(drift[:10]) + (f" and {len(drift) - 10} more" if len(drift) > 10 else "")
        raise PlanError(
            plan.path,
            f"the request of {shown} differs from the plan although no input file changed "
            "(TELNYX_CONNECTION_ID or another environment value?); plan again",
            CODE_DRIFT,
        )
    return frozenset(rows)
