from __future__ import annotations

import json

import click

from runner.cli.options import store_from
from runner.cli.output import piece, safe_json


@click.command(name="list")
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def list_profiles(ctx: click.Context, output: str) -> None:
    """List every profile with its description; abstract ones are marked."""
    from runner.review.catalog import catalog

    entries = catalog(store_from(ctx))
    if output == "json":
        click.echo(safe_json(json.dumps(entries, indent=2, ensure_ascii=False)))
        return
    if not entries:
        click.echo(f"no profiles in {store_from(ctx).root}", err=True)
        return
    width = max(len(e["name"]) for e in entries)
    for entry in entries:
        mark = "(abstract)" if entry["abstract"] else ""
        if entry.get("error"):
            mark = "(invalid: run 'callprofile validate')"
        text = " ".join(part for part in (piece(entry["description"]), mark) if part)
        click.echo(f"{entry['name']:<{width}}  {text}".rstrip())
