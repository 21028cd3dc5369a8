from __future__ import annotations

from typing import Any

import click

from runner.cli.document import emit, output_option
from runner.cli.errors import CliExit
from runner.cli.options import OrderedCommand, override_options, overrides_from
from runner.exitcodes import ExitCode


@click.command(cls=OrderedCommand)
@output_option(
    "text",
    "markdown",
    "json",
    aliases=("--format",),
    help="Summary format: markdown for a pull-request comment, json for machines.",
)
@click.argument("name")
@click.option(
    "--contacts",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV (with a header row) or JSON lines: one row per call.",
)
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="Plan file to write."
)
@override_options
@click.option("--to-column", default="to", show_default=True, help="Column with the number.")
@click.option("--region", metavar="CC", help="Region for numbers without +, e.g. US.")
@click.option(
    "--window", metavar="HH:MM-HH:MM", help="Calling hours for this plan (replaces the policy's)."
)
@click.option("--dnc", type=click.Path(dir_okay=False), help="Do-not-call list (dates allowed).")
@click.option("--max-calls", type=click.IntRange(min=1), help="apply stops after N calls placed.")
@click.option(
    "--min-interval",
    default="24h",
    show_default=True,
    help="apply skips a number another batch called this recently (0 disables).",
)
@click.option(
    "--valid-for",
    default="24h",
    show_default=True,
    help="apply refuses the plan after this long (e.g. 2h, 1d).",
)
@click.option("--at", "at", metavar="ISO-TIME", help="Plan as of this instant (default: now).")
@click.pass_context
def plan(
    ctx: click.Context,
    output: str,
    name: str,
    contacts: str,
    out: str,
    to_column: str,
    region: str | None,
    window: str | None,
    dnc: str | None,
    max_calls: int | None,
    min_interval: str,
    valid_for: str,
    at: str | None,
    **params: Any,
) -> None:
    """Render and judge every row of --contacts with profile NAME and write what apply would
    do to --out: the request of every row it would call (secrets referenced, not stored), the
    reason for every row it would not, and digests of every input.

    Review the plan (or its --format markdown summary), then run: callprofile apply PLAN.
    Nothing is sent. Exit 0 when the plan is written (its summary counts the invalid rows), 1
    when it cannot be made. The policy's verdicts are not legal advice.
    """
    from runner.campaign import plan as plan_mod
    from runner.campaign import summary
    from runner.campaign.planfile import PlanError, read
    from runner.cli.cmd_batch import parse_duration, parse_window
    from runner.cli.cmd_can_call import parse_instant
    from runner.cli.options import store_from
    from runner.cli.output import error

    if params.get("to") is not None:
        raise click.UsageError("plan takes each number from the contacts file; drop --to")
    parse_window(window)  # a usage error now, not a crash later
    parse_duration(min_interval)
    try:
        lifetime = parse_duration(valid_for)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="--valid-for") from None
    if lifetime.total_seconds() <= 0:
        raise click.BadParameter("a plan must be valid for some time", param_hint="--valid-for")
    when = parse_instant(at).replace(microsecond=0)
    spec = plan_mod.Spec(
        profile=name,
        contacts=contacts,
        profiles_dir=ctx.find_root().obj["profiles_dir"],
        overrides=overrides_from(ctx, params),
        to_column=to_column,
        region=region.upper() if region else None,
        window=window,
        dnc=dnc,
        min_interval=min_interval,
        max_calls=max_calls,
    )
    try:
        plan_mod.make(store_from(ctx), spec, at=when, valid_for=lifetime, out=out)
        view = summary.view_of(read(out))
    except PlanError as exc:
        error(f"{exc.path}: {exc.message} [{exc.code}]", exc.code)
        raise CliExit(ExitCode.INVALID) from None
    if output == "json":
        emit(ExitCode.OK, summary.as_json(view))
    elif output == "markdown":
        click.echo(summary.markdown(view), nl=False)
    else:
        click.echo(summary.text(view), nl=False)
    raise CliExit(ExitCode.OK)


for _param in plan.params:
    if isinstance(_param, click.Option) and _param.name == "to":
        _param.hidden = True
