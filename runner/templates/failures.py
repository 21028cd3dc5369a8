"""What a template's failure means to the user: a message, a code, and the line inside the
template where it happened. Whatever a template's own code raises is its error, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from runner import codes
from runner.templates import budget

MESSAGE_LIMIT = 300  # characters of an exception's text shown (it may quote a whole value)


def describe(exc: BaseException) -> tuple[str, str, int]:
    """(message, code, line inside the template) for an exception a render raised. Unset
    ``env`` names and the ``rendered value is longer`` cap are handled by the caller."""
    line = template_line(exc)
    if isinstance(exc, budget.BudgetExceeded):
        size = exc.kind == "size"
        code = codes.TEMPLATE_VALUE_TOO_LARGE if size else codes.TEMPLATE_TOO_MUCH_WORK
        return str(exc), code, line
    if isinstance(exc, RecursionError):
        return "template error: nested too deeply", codes.TEMPLATE_RUNTIME, 1
    if isinstance(exc, MemoryError):
        return "template error: out of memory", codes.TEMPLATE_RUNTIME, 1
    from jinja2.exceptions import TemplateError

    known = (TemplateError, ArithmeticError, ValueError, TypeError)
    text = str(exc) if isinstance(exc, known) else f"{type(exc).__name__}: {exc}"
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 3] + "..."
    return f"template error: {text}", codes.TEMPLATE_RUNTIME, line


def template_line(exc: BaseException) -> int:
    """The line inside the template where ``exc`` was raised (Jinja rewrites the traceback so
    template frames carry template line numbers), or 1."""
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@contextmanager
def quiet() -> Iterator[None]:
    """Silence Python's SyntaxWarnings about the code Jinja generates (``1.5[0]``): the
    template's own error, if any, is reported when it renders."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        yield
