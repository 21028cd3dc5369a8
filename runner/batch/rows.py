"""One contacts row -> a validated request, or the reasons it cannot be sent.

The row's values reach the profile's templates as variables (data, never templates); its
number and optional ``timezone`` are checked first, so a bad row is reported without a POST.
"""

from __future__ import annotations

from runner import codes
from runner.batch import contacts as contacts_mod
from runner.batch.model import Options, Prepared, RowInvalid
from runner.batch.window import zone_error
from runner.diagnostics import Diagnostic, ProfileError
from runner.flow.compose import Composed
from runner.phone import NumberError, normalise

__all__ = ["Prepared", "RowInvalid", "prepare_row"]


def prepare_row(composed: Composed, opts: Options, row: contacts_mod.Row) -> Prepared:
    """Check, render and validate one row. Raises RowInvalid with the reasons."""
    from runner import secrets

    origin = f"{opts.contacts} row {row.line}"
    if row.problem:
        raise RowInvalid([Diagnostic(f"the row {row.problem}", codes.CONTACTS_ROW, origin=origin)])
    raw = row.get(opts.to_column)
    if raw is None:
        message = f"no number in column {opts.to_column!r}"
        raise RowInvalid([Diagnostic(message, codes.BAD_NUMBER, origin=origin)])
    try:
        e164 = normalise(raw, opts.region)
    except NumberError as exc:
        number = Diagnostic(str(exc), codes.BAD_NUMBER, origin=origin)
        raise RowInvalid([number], given=raw) from None
    zone = row.get(contacts_mod.TIMEZONE_COLUMN)
    if zone is not None:
        problem = zone_error(zone.strip())
        if problem:
            raise RowInvalid([Diagnostic(problem, codes.BAD_TIMEZONE, origin=origin)], e164)
        zone = zone.strip()
    values = {k: v for k, v in row.values.items() if k != opts.to_column}
    try:
        request = composed.request(to=e164, variables=values, origin=origin, now=opts.render_now)
    except ProfileError as exc:
        raise RowInvalid(exc.diagnostics, e164) from None
    secrets.remember(*request.secret_values())
    return Prepared(row.line, e164, zone, request)
