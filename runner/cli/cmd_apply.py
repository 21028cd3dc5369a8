from __future__ import annotations

import click

from runner.batch.pacing import MAX_RATE
from runner.cli.document import output_option
from runner.cli.errors import CliExit
from runner.cli.options import (
    concurrency_option,
    redial_unknown_option,
    report_option,
    sending_options,
)
from runner.cli.sandbox_options import sandbox_options
from runner.exitcodes import ExitCode


@click.command()
@output_option("text", "json")
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False),
    help="Ledger file [default: CONTACTS.ledger.db beside the contacts file].",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01, max=MAX_RATE),
    default=10.0,
    show_default=True,
    help="Calls per second, shared by all workers.",
)
@concurrency_option
@redial_unknown_option
@report_option
@sandbox_options
@sending_options
@click.pass_context
def apply(
    ctx: click.Context,
    output: str,
    plan_path: str,
    ledger: str | None,
    rate: float,
    concurrency: int,
    redial_unknown: bool,
    report: str | None,
    sandbox: bool,
    sandbox_script: str | None,
    sandbox_log: str | None,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    show_secrets: bool,
) -> None:
    """Run exactly the calls PLAN (written by callprofile plan) describes, through the batch
    machinery: ledger, pacing, retries, resume.

    Refuses (exit 1) a plan older than its --valid-for, made by another callprofile version, or
    whose inputs changed since (each changed input is named: a profile file, the contacts, the
    do-not-call list, the policy). Calling hours and caps are checked again when each row's
    turn comes: a planned row outside its window then is deferred, not called. Run it in the
    directory the plan was made in. The policy's verdicts are not legal advice.
    """
    import os
    from datetime import datetime, timezone

    from runner import secrets
    from runner.batch.model import Options
    from runner.campaign import apply as apply_mod
    from runner.campaign.plan import parse_stamp
    from runner.campaign.planfile import PlanError, read
    from runner.cli import sandbox_options as local
    from runner.cli.cmd_batch import execute, parse_duration, parse_window, sandbox_ledger
    from runner.cli.document import CODE_USAGE
    from runner.cli.output import error
    from runner.send import submit

    local.check_usage(
        ctx,
        sandbox=sandbox,
        script=sandbox_script,
        log=sandbox_log,
        dry_run=False,
        base_url=base_url,
    )
    if sandbox and ledger:
        raise click.UsageError(
            "a --sandbox apply keeps its own ledger (CONTACTS.sandbox.ledger.db), so its calls "
            "never count as real ones; drop --ledger"
        )
    steps = local.steps(sandbox_script) if sandbox else []
    key = local.SANDBOX_KEY if sandbox else secrets.api_key()
    if not key:
        error(
            "TELNYX_API_KEY is not set; export your Telnyx API key, or add --sandbox to rehearse "
            "the plan against a local sandbox (nothing was sent)",
            CODE_USAGE,
        )
        raise CliExit(ExitCode.USAGE)
    try:
        plan = read(plan_path)
        spec, store = apply_mod.verify(plan, datetime.now(timezone.utc))
        rows = apply_mod.planned_rows(plan, spec, store)
    except PlanError as exc:
        error(f"{exc.path}: {exc.message}; nothing was sent [{exc.code}]", exc.code)
        raise CliExit(ExitCode.INVALID) from None
    click.echo(
        f"callprofile: applying {plan_path}: profile {spec.profile}, {len(rows)} planned call(s) "
        f"of {plan.summary.get('rows', 0)} row(s), plan made {plan.header['created_at']}",
        err=True,
    )
    opts = Options(
        profile=spec.profile,
        contacts=spec.contacts,
        overrides=spec.overrides,
        ledger=ledger or (sandbox_ledger(spec.contacts) if sandbox else None),
        to_column=spec.to_column,
        region=spec.region,
        rate=rate,
        concurrency=concurrency,
        window=parse_window(spec.window),
        dnc=spec.dnc,
        max_calls=spec.max_calls,
        min_interval=parse_duration(spec.min_interval),
        redial_unknown=redial_unknown,
        base_url=base_url or os.environ.get("TELNYX_BASE_URL") or submit.DEFAULT_BASE_URL,
        api_key=key,
        timeout=timeout,
        max_retries=max_retries,
        report=report,
        only_rows=rows,
        render_now=parse_stamp(plan.header["created_at"]),
    )
    execute(
        store,
        opts,
        show_secrets,
        output=output,
        sandbox_steps=steps if sandbox else None,
        sandbox_log=sandbox_log,
    )
