"""Small immutable values with named fields, for the classes every command defines at import.

``@dataclass(frozen=True)`` writes and compiles an ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__`` and ``__delattr__`` for each class when its module is imported:
about half a millisecond a class, paid by every command before it does anything. A
:class:`Record` subclass lists its fields in ``__slots__`` and writes its ``__init__``; this
base gives it the rest with the same behaviour (equal when the class and every field are equal,
hashed by its fields, a ``Name(field=value, ...)`` repr, and no assignment after creation).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


class Record:
    __slots__: tuple[str, ...] = ()

    def _set(self, **fields: Any) -> None:
        """For ``__init__``: set the fields (assignment is refused afterwards)."""
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")
