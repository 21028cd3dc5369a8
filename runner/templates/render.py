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

from runner import codes
from runner.diagnostics import Diagnostic, path_to_json
from runner.profiles.merge import Layer, Path, Provenance, origin_of
from runner.templates import budget, failures
from runner.templates.limits import MAX_VALUE, refused_construct
from runner.treewalk import leaves

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from jinja2 import Template as Compiled
    from jinja2.nodes import Template as Parsed
    from jinja2.sandbox import ImmutableSandboxedEnvironment

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
_PLACEHOLDER = r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\}\}"  # compiled on first use
# Names Jinja reads as constants, operators or its own objects rather than as variables.
_NOT_PLAIN = frozenset(
    {"true", "false", "none", "True", "False", "None", "not", "and", "or", "in", "is", "if"}
    | {"else", "self", "loop", "super", "caller", "varargs", "kwargs"}
)


def simple_parts(text: str) -> list[str] | None:
    """``text`` split into [literal, name, literal, name, ..., literal] when it holds only plain
    ``{{ name }}`` placeholders; None when Jinja is needed."""
    parts = re.split(_PLACEHOLDER, text)
    if any("{" in literal or "\r" in literal for literal in parts[::2]):
        return None
    if any(name in _NOT_PLAIN for name in parts[1::2]):
        return None
    return parts


def template_env() -> Mapping[str, str]:
    """The only environment variables templates can see: those starting with CALLPROFILE_."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


_environment: ImmutableSandboxedEnvironment | None = None


def environment() -> ImmutableSandboxedEnvironment:
    global _environment
    if _environment is None:
        from runner.templates.limits import make_environment

        _environment = make_environment()
    return _environment


@dataclass
class Rendered:
    """The rendered values of one call, with which paths templates produced or read env for."""

    connection_id: Any
    call: dict[str, Any]
    sensitive: set[Path] = field(default_factory=set)  # paths whose template read ``env``
    rendered: set[Path] = field(default_factory=set)  # paths whose value a template produced
    diagnostics: list[Diagnostic] = field(default_factory=list)
    copied: set[Path] = field(default_factory=set)  # containers already copied for this call


@dataclass
class Template:
    """One template of a profile, parsed and compiled once, rendered for every call."""

    text: str
    layer: Layer
    path: Path
    names: frozenset[str] = frozenset()
    parts: list[str] | None = None  # set when the template is plain placeholders
    substitute: str | None = None  # ``parts`` as a str.format_map pattern (plain templates)
    ast: Parsed | None = None  # the parsed Jinja template, when it is not plain
    compiled: Compiled | None = None  # compiled at the first render, reused by every other
    # Found when the profile was composed, reported when a call would use the template:
    problems: list[Diagnostic] = field(default_factory=list)  # syntax, refused, undeclared
    failure: Diagnostic | None = None  # compiling failed (an unknown filter): a render error

    @property
    def reads_env(self) -> bool:
        return "env" in self.names


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


def _diag(t: Template, message: str, code: str, lineno: int = 1) -> Diagnostic:
    file, line, col = _where(t.layer, t.path, lineno)
    return Diagnostic(message, code, file=file, line=line, col=col, json_path=path_to_json(t.path))


def collect(document: dict[str, Any], prov: Provenance) -> list[Template]:
    """Every string value under ``connection_id`` and ``call`` that came from a file."""
    found: list[Template] = []
    for key in ("connection_id", "call"):
        if key not in document:
            continue
        for path, value in leaves(document[key], (key,)):
            if isinstance(value, str) and is_template(value):
                hit = origin_of(prov, path)
                if hit is not None and hit[0].is_template:
                    found.append(Template(value, hit[0], path))
    return found


def compile_templates(
    document: dict[str, Any], prov: Provenance, declared: set[str]
) -> list[Template]:
    """Collect, parse and compile every template of ``document`` once. Problems are kept on
    each template: a call that replaces the value (a per-call ``To``) never meets them."""
    templates = collect(document, prov)
    for t in templates:
        _parse(t, declared)
    return templates


def _parse(t: Template, declared: set[str]) -> None:
    t.parts = simple_parts(t.text)
    if t.parts is not None:
        t.names = frozenset(t.parts[1::2])
        # Literals hold no '{' (else Jinja renders it); a '}' is doubled for format_map.
        t.substitute = "".join(
            "{" + part + "}" if i % 2 else part.replace("}", "}}") for i, part in enumerate(t.parts)
        )
    else:
        from jinja2 import TemplateSyntaxError, meta

        try:
            ast = environment().parse(t.text)
        except TemplateSyntaxError as exc:
            message = f"template syntax error: {exc.message}"
            t.problems.append(_diag(t, message, codes.TEMPLATE_SYNTAX, exc.lineno or 1))
            return
        except RecursionError:
            t.problems.append(_diag(t, "template is nested too deeply", codes.TEMPLATE_SYNTAX))
            return
        except Exception as exc:  # a template that cannot be parsed is a syntax error
            message = f"template syntax error: {type(exc).__name__}: {exc}"[:300]
            t.problems.append(_diag(t, message, codes.TEMPLATE_SYNTAX))
            return
        refused = refused_construct(ast)
        if refused is not None:
            message = (
                f"templates in profiles may not use {refused}: use expressions, "
                "filters and {% if %}"
            )
            t.problems.append(_diag(t, message, codes.TEMPLATE_SYNTAX))
            return
        try:
            with failures.quiet():
                t.names = frozenset(meta.find_undeclared_variables(ast))
        except Exception as exc:  # Jinja folds constants here: '{{ (none)[0] ~ 1 }}' raises
            message = f"template error: {type(exc).__name__}: {exc}"[:300]
            t.problems.append(_diag(t, message, codes.TEMPLATE_RUNTIME))
            return
        t.ast = ast
    undeclared = sorted(t.names - declared - set(BUILTINS))
    if undeclared:
        from runner.schema.errors import did_you_mean

        known = sorted(declared | set(BUILTINS))
    for name in undeclared:
        hint = did_you_mean(name, known)
        advice = f"{hint} (else add it" if hint else " (add it"
        t.problems.append(
            _diag(
                t,
                f"template uses variable {name!r}, which this profile does not declare"
                f"{advice} under 'variables')",
                codes.UNDECLARED_VARIABLE,
            )
        )


def env_read(t: Template) -> set[str]:
    """The ``env`` names template ``t`` reads (``env.NAME``, ``env['NAME']``)."""
    if t.ast is None or not t.reads_env:
        return set()
    from runner.templates.envvars import names_read

    return names_read(t.ast)


def unset_env(templates: list[Template], env: Mapping[str, str] | None = None) -> list[Diagnostic]:
    """CP208 at each template that reads a ``CALLPROFILE_*`` variable that is not set: a batch
    checks this once, before any row, since it would fail every row alike."""
    from runner.templates import envvars

    env = env if env is not None else template_env()
    found: list[Diagnostic] = []
    for t in templates:
        for name in sorted(env_read(t)):
            if name.startswith(ENV_PREFIX) and name not in env:
                found.append(_diag(t, envvars.message(name), envvars.CODE_UNSET))
    return found


def _compile(t: Template) -> None:
    """Compile ``t`` once; a failure (a filter that does not exist) is kept and reported by
    every render, as Jinja would report it."""
    from jinja2.exceptions import TemplateError

    try:
        with failures.quiet():
            t.compiled = environment().from_string(t.ast if t.ast is not None else t.text)
    except TemplateError as exc:
        t.failure = _diag(t, f"template error: {exc}", codes.TEMPLATE_RUNTIME)
    except RecursionError:
        t.failure = _diag(t, "template error: nested too deeply", codes.TEMPLATE_RUNTIME)
    except Exception as exc:  # compiling is the template's own business: never a crash
        message = f"template error: {type(exc).__name__}: {exc}"[:300]
        t.failure = _diag(t, message, codes.TEMPLATE_RUNTIME)


def context_for(
    values: Mapping[str, str],
    *,
    profile: str,
    now: datetime | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The names a template can read: the built-ins and the variables' values."""
    from runner.templates.envvars import EnvVars

    return {
        "profile": profile,
        "now": now or datetime.now(timezone.utc),
        "env": EnvVars(env if env is not None else template_env()),
        **values,
    }


def render(
    templates: list[Template],
    document: dict[str, Any],
    context: dict[str, Any],
) -> Rendered:
    """Render ``templates`` (compiled from ``document``) for one call. ``context`` gains ``to``
    and ``from``. The document is not changed: containers on a rendered path are copied.

    The call's templates share one budget (runner/templates/budget.py): the size of every
    value they build, their total work and their time."""
    out = Rendered(document.get("connection_id"), dict(document.get("call") or {}), copied=set())
    for t in templates:
        out.diagnostics.extend(t.problems)
    if out.diagnostics:
        return out
    active = budget.Budget()
    # Names whose value is secret: env always; to/from once To/From were rendered from a
    # secret, so a field that copies them ("{{ from }}") is as secret as they are.
    tainted = {"env"}
    # To and From first: every other template may use the final numbers.
    first = [t for t in templates if t.path in _NUMBERS]
    for t in first:
        _run(t, context, out, active, tainted)
    context["to"] = out.call.get("To")
    context["from"] = out.call.get("From")
    for name, key in (("to", "To"), ("from", "From")):
        if ("call", key) in out.sensitive:
            tainted.add(name)
    for t in templates:
        if t.path not in _NUMBERS:
            _run(t, context, out, active, tainted)
    return out


_NUMBERS = (("call", "To"), ("call", "From"))


def _run(
    t: Template, context: dict[str, Any], out: Rendered, active: budget.Budget, tainted: set[str]
) -> None:
    if t.substitute is not None and all(type(context.get(n)) is str for n in t.names):
        text = t.substitute.format_map(context)
        if len(text) > MAX_RENDERED:
            message = f"rendered value is longer than {MAX_RENDERED} characters"
            out.diagnostics.append(_diag(t, message, codes.TEMPLATE_RUNTIME))
            return
        _done(t, out, text, tainted)
        return
    if t.compiled is None and t.failure is None:
        _compile(t)
    problem = t.failure
    text = ""
    if problem is None and t.compiled is not None:
        with budget.use(active):
            text, problem = _render_jinja(t, t.compiled, context)
    if problem is not None:
        out.diagnostics.append(problem)
        return
    _done(t, out, text, tainted)


def _render_jinja(
    t: Template, compiled: Compiled, context: dict[str, Any]
) -> tuple[str, Diagnostic | None]:
    from jinja2.exceptions import TemplateError

    try:
        text = ""
        for chunk in compiled.generate(context):
            text += chunk
            if len(text) > MAX_RENDERED:
                raise _TooLong()
        return text, None
    except _TooLong:
        message = f"rendered value is longer than {MAX_RENDERED} characters"
        return "", _diag(t, message, codes.TEMPLATE_RUNTIME)
    except TemplateError as exc:
        from runner.templates import envvars

        unset = envvars.unset_name(exc)
        if unset is not None:
            # Said in callprofile's words: Jinja's ("'dict object' has no attribute") never
            # reaches the user.
            code = envvars.CODE_UNSET if unset.startswith(ENV_PREFIX) else codes.TEMPLATE_RUNTIME
            return "", _diag(t, envvars.message(unset), code)
        return "", _diag(t, *failures.describe(exc))
    except Exception as exc:  # whatever a template's own code raises is its error
        return "", _diag(t, *failures.describe(exc))


def _done(t: Template, out: Rendered, text: str, tainted: set[str]) -> None:
    if t.names & tainted:
        out.sensitive.add(t.path)
    _assign(out, t.path, text)


class _TooLong(Exception):
    pass


def _assign(out: Rendered, path: Path, value: str) -> None:
    out.rendered.add(path)
    if path == ("connection_id",):
        out.connection_id = value
        return
    parts = path[1:]
    # Copy containers on the way down (once per call) so the document is never mutated.
    target: Any = out.call
    for depth, part in enumerate(parts[:-1], start=1):
        child = target[part]
        if parts[:depth] not in out.copied:
            out.copied.add(parts[:depth])
            child = dict(child) if isinstance(child, dict) else list(child)
            target[part] = child
        target = child
    target[parts[-1]] = value
