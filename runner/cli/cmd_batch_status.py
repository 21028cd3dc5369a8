from __future__ import annotations

import os

import click

from runner.cli.document import CODE_USAGE, emit, output_option
from runner.cli.errors import CliExit
from runner.cli.output import error
from runner.exitcodes import ExitCode


@click.command()
@click.option(
    "--ledger", required=True, type=click.Path(dir_okay=False), help="The batch's ledger file."
)
@click.option("--batch", "batch_prefix", metavar="ID", help="Only the batch whose id starts so.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write each row's state as CSV.")
@output_option("text", "json")
def batch_status(ledger: str, batch_prefix: str | None, report: str | None, output: str) -> None:
    """Print the summary of every batch in a ledger (safe while a batch runs).

    Exits with the code the newest batch shown would end with (0, 1, 4, 5 or 6).
    """
    from runner.batch.ledger import Ledger, LedgerError
    from runner.batch.lock import BatchLock, Busy
    from runner.batch.report import summarise, write_csv

    if not os.path.isfile(ledger):
        error(f"no ledger at {ledger}")
        raise CliExit(ExitCode.INVALID)
    try:
        book = Ledger(ledger, readonly=True)
    except LedgerError as exc:
        error(str(exc))
        raise CliExit(ExitCode.INVALID) from None
    try:
        found = [b for b in book.batches() if b.batch_id.startswith(batch_prefix or "")]
        if not found:
            error(f"no batch{' ' + batch_prefix if batch_prefix else ''} in {ledger}")
            raise CliExit(ExitCode.INVALID)
        if report and len(found) > 1:
            error(
                "the ledger holds several batches; pick one with --batch for --report", CODE_USAGE
            )
            raise CliExit(ExitCode.USAGE)
        code = ExitCode.OK
        summaries = []
        for i, info in enumerate(found):
            running = _running(BatchLock, Busy, ledger, info.batch_id)
            summary = summarise(book, info.batch_id, running=running)
            summaries.append(summary.as_dict())
            if output != "json":
                if i:
                    click.echo("")
                for line in summary.lines():
                    click.echo(line)
            code = summary.exit_code()
        if report:
            write_csv(book, found[0].batch_id, report)
    finally:
        book.close()
    if output == "json":
        emit(code, {"ledger": ledger, "batches": summaries, "report": report})
    raise CliExit(code)


def _running(lock_cls: type, busy: type, ledger: str, batch_id: str) -> bool:
    """Whether a process holds the batch now (a shared lock probe; released at once)."""
    import fcntl

    path = lock_cls(ledger, batch_id).path
    if not os.path.exists(path):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
