"""The Jinja environment profile templates run in: sandboxed, immutable, and bounded.

Jinja's sandbox stops templates from reaching Python internals, but not from building huge values
or running for a long time. Here every way a template can build a large value from a short one
(``*``, ``**``, ``%``, ``replace``, ``join``, ``indent``, ``wordwrap``, padding and format widths)
is checked before the value is built, every value is capped at ``MAX_VALUE``, and constructs that
loop or recurse are refused when the template is parsed. Jinja is imported only when a template
needs it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.nodes import Template as Parsed
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_VALUE = 100_000  # characters (or items) in any value a template builds


def _too_long(what: str = "value") -> Exception:
    from jinja2.exceptions import SecurityError

    return SecurityError(f"a template built a {what} longer than {MAX_VALUE} characters")


def _capped(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > MAX_VALUE:
        raise _too_long()
    return value


def _check_ints(values: Any) -> None:
    """Refuse integer arguments past the cap: widths, counts and sizes (``ljust(10**9)``)."""
    from jinja2.exceptions import SecurityError

    for value in values:
        if isinstance(value, (tuple, list)):
            _check_ints(value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise SecurityError(f"a number larger than {MAX_VALUE} as an argument is refused")


# Widths and precisions: "%-99999999.5s" and "{0:>99999999}" ("{:{w}}" gets w from the
# arguments, which are checked as integers).
# Pattern strings: `re` compiles and caches each on first use, so importing costs nothing.
_PERCENT_SPEC = r"%[-+ #0]*([0-9]*)(?:\.([0-9]*))?"
_BRACE_SPEC = r"\{[^{}]*?:([^{}]*)\}"
_DIGITS = r"[0-9]+"


def _check_format(text: Any) -> None:
    """Refuse format strings whose widths or precisions pass the cap (``'%99999999s'``)."""
    from jinja2.exceptions import SecurityError

    if not isinstance(text, str):
        return
    numbers = [n for m in re.finditer(_PERCENT_SPEC, text) for n in m.groups() if n]
    numbers += [n for m in re.finditer(_BRACE_SPEC, text) for n in re.findall(_DIGITS, m.group(1))]
    if any(len(n) > 6 or int(n) > MAX_VALUE for n in numbers):
        raise SecurityError(f"a format width larger than {MAX_VALUE} is refused")


_NESTED_SPEC = r"\{[^{}]*:[^{}]*\{"
# Filters whose integer arguments are sizes or counts (the rest take values, e.g. format).
_SIZED_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})


def _widths_from_arguments(text: Any) -> bool:
    """True when a format string takes a width or precision from its arguments: ``%*s``,
    ``{:{w}}``."""
    return isinstance(text, str) and ("*" in text or re.search(_NESTED_SPEC, text) is not None)


def _mapping_values(args: Any) -> list[Any]:
    return [v for a in args if isinstance(a, dict) for v in a.values()]


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    """Refuse a replace whose result would pass the cap, before building it."""
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * max(len(new) - len(old), 0) > MAX_VALUE:
        raise _too_long()


def _check_join(separator: Any, items: Any) -> Any:
    """Refuse a join whose separators alone would pass the cap; returns the items as a list."""
    items = list(items)
    if isinstance(separator, str) and len(separator) * max(len(items) - 1, 0) > MAX_VALUE:
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


def refused_construct(ast: Parsed) -> str | None:
    """What the parsed template uses that profile templates may not, or None."""
    from jinja2 import nodes

    for node in ast.find_all(nodes.Stmt):
        what = _REFUSED_NODES.get(type(node).__name__)
        if what is not None:
            return what
    return None


def make_environment() -> ImmutableSandboxedEnvironment:
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
            if sequence and len(left) * right > MAX_VALUE:
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
                if isinstance(width, str) and len(width) * lines > MAX_VALUE:
                    raise _too_long()
            elif name == "wordwrap" and values:
                wrap = values[3] if len(values) > 3 else kwargs.get("wrapstring")
                if isinstance(wrap, str) and len(wrap) * len(str(values[0])) > MAX_VALUE:
                    raise _too_long()
            return _capped(original(*args, **kwargs))

        return guarded

    for name, original in list(env.filters.items()):
        env.filters[name] = guard(name, original)
    return env
