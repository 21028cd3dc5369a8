from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from runner.cli.errors import CliExit
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.review.validate import Report


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "text", "json", "github", "sarif"]),
    default="auto",
    show_default=True,
    help="Output format; auto is github when GITHUB_ACTIONS is set, else text. sarif: SARIF "
    "2.1.0 for GitHub code scanning.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--no-lint", is_flag=True, help="Skip the lint rules (CP4xx).")
@click.option("--list-rules", is_flag=True, help="Print the lint rule table and exit.")
@click.option(
    "--profiles-dir",
    "profiles_dir",
    type=click.Path(file_okay=False),
    help="Same as the global option; here too so a pre-commit hook can pass it in 'args'.",
)
@click.pass_context
def validate(
    ctx: click.Context,
    paths: tuple[str, ...],
    fmt: str,
    strict: bool,
    no_lint: bool,
    list_rules: bool,
    profiles_dir: str | None,
) -> None:
    """Check every profile (or the named files) and print path:line:col: severity: message.

    Checks YAML syntax, duplicate keys, the profile schema, the extends graph, templates, the
    lint rules (see --list-rules) and, for each profile that is not abstract, a full render with
    declared defaults and example values, validated against the request schema. Findings go to
    stdout, sorted by file and line; the summary goes to stderr. Exit 0 when clean, 1 when any
    error is found (or any warning, with --strict).
    """
    from runner.review import reporters

    if fmt == "auto":
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") else "text"
    if list_rules:
        _print_rules(fmt)
        raise CliExit(ExitCode.OK)

    from pathlib import Path

    from runner.profiles.store import Store
    from runner.review.validate import validate_profiles

    root = profiles_dir or ctx.find_root().obj["profiles_dir"]
    report = validate_profiles(Store(Path(root)), list(paths), lint=not no_lint)
    from runner.cli.advice import advise_all

    shown = advise_all(report.diagnostics)
    if fmt == "sarif":
        from runner.review.sarif import sarif

        # A whole-profile finding is placed on its profile's file (code scanning shows only
        # results with a location); advice rewrites messages, so match by position.
        files = {
            new: report.files[old]
            for old, new in zip(report.diagnostics, shown, strict=True)
            if old in report.files
        }
        click.echo(sarif(shown, files.get), nl=False)
    else:
        click.echo(reporters.FORMATS[fmt](shown), nl=False)
    _notes(report)
    click.echo(
        f"{report.checked} profile(s) checked: {report.errors} error(s), "
        f"{report.warnings} warning(s)",
        err=True,
    )
    failed = report.errors or (strict and report.warnings)
    raise CliExit(ExitCode.INVALID if failed else ExitCode.OK)


def _notes(report: Report) -> None:
    from runner.review.standins import PLACEHOLDER_TO

    dependents = report.dependents
    if dependents:
        click.echo(f"note: also checked {_names(dependents)} extending the named files", err=True)
    placeholder = report.placeholder_to
    examples = report.examples
    if placeholder:
        click.echo(
            f"note: no To in {_names(placeholder)}; rendered with the placeholder "
            f"{PLACEHOLDER_TO} (the real number comes from --to)",
            err=True,
        )
    if examples:
        click.echo(
            f"note: variables given no value in {_names(examples)} were rendered with stand-ins "
            "(each variable's 'example', else example-NAME)",
            err=True,
        )


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"{len(names)} profile(s) ({shown}{more})"


def _print_rules(fmt: str) -> None:
    import json

    from runner.review.lint import RULES, rule_table

    table = rule_table(RULES)
    if fmt == "json":
        click.echo(json.dumps(table, indent=2))
        return
    width = max(len(r["summary"]) for r in table)
    for row in table:
        click.echo(f"{row['code']}  {row['severity']:<7}  {row['summary']:<{width}}  {row['why']}")
