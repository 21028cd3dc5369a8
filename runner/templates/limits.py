"""The Jinja environment profile templates run in: sandboxed, immutable, and on a budget.

Jinja's sandbox stops templates from reaching Python internals, but not from building huge values
or running for a long time. Here every place a template produces a value reports to the active
budget (runner/templates/budget.py): arithmetic and ``%`` (``call_binop``, all operators
intercepted), ``~`` and slices and ``in`` (a code generator that routes them through the
environment), every call and method (``call``), every filter and test (wrapped), and every
output (``finalize``). Operations whose result can be far larger than their inputs are
estimated first and refused before they run; everything else is measured as it is produced.
Constructs that loop or recurse are refused when the template is parsed. Jinja is imported only
when a template needs it.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runner.templates import budget
from runner.templates.budget import (
    MAX_INT_DIGITS,
    MAX_VALUE,
    BudgetExceeded,
    check_size,
    expect,
    int_digits,
    measure,
    shape,
    spend,
)

__all__ = ["MAX_VALUE", "make_environment", "refused_construct"]


def _refuse_number(what: str = "a number larger than") -> BudgetExceeded:
    error = BudgetExceeded("size", MAX_VALUE)
    error.args = (f"{what} {MAX_VALUE} as an argument is refused",)
    return error


def _check_ints(values: Iterable[Any]) -> None:
    """Refuse integer arguments past the cap: widths, counts and sizes (``ljust(10**9)``)."""
    for value in values:
        if isinstance(value, (tuple, list)):
            _check_ints(value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise _refuse_number()


# Widths and precisions: "%-99999999.5s" and "{0:>99999999}" ("{:{w}}" gets w from the
# arguments, which are checked as integers).
_PERCENT_SPEC = re.compile(r"%[-+ #0]*([0-9]*)(?:\.([0-9]*))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_DIGITS = re.compile(r"[0-9]+")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-+ #0*]*[0-9*]*(?:\.[0-9*]*)?[a-zA-Z%]")


def _format_widths(text: str) -> int:
    """The largest width or precision written in a format string; refuses ones past the cap."""
    numbers = [n for m in _PERCENT_SPEC.finditer(text) for n in m.groups() if n]
    numbers += [n for m in _BRACE_SPEC.finditer(text) for n in _DIGITS.findall(m.group(1))]
    if any(len(n) > 6 or int(n) > MAX_VALUE for n in numbers):
        error = BudgetExceeded("size", MAX_VALUE)
        error.args = (f"a format width larger than {MAX_VALUE} is refused",)
        raise error
    return max((int(n) for n in numbers), default=0)


def _widths_from_arguments(text: Any) -> bool:
    """True when a format string takes a width or precision from its arguments: ``%*s``,
    ``{:{w}}``."""
    return isinstance(text, str) and ("*" in text or _NESTED_SPEC.search(text) is not None)


def _largest(values: Iterable[Any]) -> int:
    return max((measure(v) for v in values), default=0)


def _format_estimate(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``text.format(...)``, ``text % args``, ``|format``: every field can repeat the largest
    argument (``'{0}{0}{0}...'``), at its width, and ``!r`` can quadruple it."""
    if not isinstance(text, str):
        return
    widest = _format_widths(text)
    values: list[Any] = [*args, *kwargs.values()]
    for value in list(values):
        if isinstance(value, dict):
            values.extend(value.values())
        elif isinstance(value, (tuple, list)):
            values.extend(value)
    if _widths_from_arguments(text):
        _check_ints(values)
        widest = max([widest, *(abs(v) for v in values if _is_int(v))])
    fields = text.count("{") + text.count("%")
    expect(len(text) + fields * (4 * _largest(values) + widest))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text_size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, bytearray)) else measure(value)


def _replace_estimate(text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not (isinstance(text, (str, bytes)) and type(old) is type(text)):
        return
    if not isinstance(new, (str, bytes)):
        return
    hits = text.count(old) if old else len(text) + 1
    if _is_int(count) and count >= 0:
        hits = min(hits, count)
    expect(len(text) + hits * max(len(new) - len(old), 0))


def _join_estimate(separator: Any, items: Iterable[Any]) -> list[Any]:
    """Materialise and measure what a join would join; returns the items as a list."""
    listed = []
    total = 0
    for item in items:
        listed.append(item)
        total += _text_size(item) + (len(separator) if isinstance(separator, (str, bytes)) else 0)
        if total > MAX_VALUE:
            expect(total)
        spend(1)
    expect(total)
    return listed


# --- str and bytes methods: the ones whose result can be much larger than their inputs --------


def _method_estimate(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Check a method call on a str/bytes before it runs; returns the (possibly materialised)
    arguments to call it with."""
    size = len(owner)
    if name in ("format", "format_map"):
        mapping = args[0] if name == "format_map" and args else {}
        _format_estimate(owner, args if name == "format" else (), {**kwargs, **dict(mapping)})
        return args
    _check_ints([*args, *kwargs.values()])
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        expect(max(size, width if _is_int(width) else 0))
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        tabs = owner.count("\t" if isinstance(owner, str) else b"\t")
        expect(size + tabs * max(tabsize if _is_int(tabsize) else 8, 0))
    elif name == "replace":
        _replace_estimate(owner, *args[:3])
    elif name == "join" and args:
        return (_join_estimate(owner, args[0]), *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((_text_size(v) for v in args[0].values() if v is not None), default=1)
        expect(size * max(longest, 1))
    return args


# --- filters -----------------------------------------------------------------------------------


def _filter_estimate(name: str, values: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    """Check a filter call before it runs; returns the (possibly materialised) positional
    values. ``values[0]`` is what the filter is applied to."""
    if not values:
        return values
    subject = values[0]
    rest = values[1:]
    if name in ("center", "indent", "wordwrap", "truncate", "batch", "slice"):
        _check_ints([*rest, *kwargs.values()])
    if name == "center":
        width = rest[0] if rest else kwargs.get("width", 80)
        expect(max(_text_size(subject), width if _is_int(width) else 0))
    elif name == "indent":
        width = rest[0] if rest else kwargs.get("width", 4)
        lines = str(subject).count("\n") + 2
        per_line = len(width) if isinstance(width, str) else (width if _is_int(width) else 4)
        expect(_text_size(subject) + lines * max(per_line, 0))
    elif name == "wordwrap":
        width = rest[0] if rest else kwargs.get("width", 79)
        wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
        text = _text_size(subject)
        breaks = text // max(width if _is_int(width) else 1, 1) + str(subject).count("\n") + 1
        expect(text + breaks * (len(wrap) if isinstance(wrap, str) else 1))
    elif name == "replace" and len(values) >= 3:
        # The filter works on text: it turns the subject, old and new into strings first.
        count = rest[2] if len(rest) > 2 else kwargs.get("count")
        _replace_estimate(str(subject), str(rest[0]), str(rest[1]), count)
    elif name == "join":
        separator = rest[0] if rest else kwargs.get("d", "")
        values = [_join_estimate(separator, subject), *rest]
    elif name == "format":
        _format_estimate(subject, tuple(rest), kwargs)
    elif name in ("tojson", "pprint"):
        indent = rest[0] if rest else kwargs.get("indent")
        _check_ints([indent])
        size, nodes, depth = shape(subject)
        step = indent if _is_int(indent) else (1 if name == "pprint" else 0)
        expect(6 * size + nodes * depth * max(step, 0))
    elif name == "urlize":
        extra = sum(_text_size(kwargs.get(k) or "") for k in ("target", "rel"))
        extra += sum(_text_size(v) for v in rest if isinstance(v, str))
        text = _text_size(subject)
        expect(4 * text + (text // 2 + 1) * extra)
    elif name in ("batch", "slice"):
        count = rest[0] if rest else 1
        fill = rest[1] if len(rest) > 1 else kwargs.get("fill_with")
        expect(measure(subject) + (count if _is_int(count) else 1) * measure(fill))
    elif name == "sum":
        start = rest[1] if len(rest) > 1 else kwargs.get("start", 0)
        if not isinstance(start, (int, float)):
            # Summing sequences copies the growing result once per item: quadratic.
            items = list(subject)
            total = measure(start) + sum(measure(i) for i in items)
            expect(total)
            spend(total * len(items))
            values = [items, *rest]
    elif name in ("string", "list", "xmlattr", "escape", "e", "forceescape", "urlencode"):
        expect(measure(subject))
    if name in ("groupby", "map") and hasattr(subject, "__len__"):
        # Every item whose attribute is missing gets the default as its key, and groupby
        # lower-cases each key: one copy of the default per item.
        default = rest[1] if name == "groupby" and len(rest) > 1 else kwargs.get("default")
        if default is not None:
            expect(len(subject) * measure(default))
    return values


def _counted(items: Iterator[Any]) -> Iterator[Any]:
    """A lazy filter's results (map, select...), each counted as it is produced."""
    for item in items:
        spend(1)
        yield item


# --- the code generator: ~, slices and ``in`` through the environment ---------------------------


def _code_generator() -> Any:
    from jinja2 import nodes
    from jinja2.compiler import CodeGenerator

    class BudgetedCodeGenerator(CodeGenerator):
        def visit_Concat(self, node: Any, frame: Any) -> None:
            # Jinja writes str_join((...)) here, outside the sandbox's reach.
            self.write("environment.tilde((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

        def visit_Getitem(self, node: Any, frame: Any) -> None:
            # Slices bypass environment.getitem: x[1:] copies x.
            if isinstance(node.arg, nodes.Slice):
                self.write("environment.produced(")
                super().visit_Getitem(node, frame)
                self.write(")")
            else:
                super().visit_Getitem(node, frame)

        def visit_Compare(self, node: Any, frame: Any) -> None:
            # ``in`` walks its right side; a list of many references to one long string is
            # small in memory and slow to search.
            if not any(op.op in ("in", "notin") for op in node.ops):
                super().visit_Compare(node, frame)
                return
            self.write("environment.compare((")
            self.visit(node.expr, frame)
            self.write(", ")
            for op in node.ops:
                self.write(f"{op.op!r}, ")
                self.visit(op.expr, frame)
                self.write(", ")
            self.write("))")

    return BudgetedCodeGenerator


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


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


def _binop_estimate(op: str, left: Any, right: Any) -> None:
    if op == "**":
        ints = _is_int(left) and _is_int(right)
        if ints and (abs(right) > 64 or left.bit_length() * abs(right) > 4096):
            error = BudgetExceeded("size", MAX_INT_DIGITS, "an integer")
            error.args = ("that power is too large for a template",)
            raise error
        return
    if op == "*":
        if _is_int(left) and not _is_int(right):
            left, right = right, left
        if _is_int(right) and isinstance(left, (str, bytes, list, tuple)):
            expect(measure(left) * max(right, 0))
        elif _is_int(left) and _is_int(right):
            # A product has at most as many digits as its factors together.
            digits = int_digits(left) + int_digits(right) - 1
            if digits > MAX_INT_DIGITS:
                raise BudgetExceeded("size", MAX_INT_DIGITS, "an integer")
        return
    if op == "+" and isinstance(left, (str, bytes, list, tuple)):
        expect(measure(left) + measure(right))
    elif op == "%" and isinstance(left, str):
        args = right if isinstance(right, tuple) else (right,)
        _format_estimate(left, args, right if isinstance(right, dict) else {})


def make_environment() -> Any:
    from jinja2 import StrictUndefined, nodes
    from jinja2.runtime import Context
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        code_generator_class = _code_generator()
        # Every arithmetic operator: any of them can build a value (``+`` doubles a string).
        intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _binop_estimate(operator, left, right)
            spend(0)
            return check_size(self.binop_table[operator](left, right))

        def tilde(self, values: tuple[Any, ...]) -> str:
            expect(sum(measure(v) for v in values))
            return check_size("".join([str(v) for v in values]))  # type: ignore[return-value]

        def produced(self, value: Any) -> Any:
            return check_size(value)

        def compare(self, chain: tuple[Any, ...]) -> bool:
            left = chain[0]
            for index in range(1, len(chain), 2):
                op, right = chain[index], chain[index + 1]
                if op in ("in", "notin"):
                    spend(measure(left) * max(measure(right, budget.current().left), 1))
                if not _COMPARE[op](left, right):
                    return False
                left = right
            return True

        def getattr(self, obj: Any, attribute: str) -> Any:
            spend(0)
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            spend(0)
            return super().getitem(obj, argument)

        def wrap_str_format(self, value: Any) -> Any:
            # Jinja wraps str.format when the attribute is read; estimate the result at the call.
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            owner = value.__self__
            _format_widths(owner)
            is_map = value.__name__ == "format_map"

            def checked(*args: Any, **kwargs: Any) -> Any:
                if is_map and args and isinstance(args[0], dict):
                    _format_estimate(owner, (), dict(args[0]))
                else:
                    _format_estimate(owner, args, kwargs)
                return check_size(wrapped(*args, **kwargs))

            return checked

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            # Every call a template makes (methods, range(), dict()) passes here.
            owner = getattr(obj, "__self__", None)
            if isinstance(owner, (str, bytes)):
                args = _method_estimate(owner, getattr(obj, "__name__", ""), args, kwargs)
            elif isinstance(owner, int) and getattr(obj, "__name__", "") == "to_bytes":
                _check_ints([*args, *kwargs.values()])  # (1).to_bytes(10**9)
            spend(sum(_text_size(a) for a in args if isinstance(a, (str, bytes))))
            result = super().call(context, obj, *args, **kwargs)
            if isinstance(result, Iterator):
                return _counted(result)
            return check_size(result)

    def finalize(value: Any) -> Any:
        # Every {{ output }}, before Jinja turns it into text.
        return check_size(value)

    env = Sandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    # lipsum(100000) spends seconds building megabytes of text; profiles have no use for it.
    env.globals.pop("lipsum", None)

    def strip_context(args: tuple[Any, ...]) -> int:
        skip = 0
        while skip < len(args) and isinstance(
            args[skip], (Context, nodes.EvalContext, ImmutableSandboxedEnvironment)
        ):
            skip += 1
        return skip

    def guard_filter(name: str, original: Any) -> Any:
        @functools.wraps(original)  # keeps Jinja's pass_context/pass_environment marker
        def guarded(*args: Any, **kwargs: Any) -> Any:
            skip = strip_context(args)
            values = _filter_estimate(name, list(args[skip:]), kwargs)
            spend(sum(_text_size(v) for v in values if isinstance(v, str)))
            result = original(*args[:skip], *values, **kwargs)
            if isinstance(result, Iterator):
                return _counted(result)
            return check_size(result)

        return guarded

    def guard_test(name: str, original: Any) -> Any:
        @functools.wraps(original)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            skip = strip_context(args)
            values = args[skip:]
            if name == "in" and len(values) > 1:
                spend(measure(values[0]) * max(measure(values[1], budget.current().left), 1))
            else:
                spend(0)
            return original(*args, **kwargs)

        return guarded

    for name, original in list(env.filters.items()):
        env.filters[name] = guard_filter(name, original)
    for name, original in list(env.tests.items()):
        env.tests[name] = guard_test(name, original)
    return env
