"""One contacts row -> a validated request, or the reasons it cannot be sent.

The row's values reach the profile's templates as variables (data, never templates); its
number and optional ``timezone`` are checked first, so a bad row is reported without a POST.
"""

from __future__ import annotations

from runner import codes, secrets
from runner.batch import contacts as contacts_mod
from runner.batch.model import Options, Prepared, RowInvalid
from runner.batch.window import zone_error
from runner.diagnostics import Diagnostic, ProfileError
from runner.flow.compose import Composed
from runner.phone import NumberError, normalise

__all__ = ["Prepared", "RowInvalid", "prepare_row"]


def prepare_row(composed: Composed, opts: Options, row: contacts_mod.Row) -> Prepared:
    """Check, render and validate one row, and build the exact request it would send. Raises
    RowInvalid with the reasons: whatever goes wrong with one row stays with that row."""
    origin = f"{opts.contacts} row {row.line}"
    try:
        return _prepare(composed, opts, row, origin)
    except RowInvalid:
        raise
    except ProfileError as exc:
        raise RowInvalid(exc.diagnostics) from None
    except Exception as exc:
        from runner.secrets import scrub

        message = scrub(f"this row cannot be prepared: {type(exc).__name__}: {exc}")
        raise RowInvalid([Diagnostic(message, codes.ROW_NOT_PREPARED, origin=origin)]) from None


def _prepare(composed: Composed, opts: Options, row: contacts_mod.Row, origin: str) -> Prepared:
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
    if opts.dry_run:  # nothing goes on the wire: the wire form (indented JSON) is not needed
        return Prepared(row.line, e164, zone, request)
    from runner.send import submit

    http = submit.prepare(
        request.connection_id, request.body, base_url=opts.base_url, api_key=opts.api_key
    )
    return Prepared(row.line, e164, zone, request, http=http)
