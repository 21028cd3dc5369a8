from __future__ import annotations

import os
from typing import Any

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
@click.option(
    "--account-sid",
    envvar="TELNYX_ACCOUNT_SID",
    metavar="SID",
    help="Telnyx account id for the call list (env: TELNYX_ACCOUNT_SID; default: the one "
    "recorded callbacks named).",
)
@click.option(
    "--margin",
    default="10m",
    show_default=True,
    help="How old a claim must be before 'no call listed' counts as not placed (the list is "
    "eventually consistent).",
)
@click.option("--dry-run", is_flag=True, help="Look the calls up and print; change nothing.")
@output_option("text", "json")
@click.option(
    "--base-url",
    envvar="TELNYX_BASE_URL",
    default=None,
    help="API base URL, as for run (env: TELNYX_BASE_URL; default https://api.telnyx.com/v2).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.05),
    default=15.0,
    show_default=True,
    help="Seconds to wait for each page of the call list.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Retries of a page after a connection failure, a timeout, 429 or 5xx (a GET changes "
    "nothing).",
)
def batch_reconcile(
    ledger: str,
    batch_prefix: str | None,
    account_sid: str | None,
    margin: str,
    dry_run: bool,
    output: str,
    base_url: str | None,
    timeout: float,
    max_retries: int,
) -> None:
    """Settle the ledger's unknown rows from Telnyx's call list.

    For each row whose call may or may not have been placed, asks GET
    /texml/Accounts/{account_sid}/Calls for calls to that number from the profile's From that
    started after the claim. One call: the row becomes placed with its call_sid. None, and the
    claim is older than --margin: not-placed, which --redial-unknown calls again. Several:
    reported and never redialled. Every decision is logged in the ledger with its evidence.

    Exits 0 when no unknown row is left, 5 when some are left (too recent to decide), 4 when
    Telnyx refused the lookup, 6 when it could not be reached or a batch in a ledger file is
    running (a postgresql:// ledger is reconciled while its runners work).
    """
    from runner import secrets
    from runner.batch.ledger import display, is_postgres
    from runner.cli.cmd_batch import parse_duration
    from runner.cli.ledger_errors import open_or_exit
    from runner.send import submit

    window = parse_duration(margin, param_hint="--margin")
    if not is_postgres(ledger) and not os.path.isfile(ledger):
        error(f"no ledger at {display(ledger)}")
        raise CliExit(ExitCode.INVALID)
    key = secrets.api_key()
    base = base_url or submit.DEFAULT_BASE_URL
    from runner.send import gate

    try:
        # The same gate as every command that sends: the key goes to Telnyx here too.
        gate.admit(base, key, unset="nothing was changed", refused="nothing was looked up")
    except gate.GateClosed as closed:
        usage = closed.code == ExitCode.USAGE
        error(closed.message, CODE_USAGE if usage else closed.diagnostic)
        raise CliExit(closed.code) from None
    assert key is not None
    book = open_or_exit(ledger)
    try:
        code = _run(
            book,
            ledger,
            batch_prefix,
            account_sid,
            window,
            dry_run,
            output,
            base,
            key,
            timeout,
            max_retries,
        )
    finally:
        book.close()
    raise CliExit(code)


def _run(
    book: Any,
    ledger: str,
    batch_prefix: str | None,
    account_sid: str | None,
    window: Any,
    dry_run: bool,
    output: str,
    base: str,
    key: str,
    timeout: float,
    max_retries: int,
) -> int:
    from runner import codes
    from runner.batch.lock import BatchLock, Busy
    from runner.outcomes import calls_api, reconcile
    from runner.send import submit

    found = [b for b in book.batches() if b.batch_id.startswith(batch_prefix or "")]
    if not found:
        error(f"no batch{' ' + batch_prefix if batch_prefix else ''} in {ledger}")
        return ExitCode.INVALID
    todo = [info for info in found if _unsettled(book.counts(info.batch_id))]
    if not todo:
        click.echo("batch-reconcile: no unknown rows; nothing to do", err=True)
        if output == "json":
            emit(ExitCode.OK, {"ledger": ledger, "dry_run": dry_run, "decisions": []})
        return ExitCode.OK
    account = account_sid or _learned_account(book)
    if not account:
        error(
            "no Telnyx account sid: pass --account-sid or set TELNYX_ACCOUNT_SID (Mission "
            "Control, Account settings); it is also learnt from recorded callbacks, and this "
            f"ledger has {len(book.account_sids())} distinct ones [{codes.NO_ACCOUNT_SID}]",
            codes.NO_ACCOUNT_SID,
        )
        return ExitCode.USAGE
    from runner.batch.ledger import utc_now

    client = submit.make_client(submit.Timeouts(read=timeout))

    def lookup(row: dict[str, Any]) -> Any:
        return calls_api.fetch(
            client,
            base_url=base,
            api_key=key,
            account_sid=account,
            to=row["e164"],
            from_=row.get("from_e164"),
            since=reconcile.parse_stamp(row.get("sent_at")) or utc_now(),
            max_retries=max_retries,
        )

    decisions: list[Any] = []
    failure = None
    busy = 0
    try:
        for info in todo:
            # A file is held by its lock while a run writes it. A shared ledger is reconciled
            # while its runners work: only rows already unknown are settled (each change is
            # conditional on that state, and no runner claims an unknown row), and the rows
            # left dialing that are recovered first are only those of runners that are gone.
            lock = None if book.shared else BatchLock(ledger, info.batch_id)
            try:
                if lock is not None:
                    lock.acquire()
            except Busy as exc:
                busy += _unsettled(book.counts(info.batch_id))
                error(
                    f"batch {info.batch_id[:12]} is running ({exc.holder}); reconcile it after "
                    "it ends (its unknown rows are left as they are)"
                )
                continue
            try:
                rows = _rows(book, info.batch_id, dry_run)
                done, failure = reconcile.reconcile_rows(
                    book,
                    rows,
                    lookup,
                    now=utc_now,
                    margin=window,
                    dry_run=dry_run,
                    on_decision=(lambda d: None) if output == "json" else _print_decision,
                )
                decisions.extend(done)
            finally:
                if lock is not None:
                    lock.release()
            if failure is not None:
                break
    finally:
        client.close()
    if not dry_run:
        book.match_unmatched()
    code = _finish(decisions, failure, busy, dry_run)
    if output == "json":
        emit(
            code,
            {"ledger": ledger, "dry_run": dry_run, "decisions": [d.as_dict() for d in decisions]},
        )
    return code


def _unsettled(counts: dict[str, int]) -> int:
    return counts.get("unknown", 0) + counts.get("dialing", 0)


def _rows(book: Any, batch_id: str, dry_run: bool) -> list[dict[str, Any]]:
    """The batch's unknown rows. In a ledger file, rows still ``dialing`` were left by a run
    that ended (the batch lock is ours, so none is running): they are unknown, as a resumed
    batch would record them first. In a shared ledger a dialing row may be a live runner's call
    in flight, so only the gone runners' rows are recovered (and a dry run shows none)."""
    if dry_run:
        states = ("unknown",) if book.shared else ("unknown", "dialing")
        return list(book.unknown_rows(batch_id, states))
    recovered = book.recover_dialing(batch_id)
    if recovered:
        click.echo(
            f"batch-reconcile: {recovered} row(s) of batch {batch_id[:12]} were left dialing by "
            "a run that ended; they are unknown now, and looked up below",
            err=True,
        )
    return list(book.unknown_rows(batch_id))


def _learned_account(book: Any) -> str | None:
    seen = book.account_sids()
    return seen[0] if len(seen) == 1 else None


def _print_decision(decision: Any) -> None:
    from runner.phone import mask
    from runner.secrets import scrub

    text = (
        f"batch {decision.batch_id[:12]} row {decision.row_no} {mask(decision.e164)}: "
        f"{decision.message}"
    )
    if decision.code:
        text += f" [{decision.code}]"
    click.echo(scrub(text))


def _finish(decisions: list[Any], failure: Any, busy: int, dry_run: bool) -> int:
    from collections import Counter

    from runner import codes
    from runner.outcomes import reconcile
    from runner.secrets import scrub

    count = Counter(d.verdict for d in decisions)
    left = count[reconcile.WAIT] + count[reconcile.FAILED] + busy
    prefix = "batch-reconcile (dry run, nothing changed)" if dry_run else "batch-reconcile"
    click.echo(
        f"{prefix}: {count[reconcile.PLACED]} placed, {count[reconcile.NOT_PLACED]} not placed, "
        f"{count[reconcile.SEVERAL]} with several calls, {left} still unknown",
        err=True,
    )
    if failure is not None:
        error(scrub(failure.message), codes.LOOKUP_FAILED)
        return ExitCode.REJECTED
    if count[reconcile.FAILED] or busy:
        return ExitCode.UNREACHABLE
    if left:
        return ExitCode.UNKNOWN
    return ExitCode.OK
