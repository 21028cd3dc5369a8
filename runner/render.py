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

from runner.diagnostics import Diagnostic
from runner.merge import Layer, Path, Provenance, origin_of

CODE_SYNTAX = "CP201"
CODE_UNDECLARED = "CP202"
CODE_REQUIRED = "CP203"
CODE_RUNTIME = "CP204"

MAX_RENDERED = 100_000  # characters in one rendered value
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
        _environment = _make_environment()
    return _environment


def _too_long(what: str = "value") -> Exception:
    from jinja2.exceptions import SecurityError

    return SecurityError(f"a template built a {what} longer than {MAX_RENDERED} characters")


def _capped(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > MAX_RENDERED:
        raise _too_long()
    return value


def _check_ints(values: Any) -> None:
    """Refuse integer arguments past the cap: widths, counts and sizes (``ljust(10**9)``)."""
    from jinja2.exceptions import SecurityError

    for value in values:
        if isinstance(value, (tuple, list)):
            _check_ints(value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_RENDERED:
            raise SecurityError(f"a number larger than {MAX_RENDERED} as an argument is refused")


# Widths and precisions: "%-99999999.5s" and "{0:>99999999}" ("{:{w}}" gets w from the
# arguments, which are checked as integers).
_PERCENT_SPEC = re.compile(r"%[-+ #0]*([0-9]*)(?:\.([0-9]*))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_DIGITS = re.compile(r"[0-9]+")


def _check_format(text: Any) -> None:
    """Refuse format strings whose widths or precisions pass the cap (``'%99999999s'``)."""
    from jinja2.exceptions import SecurityError

    if not isinstance(text, str):
        return
    numbers = [n for m in _PERCENT_SPEC.finditer(text) for n in m.groups() if n]
    numbers += [n for m in _BRACE_SPEC.finditer(text) for n in _DIGITS.findall(m.group(1))]
    if any(len(n) > 6 or int(n) > MAX_RENDERED for n in numbers):
        raise SecurityError(f"a format width larger than {MAX_RENDERED} is refused")


_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")
# Filters whose integer arguments are sizes or counts (the rest take values, e.g. format).
_SIZED_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})


def _widths_from_arguments(text: Any) -> bool:
    """True when a format string takes a width or precision from its arguments: ``%*s``,
    ``{:{w}}``."""
    return isinstance(text, str) and ("*" in text or _NESTED_SPEC.search(text) is not None)


def _mapping_values(args: Any) -> list[Any]:
    return [v for a in args if isinstance(a, dict) for v in a.values()]


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    """Refuse a replace whose result would pass the cap, before building it."""
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * max(len(new) - len(old), 0) > MAX_RENDERED:
        raise _too_long()


def _check_join(separator: Any, items: Any) -> Any:
    """Refuse a join whose separators alone would pass the cap; returns the items as a list."""
    items = list(items)
    if isinstance(separator, str) and len(separator) * max(len(items) - 1, 0) > MAX_RENDERED:
        raise _too_long()
    return items


# Template constructs that loop or recurse. Without them a template's work is bounded by its
# length times the value cap; with them one line can run for hours (nested range loops) or
# recurse until the interpreter gives up (a macro calling itself, ``self.block()``).
_REFUSED_NODES = {
    "For": "loops ({% for %})",
    "Macro": "macros",
    "CallBlock": "call blocks",
    "Block": "blocks",
    "Extends": "extends",
    "Include": "includes",
    "Import": "imports",
    "FromImport": "imports",
}


def refused_construct(ast: Any) -> str | None:
    """What the parsed template uses that profile templates may not, or None."""
    from jinja2 import nodes

    for node in ast.find_all(nodes.Stmt):
        what = _REFUSED_NODES.get(type(node).__name__)
        if what is not None:
            return what
    return None


def _make_environment() -> Any:
    import functools

    from jinja2 import StrictUndefined, nodes
    from jinja2.runtime import Context
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        # Multiplication, powers and %-formatting are the cheap ways to build a huge value.
        intercepted_binops = frozenset({"*", "**", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**":
                ints = isinstance(left, int) and isinstance(right, int)
                if ints and (abs(right) > 64 or left.bit_length() * abs(right) > 4096):
                    from jinja2.exceptions import SecurityError

                    raise SecurityError("that power is too large for a template")
                return left**right
            if operator == "%":
                if isinstance(left, str):
                    _check_format(left)
                    if _widths_from_arguments(left):
                        _check_ints(right if isinstance(right, (tuple, list)) else [right])
                return _capped(left % right)
            if isinstance(left, int) and isinstance(right, (str, list, tuple)):
                left, right = right, left
            sequence = isinstance(left, (str, list, tuple)) and isinstance(right, int)
            if sequence and len(left) * right > MAX_RENDERED:
                raise _too_long()
            return _capped(left * right)

        def wrap_str_format(self, value: Any) -> Any:
            # Jinja wraps str.format when the attribute is read; check the widths there.
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            _check_format(value.__self__)
            if not _widths_from_arguments(value.__self__):
                return wrapped

            def checked(*args: Any, **kwargs: Any) -> Any:
                _check_ints([*args, *kwargs.values(), *_mapping_values(args)])
                return wrapped(*args, **kwargs)

            return checked

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            # Every call a template makes (methods included) passes here. Only string methods
            # take sizes (ljust, center, zfill, expandtabs); range() is capped by the sandbox.
            owner = getattr(obj, "__self__", None)
            if isinstance(owner, str):
                name = getattr(obj, "__name__", "")
                if name in ("format", "format_map"):
                    _check_format(owner)
                    if _widths_from_arguments(owner):
                        _check_ints([*args, *kwargs.values(), *_mapping_values(args)])
                else:
                    _check_ints([*args, *kwargs.values()])
                if name == "replace":
                    _check_replace(owner, *args[:3])
                elif name == "join" and args:
                    args = (_check_join(owner, args[0]), *args[1:])
            return _capped(super().call(context, obj, *args, **kwargs))

    env = Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    # lipsum(100000) spends seconds building megabytes of text; profiles have no use for it.
    env.globals.pop("lipsum", None)

    def guard(name: str, original: Any) -> Any:
        @functools.wraps(original)  # keeps Jinja's pass_context/pass_environment marker
        def guarded(*args: Any, **kwargs: Any) -> Any:
            skip = 0
            while skip < len(args) and isinstance(
                args[skip], (Context, nodes.EvalContext, ImmutableSandboxedEnvironment)
            ):
                skip += 1
            values = list(args[skip:])
            sized = name in _SIZED_FILTERS
            if sized or (name == "format" and values and _widths_from_arguments(values[0])):
                _check_ints([*values[1:], *kwargs.values()])
            if name == "replace" and len(values) >= 3:
                _check_replace(*values[:3], *(values[3:4] or [kwargs.get("count")]))
            elif name == "format" and values:
                _check_format(values[0])
            elif name == "join" and values:
                sep = values[1] if len(values) > 1 else kwargs.get("d", "")
                values[0] = _check_join(sep, values[0])
                args = (*args[:skip], *values)
            elif name == "indent" and values:
                width = values[1] if len(values) > 1 else kwargs.get("width", 4)
                lines = str(values[0]).count("\n") + 1
                if isinstance(width, str) and len(width) * lines > MAX_RENDERED:
                    raise _too_long()
            elif name == "wordwrap" and values:
                wrap = values[3] if len(values) > 3 else kwargs.get("wrapstring")
                if isinstance(wrap, str) and len(wrap) * len(str(values[0])) > MAX_RENDERED:
                    raise _too_long()
            return _capped(original(*args, **kwargs))

        return guarded

    for name, original in list(env.filters.items()):
        env.filters[name] = guard(name, original)
    return env


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
