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
from runner.cli.errors import CliExit
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
    "plan": ("runner.cli.cmd_plan", "plan", "Freeze what a batch would do, for review."),
    "apply": ("runner.cli.cmd_apply", "apply", "Run exactly the calls a reviewed plan holds."),
    "can-call": (
        "runner.cli.cmd_can_call",
        "can_call",
        "Say whether a number may be called now, and why.",
    ),
    "batch-migrate": (
        "runner.cli.cmd_batch_migrate",
        "batch_migrate",
        "Copy batches to another ledger (e.g. PostgreSQL).",
    ),
    "batch-reconcile": (
        "runner.cli.cmd_batch_reconcile",
        "batch_reconcile",
        "Settle unknown rows from Telnyx's call list.",
    ),
    "listen": ("runner.cli.cmd_listen", "listen", "Receive, verify and record call callbacks."),
}


class RootGroup(click.Group):
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
            return super().invoke(ctx)
        except CliExit as done:
            _document(ctx, done.code)
            ctx.exit(done.code)
        except click.exceptions.Exit:
            raise
        except click.ClickException as exc:
            from runner.cli.document import CODE_USAGE
            from runner.diagnostics import Diagnostic

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
            log = write_crash_log()
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


def write_crash_log() -> str:
    """Write the current traceback, with secrets scrubbed, and return the file's path."""
    # Imported here: tempfile and traceback cost ~15 ms, and only a crash needs them.
    import tempfile
    import time
    import traceback

    from runner.secrets import scrub

    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    text = scrub(traceback.format_exc())
    for directory in (os.path.join(base, "callprofile"), tempfile.gettempdir()):
        try:
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(
                directory, f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
            )
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(f"callprofile {__version__}\n{' '.join(sys.argv)}\n\n{text}")
            return path
        except OSError:
            continue
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
