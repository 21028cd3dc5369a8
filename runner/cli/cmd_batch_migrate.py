from __future__ import annotations

import os

import click

from runner.cli.errors import CliExit
from runner.cli.output import error
from runner.exitcodes import ExitCode


@click.command()
@click.option(
    "--from",
    "source",
    required=True,
    metavar="PATH|URL",
    help="The ledger the batches are in now (a file, or a postgresql:// URL).",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="PATH|URL",
    help="The ledger to copy them to, e.g. the team's postgresql:// database.",
)
@click.option("--batch", "batch_prefix", metavar="ID", help="Only the batch whose id starts so.")
def batch_migrate(source: str, target: str, batch_prefix: str | None) -> None:
    """Copy batches, with every row and event, to another ledger.

    Run it once, when no batch is running, then point --ledger at the new place: the batch
    resumes there and nothing already called is called again. A batch the target already
    holds is refused. Example: callprofile batch-migrate --from today.csv.ledger.db
    --to postgresql://calls@db.example/calls
    """
    from runner.batch.ledger import LedgerError, display, is_postgres
    from runner.batch.ledger.move import BatchRunning, choose, copy_batches
    from runner.cli.ledger_errors import fail, open_or_exit

    if display(source) == display(target) or (
        not is_postgres(source)
        and not is_postgres(target)
        and os.path.abspath(source) == os.path.abspath(target)
    ):
        error("--from and --to are the same ledger")
        raise CliExit(ExitCode.USAGE)
    if not is_postgres(source) and not os.path.isfile(source):
        error(f"no ledger at {display(source)}")
        raise CliExit(ExitCode.INVALID)
    old = open_or_exit(source, readonly=True)
    try:
        batches = choose(old, batch_prefix)
        new = open_or_exit(target)
        try:
            moved = copy_batches(old, new, batches)
        finally:
            new.close()
    except BatchRunning as exc:
        error(str(exc))
        raise CliExit(ExitCode.UNREACHABLE) from None
    except LedgerError as exc:
        raise fail(exc) from None
    finally:
        old.close()
    for item in moved:
        click.echo(
            f"copied batch {item.batch_id[:12]} (profile {item.profile}, {item.rows} rows) "
            f"from {display(source)} to {display(target)}"
        )
