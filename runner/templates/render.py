"""Render the string values that came from profile files as sandboxed Jinja templates.

Only values written in reviewed files are templates. Values that arrive at run time (``--var``,
``--set``, contact rows) are data: they reach templates as variables and are never compiled.
The environment is immutable and sandboxed, undefined names are errors, and operations that
could build huge values are capped, so a hostile profile fails fast with a clear message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from runner import codes
from runner.diagnostics import Diagnostic
from runner.profiles.merge import Layer, Path, Provenance, origin_of
from runner.templates.limits import MAX_VALUE, refused_construct

CODE_SYNTAX = codes.TEMPLATE_SYNTAX
CODE_UNDECLARED = codes.UNDECLARED_VARIABLE
CODE_RUNTIME = codes.TEMPLATE_RUNTIME

MAX_RENDERED = MAX_VALUE  # characters in one rendered value
ENV_PREFIX = "CALLPROFILE_"
BUILTINS = ("to", "from", "profile", "now", "env")
_MARKERS = ("{{", "{%", "{#")


def is_template(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


# The common template is text with ``{{ name }}`` placeholders. Such a template is rendered by
# substitution, without importing or compiling Jinja (~20 ms to import, ~0.5 ms a template);
# anything else (filters, blocks, other markers, any other '{', '\r', which Jinja normalises)
# goes to Jinja. A property test checks both give the same text.
_PLACEHOLDER = re.compile(r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\}\}")
# Names Jinja reads as constants, operators or its own objects rather than as variables.
_NOT_PLAIN = frozenset(
    {"true", "false", "none", "True", "False", "None", "not", "and", "or", "in", "is", "if"}
    | {"else", "self", "loop", "super", "caller", "varargs", "kwargs"}
)


def simple_parts(text: str) -> list[str] | None:
    """``text`` split into [literal, name, literal, name, ..., literal] when it holds only plain
    ``{{ name }}`` placeholders; None when Jinja is needed."""
    parts = _PLACEHOLDER.split(text)
    if any("{" in literal or "\r" in literal for literal in parts[::2]):
        return None
    if any(name in _NOT_PLAIN for name in parts[1::2]):
        return None
    return parts


def template_env() -> Mapping[str, str]:
    """The only environment variables templates can see: those starting with CALLPROFILE_."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


_environment = None


def environment() -> Any:
    global _environment
    if _environment is None:
        from runner.templates.limits import make_environment

        _environment = make_environment()
    return _environment


@dataclass
class Rendered:
    connection_id: Any
    call: dict[str, Any]
    sensitive: set[Path] = field(default_factory=set)  # paths whose template read ``env``
    rendered: set[Path] = field(default_factory=set)  # paths whose value a template produced
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class _Template:
    text: str
    layer: Layer
    path: Path
    ast: Any = None
    names: set[str] = field(default_factory=set)
    parts: list[str] | None = None  # set when the template is plain placeholders


def _where(layer: Layer, path: Path, lineno: int = 1) -> tuple[str, int | None, int | None]:
    file, line, col = layer.position(path)
    if line is not None and lineno > 1:
        span = layer.source.span(path) if layer.source else None
        block = span is not None and span.style is not None
        return file, line + lineno - 1 + (1 if block else 0), 1
    if line is not None and lineno == 1 and layer.source is not None:
        span = layer.source.span(path)
        if span is not None and span.style is not None:
            return file, line + 1, 1
    return file, line, col


def _diag(t: _Template, message: str, code: str, lineno: int = 1) -> Diagnostic:
    from runner.diagnostics import path_to_json

    file, line, col = _where(t.layer, t.path, lineno)
    return Diagnostic(message, code, file=file, line=line, col=col, json_path=path_to_json(t.path))


def collect(document: dict[str, Any], prov: Provenance) -> list[_Template]:
    """Every string value under ``connection_id`` and ``call`` that came from a file."""
    found: list[_Template] = []

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
        elif isinstance(value, str) and is_template(value):
            hit = origin_of(prov, path)
            if hit is not None and hit[0].is_template:
                found.append(_Template(value, hit[0], path))

    for key in ("connection_id", "call"):
        if key in document:
            walk(document[key], (key,))
    return found


def parse(templates: list[_Template], declared: set[str]) -> list[Diagnostic]:
    """Compile every template; report syntax errors and names the profile does not declare."""
    problems: list[Diagnostic] = []
    for t in templates:
        t.parts = simple_parts(t.text)
        if t.parts is not None:
            t.names = set(t.parts[1::2])
        else:
            from jinja2 import TemplateSyntaxError, meta

            try:
                t.ast = environment().parse(t.text)
            except TemplateSyntaxError as exc:
                problems.append(
                    _diag(t, f"template syntax error: {exc.message}", CODE_SYNTAX, exc.lineno or 1)
                )
                continue
            except RecursionError:
                problems.append(_diag(t, "template is nested too deeply", CODE_SYNTAX))
                continue
            refused = refused_construct(t.ast)
            if refused is not None:
                problems.append(
                    _diag(
                        t,
                        f"templates in profiles may not use {refused}: use expressions, "
                        "filters and {% if %}",
                        CODE_SYNTAX,
                    )
                )
                continue
            t.names = set(meta.find_undeclared_variables(t.ast))
        for name in sorted(t.names - declared - set(BUILTINS)):
            problems.append(
                _diag(
                    t,
                    f"template uses variable {name!r}, which this profile does not declare "
                    f"(add it under 'variables')",
                    CODE_UNDECLARED,
                )
            )
    return problems


def render(
    document: dict[str, Any],
    prov: Provenance,
    values: Mapping[str, str],
    *,
    profile: str,
    now: datetime | None = None,
    env: Mapping[str, str] | None = None,
) -> Rendered:
    """Render ``document``'s templates with ``values`` (the resolved variables)."""
    templates = collect(document, prov)
    declared = set((document.get("variables") or {}).keys())
    out = Rendered(document.get("connection_id"), dict(document.get("call") or {}))
    out.diagnostics.extend(parse(templates, declared))
    if out.diagnostics:
        return out
    context: dict[str, Any] = {
        "profile": profile,
        "now": now or datetime.now(timezone.utc),
        "env": dict(env if env is not None else template_env()),
        **values,
    }
    call = out.call

    def run(t: _Template) -> None:
        if t.parts is not None and all(isinstance(context.get(n), str) for n in t.names):
            text = "".join(context[part] if i % 2 else part for i, part in enumerate(t.parts))
            if len(text) > MAX_RENDERED:
                out.diagnostics.append(
                    _diag(
                        t, f"rendered value is longer than {MAX_RENDERED} characters", CODE_RUNTIME
                    )
                )
                return
            if "env" in t.names:
                out.sensitive.add(t.path)
            _assign(out, t.path, text)
            return
        from jinja2.exceptions import TemplateError

        try:
            if t.ast is None:
                t.ast = environment().parse(t.text)
            compiled = environment().from_string(t.ast)
            text = ""
            for chunk in compiled.generate(context):
                text += chunk
                if len(text) > MAX_RENDERED:
                    raise _TooLong()
        except _TooLong:
            out.diagnostics.append(
                _diag(t, f"rendered value is longer than {MAX_RENDERED} characters", CODE_RUNTIME)
            )
            return
        except TemplateError as exc:
            out.diagnostics.append(_diag(t, f"template error: {exc}", CODE_RUNTIME))
            return
        except RecursionError:
            out.diagnostics.append(_diag(t, "template error: nested too deeply", CODE_RUNTIME))
            return
        except MemoryError:
            out.diagnostics.append(_diag(t, "template error: out of memory", CODE_RUNTIME))
            return
        except (ArithmeticError, ValueError, TypeError, OverflowError) as exc:
            out.diagnostics.append(_diag(t, f"template error: {exc}", CODE_RUNTIME))
            return
        if "env" in t.names:
            out.sensitive.add(t.path)
        _assign(out, t.path, text)

    # To and From first: every other template may use the final numbers.
    first = [t for t in templates if t.path in (("call", "To"), ("call", "From"))]
    for t in first:
        run(t)
    context["to"] = call.get("To")
    context["from"] = call.get("From")
    for t in templates:
        if t not in first:
            run(t)
    return out


class _TooLong(Exception):
    pass


def _assign(out: Rendered, path: Path, value: str) -> None:
    out.rendered.add(path)
    if path == ("connection_id",):
        out.connection_id = value
        return
    parts = path[1:]
    # Copy containers on the way down so the merged document is never mutated.
    target: Any = out.call
    for part in parts[:-1]:
        child = target[part]
        child = dict(child) if isinstance(child, dict) else list(child)
        target[part] = child
        target = child
    target[parts[-1]] = value
