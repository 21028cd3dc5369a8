"""The command line's advice on diagnostics: which flag fixes the problem.

The core's messages say what is wrong in the profile's terms and carry what they are about
(``Diagnostic.variable``, ``field``, ``absent``); only here do they learn the flags' names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from runner import codes
from runner.diagnostics import Diagnostic

# Where a call's values come from: one call's flags, or a batch's contacts rows.
CALL = "call"
ROWS = "rows"

_FIELD_ADVICE = {
    "To": "give it with --to",
    "From": "set it in the profile or with --from",
    "connection_id": "or pass --connection-id",
}


def advise(diag: Diagnostic, where: str = CALL) -> Diagnostic:
    """``diag`` with the flag (or contacts column) that supplies what it says is missing."""
    hint = None
    if diag.absent and diag.variable and diag.code == codes.REQUIRED_VARIABLE:
        name = diag.variable
        hint = f"--var {name}=..."
        if where == ROWS:
            hint = f"add a column {name!r} to the contacts file, or {hint}"
    elif diag.absent and diag.field in _FIELD_ADVICE:
        hint = _FIELD_ADVICE[diag.field]
        if diag.field == "To" and where == ROWS:
            hint = None  # every row brings its own number
    return diag if hint is None else replace(diag, message=f"{diag.message} ({hint})")


def advise_all(diagnostics: Iterable[Diagnostic], where: str = CALL) -> list[Diagnostic]:
    return [advise(d, where) for d in diagnostics]
