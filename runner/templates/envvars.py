"""``env`` in templates: the ``CALLPROFILE_*`` environment variables, nothing else.

A variable that is not set is a problem of the place the command runs, not of the profile, and
is said in those words (never Jinja's "'dict object' has no attribute ..."): ``run`` and
``batch`` stop with CP208 at the template that reads it; the review commands (``validate``,
``explain``, ``diff``), which check profiles where secrets are rightly absent (pre-commit, CI),
render with a stand-in and say so in a note.

A missing name is a Jinja "undefined" of its own, so ``env.X is defined`` and
``env.X | default('y')`` keep working; only using the value fails.
"""

from __future__ import annotations

from runner import codes

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

ENV_PREFIX = "CALLPROFILE_"
CODE_UNSET = codes.ENV_UNSET


def stand_in(name: str) -> str:
    return f"stand-in-{name}"


def message(name: str) -> str:
    if not name.startswith(ENV_PREFIX):
        return (
            f"templates can read only {ENV_PREFIX}* environment variables, not {name} "
            "(the API key and other variables are never visible to profiles)"
        )
    return (
        f"environment variable {name} is not set (export it where run and batch run; "
        "validate renders a stand-in for it)"
    )


_unset: Any = None


def _unset_error() -> Any:
    global _unset
    if _unset is None:
        from jinja2.exceptions import UndefinedError

        class EnvUnset(UndefinedError):
            """Raised when a template uses an environment variable that is not set."""

        _unset = EnvUnset
    return _unset


def _missing(name: str) -> Any:
    from jinja2 import StrictUndefined

    return StrictUndefined(hint=name, name=name, exc=_unset_error())


class EnvVars(dict[str, str]):
    """The ``env`` mapping templates see."""

    def __missing__(self, key: object) -> Any:
        return _missing(str(key))


def unset_name(exc: BaseException) -> str | None:
    """The variable's name if ``exc`` says an environment variable is not set."""
    if _unset is not None and isinstance(exc, _unset):
        return str(exc.message)
    return None


def names_read(ast: Any) -> set[str]:
    """Names read as ``env.NAME`` or ``env['NAME']`` in a parsed template."""
    from jinja2 import nodes

    found: set[str] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "env"):
            continue
        if isinstance(node, nodes.Getattr):
            found.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found.add(node.arg.value)
    return found
