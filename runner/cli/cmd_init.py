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
    from runner.review.install_source import installed

    target = Path(directory)
    source = installed()
    try:
        written = scaffold.write(target, source)
    except FileExistsError as exc:
        clash = exc.args[0]
        error(
            f"refusing to overwrite existing file(s) in {target}: {', '.join(clash)}; "
            "nothing was written"
        )
        raise CliExit(ExitCode.INVALID) from None
    for rel in written:
        click.echo(f"created {target / rel}")
    if source.local:
        click.echo(
            f"callprofile: warning: this callprofile was installed from {source.requirement!r}, "
            f"a path CI cannot reach; edit {target / scaffold.REQUIREMENTS_PATH} to name a git "
            "URL or a package index before the first pull request",
            err=True,
        )
    click.echo(
        "next: git init (if needed), pre-commit install, then callprofile validate", err=True
    )
    raise CliExit(ExitCode.OK)
