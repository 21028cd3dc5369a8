from __future__ import annotations

import click

from runner.cli.main import CliExit
from runner.cli.options import store_from
from runner.cli.output import print_diagnostics
from runner.exitcodes import ExitCode


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Check every profile (or the named files) and print path:line:col: severity: message.

    Checks YAML syntax, duplicate keys, the profile schema, the extends graph, templates and, for
    each profile that is not abstract, a full render with defaults and example values validated
    against the request schema. Exit 0 when clean, 1 when any error is found.
    """
    from runner.validate import validate_profiles

    report = validate_profiles(store_from(ctx), list(paths))
    print_diagnostics(report.diagnostics)
    errors = sum(1 for d in report.diagnostics if d.severity == "error")
    warnings = len(report.diagnostics) - errors
    click.echo(
        f"{report.checked} profile(s) checked: {errors} error(s), {warnings} warning(s)", err=True
    )
    raise CliExit(ExitCode.INVALID if errors else ExitCode.OK)
