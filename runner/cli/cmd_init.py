from __future__ import annotations

import click

from runner.cli.errors import CliExit
from runner.exitcodes import ExitCode


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Scaffold a profiles repository in DIRECTORY (default: here).

    Writes an example profile and fragment carrying the yaml-language-server schema line, the
    profile schema they point at, a .pre-commit-config.yaml running validate, and a GitHub
    workflow that validates pull requests and comments with the diff. Existing files are never
    overwritten: if any target exists, nothing is written.
    """
    from pathlib import Path

    from runner.cli.output import error
    from runner.review import scaffold

    target = Path(directory)
    try:
        written = scaffold.write(target)
    except FileExistsError as exc:
        clash = exc.args[0]
        error(
            f"refusing to overwrite existing file(s) in {target}: {', '.join(clash)}; "
            "nothing was written"
        )
        raise CliExit(ExitCode.INVALID) from None
    for rel in written:
        click.echo(f"created {target / rel}")
    click.echo(
        "next: git init (if needed), pre-commit install, then callprofile validate", err=True
    )
    raise CliExit(ExitCode.OK)
