"""The budget a template renders within: the size of every value it builds, the total work,
and the time.

Bounding the work, not a list of tricks: every place a template produces a value (operators,
``~``, calls, filters, tests, slices, output) reports to the active :class:`Budget`. Each value
is measured as the length of its text form (a string's characters, an integer's digits, a
list's items and separators) and refused past :data:`MAX_VALUE`; operations whose result can be
far larger than their inputs (``*``, ``join``, ``format``, ``expandtabs``...) are estimated and
refused *before* they run. Every operation also spends from one allowance of work per request,
and the request's templates must finish within :data:`MAX_SECONDS`, so a template of any shape
ends quickly with bounded memory. No Jinja import here.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

MAX_VALUE = 100_000  # characters in the text form of any value a template builds
MAX_INT_DIGITS = 4_300  # digits of any integer (Python's own limit for printing one)
MAX_WORK = 2_000_000  # units (about a character each) of work for one request's templates
MAX_SECONDS = 2.0  # wall time for one request's templates
OP_COST = 5  # units every operation costs besides its size: a few microseconds of interpreter
UNKNOWN_SIZE = 16  # an object whose text form is not measured (a date, a namespace)


class BudgetExceeded(Exception):
    """Raised inside a template when a value, the work or the time would pass the budget.

    ``kind`` is ``size`` (one value too large), ``work`` or ``time``. limits.py re-raises it as
    Jinja's SecurityError subclass so templates report it like any sandbox refusal."""

    def __init__(self, kind: str, limit: float, what: str = "a value"):
        self.kind = kind
        self.limit = limit
        if kind == "size":
            message = f"template builds {what} over {int(limit)} characters"
        elif kind == "work":
            message = f"template does more than {int(limit)} units of work (values it builds)"
        else:
            message = f"template ran longer than {limit:g} s"
        super().__init__(message)


@dataclass
class Budget:
    """The work and time a template render may still spend."""

    work: int = MAX_WORK
    seconds: float = MAX_SECONDS
    spent: int = 0
    deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def spend(self, units: int) -> None:
        self.spent += units + OP_COST
        if self.spent > self.work:
            raise BudgetExceeded("work", self.work)
        if time.monotonic() > self.deadline:
            raise BudgetExceeded("time", self.seconds)

    @property
    def left(self) -> int:
        return max(0, self.work - self.spent)


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "callprofile_template_budget", default=None
)


@contextmanager
def budget(work: int = MAX_WORK, seconds: float = MAX_SECONDS) -> Iterator[Budget]:
    """Make a fresh budget the active one for the templates rendered inside the block."""
    active = Budget(work, seconds)
    token = _current.set(active)
    try:
        yield active
    finally:
        _current.reset(token)


@contextmanager
def use(active: Budget) -> Iterator[Budget]:
    """Make ``active`` the budget for the templates rendered inside the block (one budget is
    shared by all the templates of a request)."""
    token = _current.set(active)
    try:
        yield active
    finally:
        _current.reset(token)


def current() -> Budget:
    """The active budget; outside a render (Jinja folding constants at compile time) a fresh
    one, so every operation is still bounded."""
    return _current.get() or Budget()


def measure(value: object, limit: int = MAX_VALUE) -> int:
    """The length of ``value``'s text form, counted no further than just past ``limit`` (so
    measuring costs at most ``limit`` steps however large the value is)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        total += _flat_size(item)
        if total > limit:
            return total
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return total


def _flat_size(item: object) -> int:
    if isinstance(item, (str, bytes, bytearray)):
        return len(item)
    if isinstance(item, bool) or item is None:
        return 5
    if isinstance(item, int):
        return int_digits(item)
    if isinstance(item, float):
        return 24
    if isinstance(item, dict):
        return 2 + 4 * len(item)  # braces, ": " and ", "
    if isinstance(item, (list, tuple, set, frozenset)):
        return 2 + 2 * len(item)  # brackets and ", "
    if isinstance(item, range):
        return 16
    return UNKNOWN_SIZE


def int_digits(value: int) -> int:
    """Decimal digits of ``value`` (from its bit length: no conversion to text)."""
    return int(abs(value).bit_length() * 0.30103) + 1 + (value < 0)


def shape(value: object, limit: int = MAX_VALUE) -> tuple[int, int, int]:
    """(text size, number of nodes, depth) of ``value``, counted no further than ``limit``
    nodes: what pretty-printers multiply by their indentation."""
    size = nodes = depth = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack and nodes <= limit:
        item, level = stack.pop()
        nodes += 1
        depth = max(depth, level)
        size += _flat_size(item)
        if isinstance(item, dict):
            stack.extend((k, level + 1) for k in item)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((v, level + 1) for v in item)
    return size, nodes, depth


def check_size(value: object, what: str = "a value") -> object:
    """Refuse ``value`` if its text form passes the cap; spend its size. Returns ``value``."""
    active = current()
    if isinstance(value, int) and not isinstance(value, bool):
        digits = int_digits(value)
        if digits > MAX_INT_DIGITS:
            raise BudgetExceeded("size", MAX_INT_DIGITS, "an integer")
        active.spend(digits)
        return value
    size = measure(value, min(MAX_VALUE, active.left))
    if size > MAX_VALUE:
        raise BudgetExceeded("size", MAX_VALUE, what)
    active.spend(size)
    return value


def expect(size: int, what: str = "a value") -> None:
    """Refuse an operation whose result is estimated at ``size`` characters, before it runs."""
    if size > MAX_VALUE:
        raise BudgetExceeded("size", MAX_VALUE, what)
    current().spend(0)


def spend(units: int) -> None:
    current().spend(units)
