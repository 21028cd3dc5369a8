from __future__ import annotations

import os

import click

from runner.cli.document import CODE_USAGE, emit, output_option
from runner.cli.errors import CliExit
from runner.cli.output import error
from runner.exitcodes import ExitCode


@click.command()
@click.option(
    "--ledger",
    required=True,
    metavar="PATH|URL",
    help="The batch's ledger: a file, or a postgresql:// URL.",
)
@click.option("--batch", "batch_prefix", metavar="ID", help="Only the batch whose id starts so.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write each row's state as CSV.")
@output_option("text", "json")
def batch_status(ledger: str, batch_prefix: str | None, report: str | None, output: str) -> None:
    """Print the summary of every batch in a ledger (safe while a batch runs).

    Once callbacks were recorded (callprofile listen, batch --listen), the summary also shows
    the calls' outcomes: answered by a person or a machine, no answer, busy, failed, or still
    awaiting a callback. Exits with the code the newest batch shown would end with (0, 1, 4, 5
    or 6).
    """
    from runner.batch.ledger import LedgerError, display, is_postgres
    from runner.batch.report import summarise, write_csv
    from runner.cli.ledger_errors import fail, open_or_exit

    where = display(ledger)
    if not is_postgres(ledger) and not os.path.isfile(ledger):
        error(f"no ledger at {where}")
        raise CliExit(ExitCode.INVALID)
    book = open_or_exit(ledger, readonly=True)
    try:
        found = [b for b in book.batches() if b.batch_id.startswith(batch_prefix or "")]
        if not found:
            error(f"no batch{' ' + batch_prefix if batch_prefix else ''} in {where}")
            raise CliExit(ExitCode.INVALID)
        if report and len(found) > 1:
            error(
                "the ledger holds several batches; pick one with --batch for --report", CODE_USAGE
            )
            raise CliExit(ExitCode.USAGE)
        code = ExitCode.OK
        summaries = []
        for i, info in enumerate(found):
            summary = summarise(book, info.batch_id, running=book.running(info.batch_id))
            summaries.append(summary.as_dict())
            if output != "json":
                if i:
                    click.echo("")
                for line in summary.lines():
                    click.echo(line)
            code = summary.exit_code()
        if report:
            write_csv(book, found[0].batch_id, report)
        unmatched = book.unmatched_count()
    except LedgerError as exc:
        raise fail(exc) from None
    finally:
        book.close()
    if unmatched and output != "json":
        click.echo(
            f"callprofile: {unmatched} call(s) sent callbacks that match no row of this ledger "
            "(kept; matched when a row gets that call_sid)",
            err=True,
        )
    if output == "json":
        document = {"ledger": where, "batches": summaries, "report": report}
        emit(code, {**document, "unmatched_callbacks": unmatched})
    raise CliExit(code)
