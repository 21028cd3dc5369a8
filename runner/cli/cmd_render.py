from __future__ import annotations

import click

from runner.cli.document import emit, output_option
from runner.cli.options import (
    OrderedCommand,
    complete,
    override_options,
    overrides_from,
    store_from,
)


@click.command(cls=OrderedCommand)
@click.argument("name", shell_complete=complete("profile_names"))
@override_options
@output_option("yaml", "json", default="yaml")
@click.option("--show-secrets", is_flag=True, help="Print secret values instead of ***.")
@click.pass_context
def render(
    ctx: click.Context, name: str, output: str, show_secrets: bool, **params: object
) -> None:
    """Print the final connection id and request body for profile NAME.

    The output (YAML, or the JSON document) is itself a valid values file (-f).
    """
    from runner.cli.answers import render_text, render_values
    from runner.flow.compose import compose

    request = compose(store_from(ctx), name, overrides_from(ctx, params)).request()
    values = render_values(request, show_secrets)
    if output == "json":
        emit(0, values, reveal=show_secrets)
        return
    click.echo(render_text(values, output, show_secrets))
