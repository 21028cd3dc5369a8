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
from collections.abc import Callable, Iterator

from runner.templates import budget, estimates
from runner.templates.budget import (
    MAX_VALUE,
    check_size,
    expect,
    measure,
    spend,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from jinja2.nodes import Template as Parsed
    from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["MAX_VALUE", "make_environment", "refused_construct"]


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


def refused_construct(ast: Parsed) -> str | None:
    """What the parsed template uses that profile templates may not, or None."""
    from jinja2 import nodes

    for node in ast.find_all(nodes.Stmt):
        what = _REFUSED_NODES.get(type(node).__name__)
        if what is not None:
            return what
    return None


def make_environment() -> ImmutableSandboxedEnvironment:
    from jinja2 import StrictUndefined, nodes
    from jinja2.runtime import Context
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        code_generator_class = _code_generator()
        # Every arithmetic operator: any of them can build a value (``+`` doubles a string).
        intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            estimates.binop_estimate(operator, left, right)
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
            estimates.format_widths(owner)
            is_map = value.__name__ == "format_map"

            def checked(*args: Any, **kwargs: Any) -> Any:
                if is_map and args and isinstance(args[0], dict):
                    estimates.format_estimate(owner, (), dict(args[0]))
                else:
                    estimates.format_estimate(owner, args, kwargs)
                return check_size(wrapped(*args, **kwargs))

            return checked

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            # Every call a template makes (methods, range(), dict()) passes here.
            owner = getattr(obj, "__self__", None)
            if isinstance(owner, (str, bytes)):
                args = estimates.method_estimate(owner, getattr(obj, "__name__", ""), args, kwargs)
            elif isinstance(owner, int) and getattr(obj, "__name__", "") == "to_bytes":
                estimates.check_ints([*args, *kwargs.values()])  # (1).to_bytes(10**9)
            spend(sum(estimates.text_size(a) for a in args if isinstance(a, (str, bytes))))
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
            values = estimates.filter_estimate(name, list(args[skip:]), kwargs)
            spend(sum(estimates.text_size(v) for v in values if isinstance(v, str)))
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
