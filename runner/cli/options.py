"""Options shared by the commands that build a request (run, render, explain, batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from runner import codes
from runner.profiles.overrides import Overrides, SetKind

_SET_FLAGS: dict[str, SetKind] = {"--set": "set", "--set-json": "set-json"}


class OrderedCommand(click.Command):
    """Keeps the raw arguments so ``--set`` and ``--set-json`` can apply in the order given.

    click collects each option's values separately; the relative order of two different options
    is only visible in the raw arguments.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["callprofile.raw_args"] = list(args)
        return super().parse_args(ctx, args)


def _set_order(raw: list[str]) -> list[SetKind]:
    kinds: list[SetKind] = []
    skip = False
    for token in raw:
        if skip:
            skip = False
            continue
        if token == "--":
            break
        if token in _SET_FLAGS:
            kinds.append(_SET_FLAGS[token])
            skip = True
            continue
        name = token.split("=", 1)[0]
        if name in _SET_FLAGS and "=" in token:
            kinds.append(_SET_FLAGS[name])
    return kinds


def ordered_sets(
    ctx: click.Context, sets: tuple[str, ...], set_jsons: tuple[str, ...]
) -> list[tuple[SetKind, str]]:
    kinds = _set_order(ctx.meta.get("callprofile.raw_args", []))
    if kinds.count("set") != len(sets) or kinds.count("set-json") != len(set_jsons):
        # Could not read the order (an unusual spelling): fall back to --set, then --set-json.
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


CODE_NUMBER = codes.BAD_PHONE_FLAG


def phone_flag(flag: str, value: str | None) -> str | None:
    """``--to``/``--from`` as E.164, by the same rule as contacts (``+1 (613) 555-0199`` is
    ``+16135550199``); a value that is no usable number is an error showing it as given."""
    if value is None:
        return None
    from runner.diagnostics import Diagnostic, ProfileError
    from runner.phone import NumberError, normalise

    try:
        return normalise(value)
    except NumberError as exc:
        raise ProfileError([Diagnostic(str(exc), CODE_NUMBER, origin=flag)]) from None


def overrides_from(ctx: click.Context, params: dict[str, Any]) -> Overrides:
    return Overrides(
        values_files=list(params.pop("values_files")),
        sets=ordered_sets(ctx, params.pop("sets"), params.pop("set_jsons")),
        to=phone_flag("--to", params.pop("to")),
        from_=phone_flag("--from", params.pop("from_")),
        connection_id=params.pop("connection_id"),
        vars_files=list(params.pop("vars_files")),
        vars=list(params.pop("vars")),
    )


def store_from(ctx: click.Context) -> Any:
    from runner.cli.global_options import profiles_dir
    from runner.profiles.store import Store

    return Store(profiles_dir(ctx))


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
