from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from runner.cli.document import emit, note, output_option
from runner.cli.errors import CliExit
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.review.validate import Report


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@output_option(
    "auto",
    "text",
    "json",
    "github",
    "sarif",
    default="auto",
    aliases=("--format",),
    help="Output format; auto is github when GITHUB_ACTIONS is set, else text. sarif: SARIF "
    "2.1.0 for GitHub code scanning.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--no-lint", is_flag=True, help="Skip the lint rules (CP4xx).")
@click.option("--list-rules", is_flag=True, help="Print the lint rule table and exit.")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Exit 0 when no profile is found (by default that is an error: a wrong directory).",
)
@click.option("-v", "--verbose", is_flag=True, help="Print the notes even when all is clean.")
@click.pass_context
def validate(
    ctx: click.Context,
    paths: tuple[str, ...],
    output: str,
    strict: bool,
    no_lint: bool,
    list_rules: bool,
    allow_empty: bool,
    verbose: bool,
) -> None:
    """Check every profile (or the named files) and print path:line:col: severity: message.

    Checks YAML syntax, duplicate keys, the profile schema, the extends graph, templates, the
    lint rules (see --list-rules) and, for each profile that is not abstract, a full render with
    declared defaults and example values, validated against the request schema. Findings go to
    stdout, sorted by file and line; the summary goes to stderr. Exit 0 when clean, 1 when any
    error is found (or any warning, with --strict).
    """
    from runner.review import reporters

    fmt = output
    if fmt == "auto":
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") else "text"
    if list_rules:
        _print_rules(fmt)
        raise CliExit(ExitCode.OK)

    from runner.cli.advice import advise_all
    from runner.cli.options import store_from
    from runner.review.validate import validate_profiles

    report = validate_profiles(
        store_from(ctx), list(paths), lint=not no_lint, allow_empty=allow_empty
    )
    findings = advise_all(report.diagnostics)
    if fmt == "text":
        from runner.cli.colour import painter

        click.echo(reporters.plain(findings, painter()), nl=False)
    elif fmt == "sarif":
        from runner.review.sarif import sarif

        # A whole-profile finding is placed on its profile's file (code scanning shows only
        # results with a location); advice rewrites messages, so match by position.
        files = {
            new: report.files[old]
            for old, new in zip(report.diagnostics, findings, strict=True)
            if old in report.files
        }
        click.echo(sarif(findings, files.get), nl=False)
    elif fmt != "json":
        click.echo(reporters.FORMATS[fmt](findings), nl=False)
    # Notes explain stand-ins; on a clean run they are noise unless asked for.
    _notes(report, show=verbose or bool(report.diagnostics))
    click.echo(
        f"{report.checked} profile(s) checked: {report.errors} error(s), "
        f"{report.warnings} warning(s)",
        err=True,
    )
    failed = report.errors or (strict and report.warnings)
    code = ExitCode.INVALID if failed else ExitCode.OK
    if fmt == "json":
        counts = {"checked": report.checked, "errors": report.errors, "warnings": report.warnings}
        emit(code, counts, findings)
    raise CliExit(code)


def _notes(report: Report, show: bool) -> None:
    from runner.review.standins import PLACEHOLDER_TO

    dependents = report.dependents
    if dependents:
        note(f"also checked {_names(dependents)} extending the named files", show=show)
    placeholder = report.placeholder_to
    examples = report.examples
    if placeholder:
        note(
            f"no To in {_names(placeholder)}; rendered with the placeholder "
            f"{PLACEHOLDER_TO} (the real number comes from --to)",
            show=show,
        )
    for var, users in report.env_stand_ins.items():
        note(
            f"environment variable {var} is not set here; {_names(users)} rendered with a "
            "stand-in (set it where run and batch run)",
            show=show,
        )
    if examples:
        note(
            f"variables given no value in {_names(examples)} were rendered with stand-ins "
            "(each variable's 'example', else example-NAME)",
            show=show,
        )


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"{len(names)} profile(s) ({shown}{more})"


def _print_rules(fmt: str) -> None:
    from runner.review.lint import RULES, rule_table

    table = rule_table(RULES)
    if fmt == "json":
        emit(ExitCode.OK, {"rules": table})
        return
    width = max(len(r["summary"]) for r in table)
    for row in table:
        click.echo(f"{row['code']}  {row['severity']:<7}  {row['summary']:<{width}}  {row['why']}")
