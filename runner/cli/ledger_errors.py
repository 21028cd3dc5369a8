"""How every command reports a ledger it cannot use, with one exit code per cause."""

from __future__ import annotations

from typing import Any

from runner.cli.main import CliExit
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
    from runner.secrets import scrub

    error(scrub(str(exc)))
    return CliExit(exit_code(exc))


def open_or_exit(spec: str, **kwargs: Any) -> Any:
    from runner.batch.ledger import LedgerError, open_ledger

    try:
        return open_ledger(spec, **kwargs)
    except LedgerError as exc:
        raise fail(exc) from None
