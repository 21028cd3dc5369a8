from __future__ import annotations

import click

from runner.cli.errors import CliExit
from runner.cli.options import OrderedCommand, override_options, overrides_from, store_from
from runner.exitcodes import ExitCode


@click.command(cls=OrderedCommand)
@click.argument("name")
@override_options
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--show-secrets", is_flag=True, help="Print secret values instead of ***.")
@click.pass_context
def explain(
    ctx: click.Context, name: str, output: str, show_secrets: bool, **params: object
) -> None:
    """Show, for every field of NAME's final request, its value, the file:line:col or flag
    that set it, and the values it overrode (most recent first). A campaign.policy follows:
    each setting with where it was set, and the built-in rules it turns on with citations.

    Inputs the call would need but were not given (--to, required variables) are filled like
    validate does (placeholder number, the variables' examples), and a note says so.
    """
    import json
    import os

    from runner.flow.compose import compose
    from runner.review.explain import explain as explain_rows
    from runner.review.explain import table
    from runner.review.standins import PLACEHOLDER_CONNECTION, render_with, stand_ins

    env_connection = os.environ.get("TELNYX_CONNECTION_ID")
    store = store_from(ctx)
    composed = compose(
        store,
        name,
        overrides_from(ctx, params),
        default_connection_id=env_connection or PLACEHOLDER_CONNECTION,
    )
    extra = stand_ins(composed)
    request = render_with(composed, extra, origin="placeholder (no --to given)")
    rows = explain_rows(
        request,
        show_secrets=show_secrets,
        connection_default="TELNYX_CONNECTION_ID" if env_connection else "placeholder (none set)",
    )
    if extra.placeholder_to:
        click.echo("note: no --to given; To is a placeholder number", err=True)
    if extra.examples or extra.invented:
        given = ", ".join([*extra.examples, *extra.invented])
        click.echo(f"note: variables rendered with their example values: {given}", err=True)
    from runner.campaign import policy as campaign_policy
    from runner.campaign import show

    policy = campaign_policy.resolve(store, name)
    if output == "json":
        payload: dict[str, object] = {"profile": name, "fields": [r.as_dict() for r in rows]}
        if not policy.empty:
            payload["policy"] = show.policy_json(policy)
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        click.echo(table(rows) + show.policy_text(policy), nl=False)
    raise CliExit(ExitCode.OK)
