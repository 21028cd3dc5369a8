from __future__ import annotations

import click

from runner.cli.errors import CliExit
from runner.exitcodes import ExitCode


@click.command()
@click.argument("names", nargs=-1)
@click.option("--base", "base", required=True, metavar="REV", help="Git revision to compare with.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when any profile changed.")
@click.pass_context
def diff(ctx: click.Context, names: tuple[str, ...], base: str, fmt: str, exit_code: bool) -> None:
    """Show what changes in each profile's effective request between git revision REV and the
    work tree (or only in the NAMEd profiles).

    A change to a fragment shows in every profile that extends it. The profiles directory at
    REV is the same path inside the repository as --profiles-dir now; it is read with git,
    without touching the work tree. Both sides render with defaults, example values and a
    placeholder To, like validate. Secrets show as ***.
    """
    from pathlib import Path

    from runner.profiles.store import Store
    from runner.review import requestdiff
    from runner.review.gitstore import GitError, TreeStore, locate, resolve

    profiles_dir = Path(ctx.find_root().obj["profiles_dir"])
    try:
        top, rel = locate(profiles_dir)
        commit = resolve(top, base)
        before = TreeStore.at(top, commit, rel, base)
    except GitError as exc:
        raise click.BadParameter(str(exc), param_hint="'--base'") from None
    head = Store(profiles_dir)
    unknown = requestdiff.unknown_names(before, head, list(names))
    if unknown:
        raise click.BadParameter(
            f"no profile named {', '.join(map(repr, unknown))} at {base} or now",
            param_hint="'NAMES'",
        )
    from runner.cli.advice import advise

    diffs = requestdiff.diff_stores(
        before, head, list(names) or None, describe=lambda d: advise(d).text()
    )
    from runner.secrets import scrub

    click.echo(scrub(requestdiff.FORMATS[fmt](diffs, base)), nl=False)
    changed = any(d.status != "unchanged" for d in diffs)
    raise CliExit(ExitCode.INVALID if exit_code and changed else ExitCode.OK)
