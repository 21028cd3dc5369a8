from __future__ import annotations

from typing import Any

import click

from runner.cli.document import emit, output_option
from runner.cli.errors import CliExit
from runner.exitcodes import ExitCode


def parse_instant(text: str | None, param: str = "--at") -> Any:
    """An ISO 8601 instant with a UTC offset (``Z`` or ``-05:00``); naive times are refused:
    whose local time would they be?"""
    from datetime import datetime, timezone

    if text is None:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time like 2026-11-26T20:30:00-05:00", param_hint=param
        ) from None
    if value.tzinfo is None:
        raise click.BadParameter(
            f"{text!r} has no UTC offset: add Z or one like -05:00 (the callee's local time "
            "is worked out from the number)",
            param_hint=param,
        )
    return value.astimezone(timezone.utc)


@click.command()
@output_option("text", "json")
@click.argument("number")
@click.option("--profile", "profile", metavar="NAME", help="Apply this profile's policy.")
@click.option("--at", "at", metavar="ISO-TIME", help="Judge at this instant (default: now).")
@click.option("--state", metavar="XX", help="The callee's state, if known (e.g. FL).")
@click.option("--timezone", "zone", metavar="ZONE", help="The callee's IANA time zone.")
@click.option("--region", metavar="CC", help="Region for a number without +, e.g. US.")
@click.option(
    "--consent",
    type=click.Choice(["written", "express"]),
    help="The consent on record for this number.",
)
@click.option("--consent-date", metavar="DATE", help="When that consent was given.")
@click.option("--dnc", type=click.Path(dir_okay=False), help="Do-not-call list to check.")
@click.option(
    "--ledger",
    metavar="FILE|URL",
    help="Batch ledger (a SQLite file or a postgresql:// URL) whose calls count toward the "
    "24-hour caps.",
)
@click.pass_context
def can_call(
    ctx: click.Context,
    output: str,
    number: str,
    profile: str | None,
    at: str | None,
    state: str | None,
    zone: str | None,
    region: str | None,
    consent: str | None,
    consent_date: str | None,
    dnc: str | None,
    ledger: str | None,
) -> None:
    """Say whether NUMBER may be called (now, or --at a time) and list every rule that decided
    it, with its citation. Exit 0 callable, 1 not.

    With --profile the profile's campaign.policy applies; without it, the built-in federal
    calling hours and state rules table. This is not legal advice.
    """
    from runner.batch.ledger import LedgerUnavailable
    from runner.campaign import decide
    from runner.cli.options import store_from

    when = parse_instant(at)
    if ledger is not None:
        import os

        from runner.batch.ledger import is_postgres

        if not is_postgres(ledger) and not os.path.isfile(ledger):
            raise click.BadParameter(f"{ledger}: no such ledger file", param_hint="--ledger")
    store = store_from(ctx) if profile else None
    try:
        verdict = decide.can_call(
            number,
            store=store,
            profile=profile,
            at=when,
            state=state,
            zone=zone,
            region=region.upper() if region else None,
            consent=consent,
            consent_date=consent_date,
            dnc=dnc,
            ledger=ledger,
        )
    except decide.FlagError as exc:
        raise click.BadParameter(exc.message, param_hint=exc.flag) from None
    except LedgerUnavailable as exc:
        from runner.cli import ledger_errors

        raise ledger_errors.fail(exc) from None
    code = ExitCode.OK if verdict.callable else ExitCode.INVALID
    if output == "json":
        from runner.campaign.rules import NOT_LEGAL_ADVICE

        emit(code, {"profile": profile, **verdict.as_dict(), "notice": NOT_LEGAL_ADVICE})
    else:
        from runner.campaign.show import verdict_text

        click.echo(verdict_text(verdict, profile), nl=False)
    raise CliExit(code)
