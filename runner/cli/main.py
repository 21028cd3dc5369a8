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
from runner.cli.commands import COMMANDS
from runner.cli.errors import CliExit
from runner.exitcodes import ExitCode

ARGV_KEY = "callprofile.argv"
CRASH_HOOK = "CALLPROFILE_TEST_CRASH"  # tests only: raise an internal error in the command


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
        from runner.cli.global_options import add_to

        module = importlib.import_module(spec[0])
        return add_to(getattr(module, spec[1]))

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
            _document(ctx, done.code)
            ctx.exit(done.code)
        except click.exceptions.Exit:
            raise
        except click.ClickException as exc:
            from runner.cli.document import CODE_USAGE
            from runner.diagnostics import Diagnostic
            from runner.secrets import scrub
            from runner.textsafety import escape_controls

            # click quotes arguments in its messages ("unexpected extra argument (...)"): one
            # may be a secret typed in the wrong place, or hold control characters.
            setattr(exc, "message", escape_controls(scrub(exc.message)))  # noqa: B010 (Final)

            hint = getattr(exc, "param_hint", None) or getattr(
                getattr(exc, "param", None), "name", None
            )
            origin = hint if isinstance(hint, str) else "command line"
            _document(
                ctx, exc.exit_code, [Diagnostic(exc.format_message(), CODE_USAGE, origin=origin)]
            )
            raise
        except (click.exceptions.Abort, KeyboardInterrupt):
            from runner.cli.document import CODE_INTERRUPTED
            from runner.diagnostics import Diagnostic

            click.echo("interrupted", err=True)
            _document(ctx, ExitCode.INTERRUPTED, [Diagnostic("interrupted", CODE_INTERRUPTED)])
            ctx.exit(ExitCode.INTERRUPTED)
        except BrokenPipeError:
            from runner.cli.pipes import closed

            closed()
        except Exception as exc:
            from runner.diagnostics import ProfileError

            if isinstance(exc, ProfileError):
                from runner.cli.advice import advise_all
                from runner.cli.output import print_diagnostics

                print_diagnostics(exc.diagnostics)
                _document(ctx, ExitCode.INVALID, advise_all(exc.diagnostics))
                ctx.exit(ExitCode.INVALID)
            log = write_crash_log(["callprofile", *ctx.meta.get(ARGV_KEY, sys.argv[1:])])
            message = f"internal error ({type(exc).__name__}); this is a bug. Details: {log}"
            click.echo(f"callprofile: {message}", err=True)
            from runner.cli.document import CODE_INTERNAL
            from runner.diagnostics import Diagnostic

            _document(ctx, ExitCode.INTERNAL, [Diagnostic(message, CODE_INTERNAL)])
            ctx.exit(ExitCode.INTERNAL)


def _document(ctx: click.Context, code: int, diagnostics: list[Any] | None = None) -> None:
    """With -o json, the command's one document, if it did not print it itself."""
    from runner.cli.document import fallback

    try:
        fallback(ctx, code, diagnostics or [])
    except BrokenPipeError:
        from runner.cli.pipes import closed

        closed()


def write_crash_log(argv: list[str] | None = None) -> str:
    """Write the current traceback, with secrets scrubbed, and return the file's path."""
    # Imported here: traceback costs ~10 ms, and only a crash needs it.
    import traceback

    try:
        from runner.cli.crashlog import write

        return write(traceback.format_exc(), argv)
    except Exception:  # the crash handler itself must never add a second traceback
        return "(could not write a log)"


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callprofile")
@click.pass_context
def cli(ctx: click.Context, profiles_dir: str) -> None:
    """Place Telnyx AI calls from named, version-controlled YAML profiles."""
    ctx.obj = {"profiles_dir": profiles_dir}


def _add_root_options() -> None:
    from runner.cli.global_options import root_options

    # After --version (click lists the options in the order of cli.params).
    cli.params.extend(root_options())


_add_root_options()


def main() -> None:
    cli.main(prog_name="callprofile")
