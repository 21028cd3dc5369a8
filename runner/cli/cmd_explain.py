from __future__ import annotations

import click

from runner.cli.document import emit, note, output_option
from runner.cli.errors import CliExit
from runner.cli.options import (
    OrderedCommand,
    complete,
    override_options,
    overrides_from,
    store_from,
)
from runner.cli.output import shown
from runner.exitcodes import ExitCode


@click.command(cls=OrderedCommand)
@click.argument("name", shell_complete=complete("profile_names"))
@override_options
@output_option("text", "json")
@click.option("--show-secrets", is_flag=True, help="Print secret values instead of ***.")
@click.pass_context
def explain(
    ctx: click.Context, name: str, output: str, show_secrets: bool, **params: object
) -> None:
    """Show, for every field of NAME's final request, its value, the file:line:col or flag
    that set it, and the values it overrode (most recent first). A campaign.policy follows:
    each setting with where it was set, and the built-in rules it turns on with citations;
    then a campaign.retry, each setting with where it was set.

    Inputs the call would need but were not given (--to, required variables) are filled like
    validate does (placeholder number, the variables' examples), and a note says so.
    """
    import os

    from runner.campaign import policy as campaign_policy
    from runner.campaign import retry as campaign_retry
    from runner.campaign import show
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
        note("no --to given; To is a placeholder number")
    if extra.examples or extra.invented:
        given = ", ".join([*extra.examples, *extra.invented])
        note(f"variables rendered with their example values: {given}")
    for var in extra.env_stand_ins:
        note(f"environment variable {var} is not set here; rendered with a stand-in")
    policy = campaign_policy.resolve(store, name)
    retry = campaign_retry.resolve(store, name)
    cap = policy.max_attempts
    cap_source = (cap, policy.source("max_attempts_per_24h")) if cap is not None else None
    if output == "json":
        fields = [r.as_dict() for r in rows]
        payload: dict[str, object] = {"profile": name, "fields": fields}
        if not policy.empty:
            payload["policy"] = show.policy_json(policy)
        if retry is not None:
            payload["retry"] = retry.as_dict()
        emit(ExitCode.OK, payload, reveal=show_secrets)
    else:
        text = table(rows, _terminal_width()) + show.policy_text(policy)
        text += campaign_retry.text(retry, cap_source)
        click.echo(shown(text, show_secrets), nl=False)
    raise CliExit(ExitCode.OK)


def _terminal_width() -> int | None:
    """The terminal's columns ($COLUMNS first, as the shell sets it); None (whole rows) when
    stdout is a file or a pipe, so grep and files get every value."""
    import shutil
    import sys

    if not sys.stdout.isatty():
        return None
    return max(20, shutil.get_terminal_size().columns)
