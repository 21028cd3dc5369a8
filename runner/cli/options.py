"""Options shared by the commands that build a request (run, render, explain, batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from runner.cli.flags import FLAG_ORIGINS as FLAG_ORIGINS
from runner.cli.flags import build_overrides
from runner.cli.flags import phone_flag as phone_flag
from runner.profiles.overrides import Overrides

if TYPE_CHECKING:
    from runner.cli.flags import SetKind
    from runner.profiles.store import Store

_SET_PARAMS: dict[str, SetKind] = {"sets": "set", "set_jsons": "set-json"}
_ORDER = "callprofile.set_order"


class OrderedCommand(click.Command):
    """Keeps the order in which ``--set`` and ``--set-json`` were given, so they apply in it.

    click collects each option's values separately; its parser also reports the options in the
    order they appeared (one entry per occurrence), which is kept here.
    """

    def make_parser(self, ctx: click.Context) -> Any:
        return _OrderKeeping(super().make_parser(ctx), ctx)


class _OrderKeeping:
    """click's parser, noting the order of ``--set``/``--set-json`` in ``ctx.meta``. click
    documents ``parse_args``'s third result as the parameters in command-line order, one entry
    per occurrence."""

    def __init__(self, parser: Any, ctx: click.Context):
        self._parser = parser
        self._ctx = ctx

    def parse_args(self, args: list[str]) -> Any:
        opts, rest, order = self._parser.parse_args(args=args)
        self._ctx.meta[_ORDER] = [_SET_PARAMS[p.name] for p in order if p.name in _SET_PARAMS]
        return opts, rest, order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def ordered_sets(
    ctx: click.Context, sets: tuple[str, ...], set_jsons: tuple[str, ...]
) -> list[tuple[SetKind, str]]:
    kinds: list[SetKind] = ctx.meta.get(_ORDER, [])
    if kinds.count("set") != len(sets) or kinds.count("set-json") != len(set_jsons):
        # Values that did not come from the command line (a default, an environment variable).
        return [("set", s) for s in sets] + [("set-json", s) for s in set_jsons]
    queues = {"set": list(sets), "set-json": list(set_jsons)}
    return [(kind, queues[kind].pop(0)) for kind in kinds]


def complete(hook: str) -> Callable[[click.Context, click.Parameter, str], list[Any]]:
    """A shell-completion hook from runner.cli.completion, imported only when completing."""

    def call(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from runner.cli import completion

        result: list[Any] = getattr(completion, hook)(ctx, param, incomplete)
        return result

    return call


def _apply(decorators: list[Callable[..., Any]], func: Callable[..., Any]) -> Callable[..., Any]:
    """Apply option decorators so they list in --help in the order written."""
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def override_options(func: Callable[..., Any]) -> Callable[..., Any]:
    decorators = [
        click.option(
            "-f",
            "--values",
            "values_files",
            multiple=True,
            type=click.Path(dir_okay=False),
            help="YAML file with connection_id/call values to lay over the profile (repeatable).",
        ),
        click.option(
            "--set",
            "sets",
            multiple=True,
            metavar="FIELD=VALUE",
            shell_complete=complete("field_names"),
            help="Set a request field (dotted path into call), typed by the schema.",
        ),
        click.option(
            "--set-json",
            "set_jsons",
            multiple=True,
            metavar="FIELD=JSON",
            shell_complete=complete("field_names"),
            help="Set a request field to a JSON value (lists, mappings; null removes).",
        ),
        click.option("--to", "to", metavar="E164", help="Number to call (sets To)."),
        click.option("--from", "from_", metavar="E164", help="Calling number (sets From)."),
        click.option(
            "--connection-id",
            "connection_id",
            help="TeXML connection id (else the profile's, else TELNYX_CONNECTION_ID).",
        ),
        click.option(
            "--var",
            "vars",
            multiple=True,
            metavar="NAME=VALUE",
            shell_complete=complete("variable_names"),
            help="Template variable value.",
        ),
        click.option(
            "--vars-file",
            "vars_files",
            multiple=True,
            type=click.Path(dir_okay=False),
            help="YAML/JSON mapping of variable values (repeatable; --var wins).",
        ),
    ]
    return _apply(decorators, func)


def overrides_from(ctx: click.Context, params: dict[str, Any]) -> Overrides:
    """The override flags as typed data (raises ProfileError, exit 1, for a bad value)."""
    return build_overrides(
        values_files=list(params.pop("values_files")),
        sets=ordered_sets(ctx, params.pop("sets"), params.pop("set_jsons")),
        to=params.pop("to"),
        from_=params.pop("from_"),
        connection_id=params.pop("connection_id"),
        vars_files=list(params.pop("vars_files")),
        vars=params.pop("vars"),
    )


def store_from(ctx: click.Context) -> Store:
    from pathlib import Path

    from runner.cli.global_options import profiles_dir
    from runner.profiles.store import Store

    return Store(Path(profiles_dir(ctx)))


def sending_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How requests are sent, shared by run and batch so both follow one retry policy."""
    decorators = [
        click.option(
            "--base-url",
            envvar="TELNYX_BASE_URL",
            default=None,
            help="API base URL (env: TELNYX_BASE_URL; default https://api.telnyx.com/v2).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.05),
            default=15.0,
            show_default=True,
            help="Seconds to wait for Telnyx's answer after sending (read timeout).",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(min=0),
            default=2,
            show_default=True,
            help="Retries for failures that never reached Telnyx, and for 429 (0 disables).",
        ),
        click.option("--show-secrets", is_flag=True, help="With --dry-run: print secret values."),
    ]
    return _apply(decorators, func)


# Options `batch` and `apply` share: both run rows through the batch machinery.
concurrency_option = click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=32),
    default=4,
    show_default=True,
    help="Requests in flight at once.",
)
redial_unknown_option = click.option(
    "--redial-unknown", is_flag=True, help="Call rows whose outcome is unknown again (logged)."
)
report_option = click.option(
    "--report", type=click.Path(dir_okay=False), help="Write each row's state as CSV."
)
