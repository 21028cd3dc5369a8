"""Entry point and the root command group.

Commands are imported only when they run, so ``callprofile --help`` stays fast, and every command
shares one error policy: problems the user can fix print as diagnostics with exit 1, bugs print
one line and the path of a log with the traceback (exit 3), Ctrl-C exits 130.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from runner import __version__
from runner.exitcodes import ExitCode

# name -> (module, function, one-line help). The help is here so --help imports nothing.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("runner.cli.cmd_run", "run", "Validate a profile and place the call."),
    "render": ("runner.cli.cmd_render", "render", "Print the final connection id and request."),
    "list": ("runner.cli.cmd_list", "list_profiles", "List profiles with their descriptions."),
    "validate": ("runner.cli.cmd_validate", "validate", "Check profiles; print file:line:col."),
    "diff": ("runner.cli.cmd_diff", "diff", "Show how a change alters each effective request."),
    "init": ("runner.cli.cmd_init", "init", "Scaffold a profiles repository (hooks, CI)."),
    "explain": ("runner.cli.cmd_explain", "explain", "Show where each request field came from."),
    "schema": ("runner.cli.cmd_schema", "schema", "Print the request or profile JSON Schema."),
    "sandbox": ("runner.cli.cmd_sandbox", "sandbox", "Serve a local Telnyx-compatible endpoint."),
    "batch": ("runner.cli.cmd_batch", "batch", "Call every contact in a file, each exactly once."),
    "batch-status": ("runner.cli.cmd_batch_status", "batch_status", "Summarise a batch ledger."),
}


class CliExit(Exception):
    """Raised by commands to end with a code after printing their own output."""

    def __init__(self, code: int):
        self.code = int(code)


ARGV_KEY = "callprofile.argv"


class RootGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV_KEY] = list(args)  # the command line as given, for a crash log
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        return getattr(module, spec[1])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            if os.environ.get(CRASH_HOOK):
                # A bug on demand, so the crash handler can be tested through the CLI; the
                # message quotes the command line as a careless exception message would.
                import json

                argv = ctx.meta.get(ARGV_KEY, [])
                raise RuntimeError(f"{CRASH_HOOK}: {argv!r} {json.dumps(argv)}")
            return super().invoke(ctx)
        except CliExit as done:
            ctx.exit(done.code)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except Exception as exc:
            from runner.diagnostics import ProfileError

            if isinstance(exc, ProfileError):
                from runner.cli.output import print_diagnostics

                print_diagnostics(exc.diagnostics)
                ctx.exit(ExitCode.INVALID)
            log = write_crash_log(["callprofile", *ctx.meta.get(ARGV_KEY, sys.argv[1:])])
            click.echo(
                f"callprofile: internal error ({type(exc).__name__}); this is a bug. "
                f"Details: {log}",
                err=True,
            )
            ctx.exit(ExitCode.INTERNAL)


CRASH_HOOK = "CALLPROFILE_TEST_CRASH"  # tests only: raise an internal error in the command


def write_crash_log(argv: list[str] | None = None) -> str:
    """Write the current traceback, with secrets scrubbed, and return the file's path."""
    # Imported here: traceback costs ~10 ms, and only a crash needs it.
    import traceback

    try:
        from runner.crashlog import write

        return write(traceback.format_exc(), argv)
    except Exception:  # the crash handler itself must never add a second traceback
        return "(could not write a log)"


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callprofile")
@click.option(
    "--profiles-dir",
    type=click.Path(file_okay=False),
    envvar="CALLPROFILE_DIR",
    default="profiles",
    show_default=True,
    help="Directory holding the profiles (env: CALLPROFILE_DIR).",
)
@click.pass_context
def cli(ctx: click.Context, profiles_dir: str) -> None:
    """Place Telnyx AI calls from named, version-controlled YAML profiles."""
    ctx.obj = {"profiles_dir": profiles_dir}


def main() -> None:
    cli.main(prog_name="callprofile")
