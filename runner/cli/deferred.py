"""Standard-library modules that the fast path's imports import but do not use.

``dataclasses`` imports ``inspect`` (with ``ast``, ``dis`` and ``tokenize``: about half a bare
interpreter's start) only to write a signature into the docstring of a class that has none,
``pathlib`` imports ``urllib.parse``, which imports ``ipaddress`` for one check of bracketed
URL hosts, and PyYAML imports ``base64`` for binary values. A deferred module is a stand-in in
``sys.modules`` that imports the real module on the first attribute anyone reads from it, and
from then on reads every attribute from it; a later ``import`` gets the real module. So a
program that never uses the module never pays for it, and one that does sees the same module.
(importlib's LazyLoader cannot do this on Python 3.11: the ``import`` statement itself reads
``__spec__``, which loads the module.)
"""

from __future__ import annotations

import _thread  # threading.RLock is this lock; importing threading costs more
import sys
from types import ModuleType

# Every dataclass on the fast path has a docstring, so dataclasses never calls inspect there;
# PyYAML imports base64 for !!binary values, which profiles refuse.
UNUSED = ("inspect", "ipaddress", "base64")
_lock = _thread.RLock()


class _Deferred(ModuleType):
    def __getattr__(self, attr: str) -> object:
        # Only reached for what the stand-in lacks: everything but its name.
        return getattr(_real(self), attr)


def _real(stub: _Deferred) -> ModuleType:
    with _lock:
        real = stub.__dict__.get("_deferred_module")
        if real is None:
            if sys.modules.get(stub.__name__) is stub:
                del sys.modules[stub.__name__]
            __import__(stub.__name__)
            real = sys.modules[stub.__name__]
            stub.__dict__["_deferred_module"] = real
        return real


def defer(names: tuple[str, ...] = UNUSED) -> None:
    """Import each of ``names`` (top-level modules) only when used, from now on; a module
    already imported is left as it is."""
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = _Deferred(name)
