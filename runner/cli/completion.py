"""Shell completion (click's hooks): profile names, a profile's variables for ``--var``, and
request fields (then their allowed values) for ``--set``/``--set-json``.

Completion runs on every Tab, so each hook reads only what it needs and never fails: a broken
profile or directory completes nothing rather than printing an error into the user's prompt.
Install lines for bash, zsh and fish are in docs/guide/cli-usage.md.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem

from runner.cli.global_options import profiles_dir


def _store(ctx: click.Context) -> Any:
    from pathlib import Path

    from runner.profiles.store import Store

    return Store(Path(profiles_dir(ctx)))


def profile_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Every profile in the directory whose name starts with what was typed; fragments are
    marked (they cannot be run, but diff and validate take them)."""
    from runner.diagnostics import ProfileError

    store = _store(ctx)
    items = []
    try:
        names = store.names()
    except OSError:
        return []
    for name in names:
        if not name.startswith(incomplete):
            continue
        try:
            profile = store.load(name)
            help_text = profile.description or None
            if profile.abstract:
                help_text = f"(fragment) {help_text or ''}".strip()
        except (ProfileError, OSError):
            help_text = "(invalid)"
        items.append(CompletionItem(name, help=help_text))
    return items


def variable_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """``NAME=`` for each variable the profile (named earlier on the line) declares; after the
    ``=``, the variable's example."""
    # Typing "--var <Tab>" leaves that option without a value, and click's lenient parse then
    # keeps the profile name among the unassigned arguments.
    name = ctx.params.get("name") or next((a for a in ctx.args if not a.startswith("-")), None)
    if not name:
        return []
    from runner.diagnostics import ProfileError
    from runner.flow.compose import merged_document

    try:
        document, _, _ = merged_document(_store(ctx), name)
    except (ProfileError, OSError):
        return []
    declared = document.get("variables") or {}
    if "=" in incomplete:
        var, _, typed = incomplete.partition("=")
        spec = declared.get(var) or {}
        example = spec.get("example") if isinstance(spec, dict) else None
        if isinstance(example, str) and example.startswith(typed):
            return [CompletionItem(f"{var}={example}")]
        return []
    return [
        CompletionItem(
            f"{var}=", help=(spec or {}).get("description") if isinstance(spec, dict) else None
        )
        for var, spec in declared.items()
        if var.startswith(incomplete)
    ]


def field_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """``FIELD=`` for each request field; after the ``=``, the values the schema allows
    (an enum's, or true/false)."""
    from runner.schema import files as schemas

    if "=" in incomplete:
        field, _, typed = incomplete.partition("=")
        return [
            CompletionItem(f"{field}={value}")
            for value in _allowed(field, param.name == "set_jsons")
            if value.startswith(typed)
        ]
    fields = schemas.request_fields()
    properties = schemas.request_schema().get("properties", {})
    return [
        CompletionItem(f"{f}=", help=_summary(properties.get(f, {})))
        for f in fields
        if f.startswith(incomplete)
    ]


def _allowed(field: str, as_json: bool) -> list[str]:
    from runner.schema import files as schemas

    sub = schemas.sub_schema(schemas.request_schema(), tuple(field.split("."))) or {}
    values: list[str] = []
    if sub.get("type") == "boolean":
        values = ["true", "false"]
    for value in sub.get("enum", []):
        if isinstance(value, str):
            values.append(f'"{value}"' if as_json else value)
    return values


def _summary(schema: dict[str, Any]) -> str | None:
    text = schema.get("description")
    if not isinstance(text, str):
        return None
    first = text.strip().split(". ")[0]
    return first[:80]
