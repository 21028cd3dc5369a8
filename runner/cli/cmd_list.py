from __future__ import annotations

import json

import click

from runner.cli.options import store_from


@click.command(name="list")
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def list_profiles(ctx: click.Context, output: str) -> None:
    """List every profile with its description; abstract ones are marked."""
    from runner.review.catalog import catalog

    store = store_from(ctx)
    if not store.root.is_dir():
        from runner.cli.main import CliExit
        from runner.cli.output import error
        from runner.exitcodes import ExitCode

        error(
            f"profiles directory {store.display(store.root)!r} does not exist (set it with "
            "--profiles-dir or CALLPROFILE_DIR) [CP011]"
        )
        raise CliExit(ExitCode.INVALID)
    entries = catalog(store)
    if output == "json":
        click.echo(json.dumps(entries, indent=2, ensure_ascii=False))
        return
    if not entries:
        click.echo(f"no profiles in {store.display(store.root)}", err=True)
        return
    width = max(len(e["name"]) for e in entries)
    for entry in entries:
        mark = "(abstract)" if entry["abstract"] else ""
        if entry.get("error"):
            mark = "(invalid: run 'callprofile validate')"
        text = " ".join(part for part in (entry["description"], mark) if part)
        click.echo(f"{entry['name']:<{width}}  {text}".rstrip())
