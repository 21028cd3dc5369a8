from __future__ import annotations

import click

from runner.cli.document import emit, output_option
from runner.cli.errors import CliExit
from runner.cli.options import complete
from runner.exitcodes import ExitCode


@click.command()
@click.argument("names", nargs=-1, shell_complete=complete("profile_names"))
@click.option(
    "--base",
    "base",
    default="HEAD",
    show_default=True,
    metavar="REV",
    help="Git revision to compare with (like git diff: HEAD, so uncommitted edits show).",
)
@output_option("text", "markdown", "json", aliases=("--format",))
@click.option("--exit-code", is_flag=True, help="Exit 1 when any profile changed.")
@click.pass_context
def diff(
    ctx: click.Context, names: tuple[str, ...], base: str, output: str, exit_code: bool
) -> None:
    """Show what changes in each profile's effective request between git revision REV and the
    work tree (or only in the NAMEd profiles).

    A change to a fragment shows in every profile that extends it. The profiles directory at
    REV is the same path inside the repository as --profiles-dir now; it is read with git,
    without touching the work tree. Both sides render with defaults, example values and a
    placeholder To, like validate. Secrets show as ***.
    """
    from pathlib import Path

    from runner.cli.global_options import profiles_dir as chosen_dir
    from runner.profiles.store import Store
    from runner.review import requestdiff
    from runner.review.gitstore import GitError, TreeStore, locate, resolve

    profiles_dir = Path(chosen_dir(ctx))
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
    changed = any(d.status != "unchanged" for d in diffs)
    code = ExitCode.INVALID if exit_code and changed else ExitCode.OK
    if output == "json":
        emit(code, requestdiff.as_data(diffs, base))
        raise CliExit(code)
    from runner.secrets import scrub

    if output == "text":
        from runner.cli.colour import painter

        click.echo(scrub(requestdiff.text(diffs, base, painter())), nl=False)
    else:
        click.echo(scrub(requestdiff.FORMATS[output](diffs, base)), nl=False)
    raise CliExit(code)
