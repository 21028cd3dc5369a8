"""The single shape for every problem a user can fix (docs/architecture.md, "Diagnostics").

Messages say what is wrong in the terms of the profile; they never name a command-line flag.
The command line adds that advice from the structured fields (``runner/cli/advice.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, Literal

    Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem found, where it is and how bad (a profile file's line and column, or a flag)."""

    message: str
    code: str
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    end_line: int | None = None
    end_col: int | None = None
    severity: Severity = "error"
    json_path: str | None = None
    origin: str | None = None  # a flag or a contacts row when the value did not come from a file
    # What the problem is about, for callers that add their own advice (the command line names
    # its flags): the variable (CP203, CP206) or the request field, dotted (CP301, CP205), and
    # whether the problem is that it was not given at all.
    variable: str | None = None
    field: str | None = None
    absent: bool = False

    @property
    def where(self) -> str:
        if self.file is not None:
            if self.line is not None:
                return f"{self.file}:{self.line}:{self.col or 1}"
            return self.file
        if self.origin:
            return self.origin
        return "callprofile"

    def text(self) -> str:
        return f"{self.where}: {self.severity}: {self.message} [{self.code}]"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file or self.origin or "", self.line or 0, self.col or 0, self.code)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProfileError(Exception):
    """Raised by the flow when the user's input cannot become a valid request (exit 1)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(d.text() for d in self.diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def path_to_json(path: tuple[str | int, ...] | list[str | int]) -> str:
    """Render a path as the JSON path used in diagnostics: ``$.call.Timeout``, ``$.x[0]``."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += "[" + repr(part) + "]"
    return out
