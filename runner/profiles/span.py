"""Where a value stands in a profile file (runner.profiles.source records one per value)."""

from __future__ import annotations

from runner.record import Record


class Span(Record):
    """Where a value (and, inside a mapping, its key) stands in the file. 1-based."""

    __slots__ = ("col", "end_col", "end_line", "key_col", "key_line", "line", "plain_text", "style")
    line: int
    col: int
    end_line: int
    end_col: int
    key_line: int | None
    key_col: int | None
    # Set when a plain (unquoted) scalar was read by YAML as something other than a string:
    # the text as written, so messages can say "quote it".
    plain_text: str | None
    # "|" or ">" for block scalars: template line numbers start on the line after the indicator.
    style: str | None

    def __init__(
        self,
        line: int,
        col: int,
        end_line: int,
        end_col: int,
        key_line: int | None = None,
        key_col: int | None = None,
        plain_text: str | None = None,
        style: str | None = None,
    ) -> None:
        self._set(
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
            key_line=key_line,
            key_col=key_col,
            plain_text=plain_text,
            style=style,
        )
