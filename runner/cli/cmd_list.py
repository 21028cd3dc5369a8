from __future__ import annotations

import click

from runner.cli.document import emit, output_option
from runner.cli.options import store_from


@click.command(name="list")
@output_option("text", "json")
@click.pass_context
def list_profiles(ctx: click.Context, output: str) -> None:
    """List every profile with its description; abstract ones are marked."""
    from runner.review.catalog import catalog

    store = store_from(ctx)
    if not store.root.is_dir():
        from runner import codes
        from runner.diagnostics import Diagnostic, ProfileError

        raise ProfileError(
            [
                Diagnostic(
                    f"profiles directory {store.display(store.root)!r} does not exist (set it "
                    "with --profiles-dir or CALLPROFILE_DIR)",
                    codes.NO_PROFILE,
                    origin="--profiles-dir",
                )
            ]
        )
    entries = catalog(store)
    if output == "json":
        emit(0, {"profiles": entries})
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
