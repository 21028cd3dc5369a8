from __future__ import annotations

import click


@click.command()
@click.argument("which", type=click.Choice(["request", "profile"]), default="request")
def schema(which: str) -> None:
    """Print the JSON Schema for the request body or for profile files."""
    from runner.schema import files as schemas

    name = schemas.REQUEST if which == "request" else schemas.PROFILE
    click.echo(schemas.schema_text(name), nl=False)
