"""PyYAML, imported so that its regular expressions are compiled when first used.

``import yaml`` compiles about twenty regular expressions at import time, and one of them (the
character class of the pure-Python reader's printable-text check, which spans most of Unicode)
costs a third of a bare interpreter's start on its own, yet callprofile parses with libyaml and
never runs that check. While PyYAML's modules execute, ``re.compile`` hands out patterns that
compile themselves on first use, so nothing changes but the moment each is compiled. Whoever
imports ``yaml`` first decides: a module that imports it before this one gets it eagerly, which
is only slower.

Swapping ``re.compile`` is process-wide, so only a caller that knows no other thread is running
asks for it (the CLI's single-threaded fast path, through ``compile_lazily``); a program using
callprofile as a library imports PyYAML the ordinary way.
"""

from __future__ import annotations

import _thread  # threading.Lock is this lock; importing threading costs more
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

_lock = _thread.allocate_lock()
_lazily = False


def compile_lazily() -> None:
    """Let the next ``module()`` import PyYAML with its patterns compiled on first use. Only for
    a process with one thread: other threads would get lazy patterns meanwhile."""
    global _lazily
    _lazily = True


class _LazyPattern:
    """A compiled pattern, compiled when first used."""

    __slots__ = ("_args", "_compile", "_compiled")

    def __init__(self, compile_: Any, pattern: Any, flags: Any) -> None:
        self._compile = compile_
        self._args = (pattern, flags)
        self._compiled: Any = None

    def __getattr__(self, name: str) -> Any:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = self._compile(*self._args)
        return getattr(compiled, name)


def module() -> Any:
    """The ``yaml`` module (imported on the first call)."""
    found = sys.modules.get("yaml")
    if found is not None:
        return found
    if not _lazily:
        import yaml

        return yaml
    import re

    with _lock:
        eager = re.compile

        def lazy(pattern: Any, flags: Any = 0) -> Any:
            return _LazyPattern(eager, pattern, flags)

        re.compile = lazy
        try:
            import yaml
        finally:
            re.compile = eager
    return yaml
