"""One contacts row -> a validated request, or the reasons it cannot be sent.

The row's values reach the profile's templates as variables (data, never templates); its
number and optional ``timezone`` are checked first, so a bad row is reported without a POST.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from runner import codes
from runner.batch import contacts as contacts_mod
from runner.batch.phone import NumberError, normalise
from runner.batch.window import zone_error
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.store import Store

if TYPE_CHECKING:
    from runner.batch.engine import Options


@dataclass
class Prepared:
    row: int
    e164: str
    zone: str | None
    request: Any  # runner.flow.build.Request


class RowInvalid(Exception):
    def __init__(self, diagnostics: list[Diagnostic], e164: str | None = None):
        self.diagnostics = diagnostics
        self.e164 = e164
        super().__init__("; ".join(f"{d.message} [{d.code}]" for d in diagnostics))


def prepare_row(store: Store, opts: Options, row: contacts_mod.Row) -> Prepared:
    """Resolve, render and validate one row. Raises RowInvalid with the reasons."""
    from runner import secrets
    from runner.flow.build import build

    origin = f"{opts.contacts} row {row.line}"
    if row.problem:
        raise RowInvalid([Diagnostic(f"the row {row.problem}", codes.CONTACTS_ROW, origin=origin)])
    raw = row.get(opts.to_column)
    if raw is None:
        raise RowInvalid(
            [Diagnostic(f"no number in column {opts.to_column!r}", codes.BAD_NUMBER, origin=origin)]
        )
    try:
        e164 = normalise(raw, opts.region)
    except NumberError as exc:
        raise RowInvalid([Diagnostic(str(exc), codes.BAD_NUMBER, origin=origin)]) from None
    zone = row.get(contacts_mod.TIMEZONE_COLUMN)
    if zone is not None:
        problem = zone_error(zone.strip())
        if problem:
            raise RowInvalid([Diagnostic(problem, codes.BAD_TIMEZONE, origin=origin)], e164)
        zone = zone.strip()
    values = {k: v for k, v in row.values.items() if k != opts.to_column}
    try:
        request = build(
            store,
            opts.profile,
            replace(opts.overrides, to=e164),
            row_values=values,
            row_origin=origin,
        )
    except ProfileError as exc:
        raise RowInvalid([_for_rows(d) for d in exc.diagnostics], e164) from None
    secrets.remember(*request.secret_values())
    return Prepared(row.line, e164, zone, request)


def _for_rows(diag: Diagnostic) -> Diagnostic:
    """In a batch, a missing variable is fixed with a column, not only with --var."""
    from dataclasses import replace as copy

    if diag.code == codes.REQUIRED_VARIABLE and "(--var " in diag.message:
        name = diag.message.split("'")[1]
        return copy(
            diag,
            message=f"required variable {name!r} was not given (add a column "
            f"{name!r} to the contacts file, or --var {name}=...)",
        )
    return diag
