"""Load one YAML file into plain data plus the position of every key and value.

The file is read as an event stream (libyaml when available) and the data is built here rather than
by PyYAML's constructor, so that refusals happen before anything is built: anchors and aliases
(alias bombs), nesting past a cap, duplicate keys, tags other than the plain JSON-like ones (no
Python objects), several documents in one file. Every refusal is a Diagnostic with a line and
column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.span import Span as Span

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 100_000

Path = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_ALLOWED_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


@dataclass
class Source:
    """One parsed file: its data and the span of every path in it."""

    file: str
    data: Any
    spans: dict[Path, Span] = field(default_factory=dict)

    def span(self, path: Path) -> Span | None:
        """The span of ``path``, or of its deepest ancestor that exists in the file."""
        path = tuple(path)
        while True:
            found = self.spans.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]

    def diag(
        self,
        path: Path,
        message: str,
        code: str,
        *,
        at_key: bool = False,
        severity: str = "error",
    ) -> Diagnostic:
        from runner.diagnostics import path_to_json

        span = self.span(path)
        line = col = end_line = end_col = None
        if span is not None:
            exact = tuple(path) in self.spans
            if at_key and exact and span.key_line is not None:
                line, col = span.key_line, span.key_col
            else:
                line, col = span.line, span.col
            end_line, end_col = span.end_line, span.end_col
        return Diagnostic(
            message=message,
            code=code,
            file=self.file,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
            severity=severity,  # type: ignore[arg-type]
            json_path=path_to_json(path),
        )


_module: Any = None


def _yaml() -> Any:
    global _module
    if _module is None:  # called for every YAML event: no import statement each time
        from runner.profiles.pyyaml import module

        _module = module()
    return _module


_resolver = None
_constructor = None


def _scalar_tools() -> tuple[Any, Any]:
    global _resolver, _constructor
    if _resolver is None:
        yaml = _yaml()
        _resolver = yaml.resolver.Resolver()
        _constructor = yaml.constructor.SafeConstructor()
    return _resolver, _constructor


def load_text(text: str, file: str) -> Source:
    """Parse ``text`` (named ``file`` in messages). Raises ProfileError on any refusal."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise ProfileError(
            [
                Diagnostic(
                    f"file is {size} bytes; profiles are limited to {MAX_BYTES} bytes",
                    codes.TOO_LARGE,
                    file=file,
                    line=1,
                    col=1,
                )
            ]
        )
    return _Builder(text, file).build()


def load_file(path: str, display: str | None = None) -> Source:
    display = display or path
    try:
        with open(path, "rb") as fh:
            # One byte past the cap is enough for load_text to refuse the file by size,
            # without ever reading a huge file into memory.
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ProfileError(
            [Diagnostic(f"cannot read file: {exc.strerror or exc}", codes.UNREADABLE, file=display)]
        ) from None
    try:
        text = raw.decode("utf-8", errors="strict" if len(raw) <= MAX_BYTES else "ignore")
    except UnicodeDecodeError as exc:
        raise ProfileError(
            [Diagnostic(f"file is not UTF-8 text ({exc.reason})", codes.YAML_SYNTAX, file=display)]
        ) from None
    return load_text(text, display)


def _syntax_error(exc: Any) -> tuple[Any, str]:
    """Where and what a YAML syntax error is. A quote that is never closed is reported where it
    opened: the parser only notices at the end of the file, far from the mistake."""
    context = exc.context or ""
    opened = exc.context_mark
    at = exc.problem_mark
    if opened is not None and "quoted scalar" in context and "end of stream" in (exc.problem or ""):
        return opened, "this quoted string is never closed (the file ends inside it)"
    problem = exc.problem or context or "invalid YAML"
    if context and exc.problem:
        problem = f"{problem} ({context})"
    return at or opened, problem


class _Builder:
    def __init__(self, text: str, file: str):
        self.text = text
        self.file = file
        self.spans: dict[Path, Span] = {}
        self.nodes = 0

    def fail(self, mark: Any, message: str, code: str) -> ProfileError:
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        return ProfileError([Diagnostic(message, code, file=self.file, line=line, col=col)])

    def build(self) -> Source:
        yaml = _yaml()
        loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            loader = loader_cls(self.text)
        except UnicodeEncodeError as exc:
            # A lone surrogate: only reachable through load_text, files are decoded strictly.
            raise self.fail(
                self._mark_at(exc.start),
                "text is not valid Unicode (a lone surrogate)",
                codes.YAML_SYNTAX,
            ) from None
        try:
            self.events = loader
            data = self._document()
        except yaml.MarkedYAMLError as exc:
            mark, problem = _syntax_error(exc)
            raise self.fail(mark, f"YAML syntax error: {problem}", codes.YAML_SYNTAX) from None
        except yaml.reader.ReaderError as exc:  # control characters: a position, not a mark
            what = (
                f"unacceptable character #x{exc.character:04x}: {exc.reason}"
                if isinstance(exc.character, int)
                else str(exc.reason)
            )
            position = exc.position
            if loader_cls is not yaml.SafeLoader:  # libyaml counts bytes of UTF-8, not characters
                raw = self.text.encode("utf-8", "surrogatepass")[:position]
                position = len(raw.decode("utf-8", "ignore"))
            raise self.fail(
                self._mark_at(position), f"YAML error: {what}", codes.YAML_SYNTAX
            ) from None
        except yaml.YAMLError as exc:
            raise self.fail(None, f"YAML error: {exc}", codes.YAML_SYNTAX) from None
        finally:
            loader.dispose()
        return Source(self.file, data, self.spans)

    def _mark_at(self, offset: int) -> Any:
        """A mark (0-based line and column, like PyYAML's) for a character offset."""
        from types import SimpleNamespace

        offset = max(0, min(offset, len(self.text)))
        line = self.text.count("\n", 0, offset)
        column = offset - (self.text.rfind("\n", 0, offset) + 1)
        return SimpleNamespace(line=line, column=column)

    def _next(self) -> Any:
        return self.events.get_event()

    def _document(self) -> Any:
        yaml = _yaml()
        self._next()  # StreamStart
        event = self._next()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        # DocumentStart
        data = self._node(self._next(), (), None, 0)
        self._next()  # DocumentEnd
        event = self._next()
        if not isinstance(event, yaml.StreamEndEvent):
            raise self.fail(
                event.start_mark,
                "a profile file holds one YAML document; remove the '---' separator",
                codes.YAML_SYNTAX,
            )
        return data

    def _check_common(self, event: Any, depth: int) -> None:
        yaml = _yaml()
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(
                event.start_mark, f"more than {MAX_NODES} values in one file", codes.TOO_LARGE
            )
        if depth > MAX_DEPTH:
            raise self.fail(
                event.start_mark,
                f"nesting deeper than {MAX_DEPTH} levels is refused",
                codes.TOO_LARGE,
            )
        if isinstance(event, yaml.AliasEvent):
            raise self.fail(
                event.start_mark,
                f"YAML aliases (*{event.anchor}) are refused: write the value out, or share it "
                "through 'extends'",
                codes.YAML_ALIAS,
            )
        if getattr(event, "anchor", None):
            raise self.fail(
                event.start_mark,
                f"YAML anchors (&{event.anchor}) are refused: share values through 'extends'",
                codes.YAML_ALIAS,
            )

    def _node(self, event: Any, path: Path, key_mark: Any, depth: int) -> Any:
        yaml = _yaml()
        self._check_common(event, depth)
        key_line = key_mark.line + 1 if key_mark is not None else None
        key_col = key_mark.column + 1 if key_mark is not None else None
        if isinstance(event, yaml.ScalarEvent):
            value, plain = self._scalar(event)
            self.spans[path] = Span(
                event.start_mark.line + 1,
                event.start_mark.column + 1,
                event.end_mark.line + 1,
                event.end_mark.column + 1,
                key_line,
                key_col,
                plain_text=plain,
                style=event.style if event.style in ("|", ">") else None,
            )
            return value
        if isinstance(event, yaml.SequenceStartEvent):
            self._check_tag(event, "tag:yaml.org,2002:seq")
            items: list[Any] = []
            while True:
                child = self._next()
                if isinstance(child, yaml.SequenceEndEvent):
                    break
                items.append(self._node(child, (*path, len(items)), None, depth + 1))
            self.spans[path] = Span(
                event.start_mark.line + 1,
                event.start_mark.column + 1,
                child.end_mark.line + 1,
                child.end_mark.column + 1,
                key_line,
                key_col,
            )
            return items
        if isinstance(event, yaml.MappingStartEvent):
            self._check_tag(event, "tag:yaml.org,2002:map")
            mapping: dict[str, Any] = {}
            first_line: dict[str, int] = {}
            while True:
                key_event = self._next()
                if isinstance(key_event, yaml.MappingEndEvent):
                    break
                self._check_common(key_event, depth + 1)
                if not isinstance(key_event, yaml.ScalarEvent):
                    raise self.fail(
                        key_event.start_mark, "mapping keys must be plain text", codes.YAML_TAG
                    )
                key = key_event.value
                if not key_event.style and key == "<<":
                    raise self.fail(
                        key_event.start_mark,
                        "YAML merge keys ('<<') are refused: share values through 'extends'",
                        codes.YAML_ALIAS,
                    )
                if key in mapping:
                    raise self.fail(
                        key_event.start_mark,
                        f"duplicate key {key!r} (first at line {first_line[key]}); "
                        "YAML would silently keep only the last one",
                        codes.DUPLICATE_KEY,
                    )
                first_line[key] = key_event.start_mark.line + 1
                mapping[key] = self._node(
                    self._next(), (*path, key), key_event.start_mark, depth + 1
                )
            self.spans[path] = Span(
                event.start_mark.line + 1,
                event.start_mark.column + 1,
                key_event.end_mark.line + 1,
                key_event.end_mark.column + 1,
                key_line,
                key_col,
            )
            return mapping
        raise self.fail(event.start_mark, "unexpected YAML content", codes.YAML_SYNTAX)

    def _check_tag(self, event: Any, expected: str) -> None:
        tag = event.tag
        if tag in (None, "!", expected):
            return
        raise self.fail(event.start_mark, f"YAML tag {tag!r} is not allowed here", codes.YAML_TAG)

    def _scalar(self, event: Any) -> tuple[Any, str | None]:
        yaml = _yaml()
        resolver, constructor = _scalar_tools()
        tag = event.tag
        if tag is None or tag == "!":
            tag = resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag not in _ALLOWED_SCALAR_TAGS:
            raise self.fail(
                event.start_mark,
                f"YAML tag {tag!r} is not allowed: profiles hold plain text, numbers, "
                "booleans, lists and mappings",
                codes.YAML_TAG,
            )
        if tag in (_STR, "tag:yaml.org,2002:timestamp"):
            # Timestamps stay text: a date is not JSON, and the API takes no dates.
            return event.value, None
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
        try:
            value = constructor.construct_object(node)
        except (ValueError, yaml.YAMLError) as exc:
            raise self.fail(
                event.start_mark, f"cannot read value: {exc}", codes.YAML_SYNTAX
            ) from None
        finally:
            # The constructor is shared by every file and remembers each node it built (PyYAML
            # clears that only per document): without this, every number and boolean of every
            # file read stayed in memory, with its node and marks, until the process ended.
            constructor.constructed_objects.pop(node, None)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(
                event.start_mark, "infinite or NaN numbers are not allowed", codes.YAML_SYNTAX
            )
        plain = event.value if not event.style and value is not None else None
        return value, plain
