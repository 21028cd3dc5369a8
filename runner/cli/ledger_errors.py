"""How every command reports a ledger it cannot use, with one exit code per cause."""

from __future__ import annotations

from typing import Any

from runner.cli.errors import CliExit
from runner.cli.output import error
from runner.exitcodes import ExitCode


def exit_code(exc: Exception) -> ExitCode:
    """LedgerUsage: the --ledger value cannot work (2); LedgerUnavailable: the database is away,
    nothing was sent, run again (6); any other LedgerError: not a ledger this tool can use (1)."""
    from runner.batch.ledger import LedgerUnavailable, LedgerUsage

    if isinstance(exc, LedgerUsage):
        return ExitCode.USAGE
    if isinstance(exc, LedgerUnavailable):
        return ExitCode.UNREACHABLE
    return ExitCode.INVALID


def fail(exc: Exception) -> CliExit:
    """Print the problem (scrubbed by ``error``) and return the exit to raise."""
    from runner.cli.document import CODE_USAGE

    code = exit_code(exc)
    error(str(exc), CODE_USAGE if code == ExitCode.USAGE else None)
    return CliExit(code)


def open_or_exit(spec: str, **kwargs: Any) -> Any:
    from runner.batch.ledger import LedgerError, open_ledger

    try:
        return open_ledger(spec, **kwargs)
    except LedgerError as exc:
        raise fail(exc) from None
