"""``--sandbox`` for the commands that send (run, batch): one set of options, one set of rules.

The sandbox gets a dummy key, never the user's: nothing leaves the machine and no key is
needed to try a profile or a whole contacts file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

# Sent to the sandbox instead of the real key, which never leaves for a local server.
SANDBOX_KEY = "KEY-sandbox-not-a-real-key"


def sandbox_options(func: Callable[..., Any]) -> Callable[..., Any]:
    decorators = [
        click.option(
            "--sandbox",
            is_flag=True,
            help="Send to a local sandbox started for this command (no account, no key, no "
            "phone rings).",
        ),
        click.option(
            "--sandbox-script",
            type=click.Path(dir_okay=False),
            help="With --sandbox: scripted answers (JSON/YAML list) to rehearse failures.",
        ),
        click.option(
            "--sandbox-log",
            type=click.Path(dir_okay=False),
            help="With --sandbox: append what the sandbox received to this JSON-lines file.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def check_usage(
    ctx: click.Context,
    *,
    sandbox: bool,
    script: str | None,
    log: str | None,
    dry_run: bool,
    base_url: str | None,
) -> None:
    if (script or log) and not sandbox:
        raise click.UsageError("--sandbox-script and --sandbox-log need --sandbox")
    if sandbox and dry_run:
        raise click.UsageError("--sandbox and --dry-run do not go together")
    from_command_line = (
        ctx.get_parameter_source("base_url") == click.core.ParameterSource.COMMANDLINE
    )
    if sandbox and base_url and from_command_line:
        raise click.UsageError("--sandbox and --base-url do not go together")


def steps(path: str | None) -> list[Any]:
    """The scripted answers in ``path``; a script that cannot be read is an error (exit 1)."""
    if not path:
        return []
    from runner.cli.errors import CliExit
    from runner.cli.output import error
    from runner.exitcodes import ExitCode
    from runner.sandbox import ScriptError, load_script

    try:
        return load_script(path)
    except ScriptError as exc:
        error(f"{exc} (nothing was sent)")
        raise CliExit(ExitCode.INVALID) from None


@contextmanager
def running(
    script: list[Any],
    log: str | None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    secrets: list[str] | None = None,
) -> Iterator[Any]:
    """A sandbox on a free loopback port for the length of the block; its start and stop are
    announced on stderr."""
    from runner.sandbox import Sandbox

    server = Sandbox(script=script, log_path=log, on_record=on_record, secrets=secrets or [])
    server.start()
    click.echo(f"sandbox: listening on {server.url} (nothing leaves this machine)", err=True)
    try:
        yield server
    finally:
        server.stop()
        click.echo(f"sandbox: received {server.post_count} call request(s); stopped", err=True)
