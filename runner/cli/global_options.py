"""Options that belong to the whole program, accepted before or after the subcommand.

``callprofile --profiles-dir D run x`` and ``callprofile run --profiles-dir D x`` mean the same:
users (and hook ``args``) put options after the command they type. Each command gets its own
copy of these options; whichever is given last on the command line wins, and both write to the
context's shared ``meta`` so every command (and shell completion, where the root callback does
not run) reads one value.
"""

from __future__ import annotations

from typing import Any

import click

PROFILES_DIR = "callprofile.profiles_dir"
NO_COLOR = "callprofile.no_color"
DEFAULT_PROFILES_DIR = "profiles"
PROFILES_DIR_HELP = "Directory holding the profiles (env: CALLPROFILE_DIR)."


def _remember_dir(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        ctx.meta[PROFILES_DIR] = value
    return value


def _remember_no_color(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        ctx.meta[NO_COLOR] = True
    return value


def root_options() -> list[click.Option]:
    """The root group's copies: the directory has its environment variable and default here."""
    return [
        click.Option(
            ["--profiles-dir"],
            type=click.Path(file_okay=False),
            envvar="CALLPROFILE_DIR",
            default=DEFAULT_PROFILES_DIR,
            show_default=True,
            callback=_remember_dir,
            help=PROFILES_DIR_HELP,
        ),
        click.Option(
            ["--no-color"],
            is_flag=True,
            callback=_remember_no_color,
            expose_value=False,
            help="Never colour the output (also: NO_COLOR set, or output not a terminal).",
        ),
    ]


def command_options() -> list[click.Option]:
    """A subcommand's copies: no default, so they change nothing unless given."""
    return [
        click.Option(
            ["--profiles-dir", "global_profiles_dir"],
            type=click.Path(file_okay=False),
            callback=_remember_dir,
            expose_value=False,
            help="Same as the global option (accepted before or after the command).",
        ),
        click.Option(
            ["--no-color", "global_no_color"],
            is_flag=True,
            callback=_remember_no_color,
            expose_value=False,
            help="Never colour the output.",
        ),
    ]


def add_to(command: click.Command) -> click.Command:
    """Give ``command`` the global options once (commands are module-level singletons)."""
    if getattr(command, "_callprofile_globals", False):
        return command
    taken = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for option in command_options():
        if not taken.intersection(option.opts):
            command.params.append(option)
    command._callprofile_globals = True  # type: ignore[attr-defined]
    return command


def profiles_dir(ctx: click.Context) -> str:
    return str(ctx.meta.get(PROFILES_DIR) or DEFAULT_PROFILES_DIR)


def no_color(ctx: click.Context | None) -> bool:
    return bool(ctx is not None and ctx.meta.get(NO_COLOR))
