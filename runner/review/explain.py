"""Why each field of a request has its value: the layer that set it and the layers it overrode."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from runner.flow.request import REDACTED, Request
from runner.profiles.merge import Layer, Path
from runner.templates.render import is_template
from runner.treewalk import leaves

_MISSING = object()


@dataclass
class Row:
    field: str  # "connection_id", or a body path such as "AIAssistantDynamicVariables.name"
    path: Path  # the path in the profile document: ("call", ...) or ("connection_id",)
    value: Any
    set_by: str
    template: bool = False  # the winning value was a template, rendered for this call
    # (where, value), oldest first
    overrode: list[tuple[str, Any]] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "value": self.value,
            "set_by": self.set_by,
            "template": self.template,
            "overrode": [{"set_by": w, "value": v} for w, v in self.overrode],
        }


def explain(
    request: Request,
    *,
    show_secrets: bool = False,
    connection_default: str = "TELNYX_CONNECTION_ID",
    relabel: dict[str, str] | None = None,
) -> list[Row]:
    """One row per leaf of the request (lists count as one value: they replace whole), the
    connection id first. ``relabel`` renames flag layers (a stand-in ``--to`` is not the
    user's ``--to``)."""
    relabel = relabel or {}
    rows = [
        _row(
            request,
            "connection_id",
            ("connection_id",),
            request.shown_connection_id(show_secrets),
            request.connection_id_sensitive and not show_secrets,
            connection_default,
            relabel,
        )
    ]
    for path, value in leaves(request.redacted_body(show_secrets), lists=False):
        hidden = not show_secrets and request.is_sensitive(path)
        name = ".".join(str(p) for p in path)
        rows.append(_row(request, name, ("call", *path), value, hidden, "?", relabel))
    return rows


def _row(
    request: Request,
    name: str,
    path: Path,
    value: Any,
    hidden: bool,
    default: str,
    relabel: dict[str, str],
) -> Row:
    history = list(request.provenance.get(path, []))
    if not history:
        return Row(name, path, value, default)
    winner = history[-1]
    raw = _value_in(winner, path)
    row = Row(
        name,
        path,
        value,
        _label(winner, path, relabel),
        template=winner.is_template and isinstance(raw, str) and is_template(raw),
    )
    for layer in history[:-1]:
        old = _value_in(layer, path)
        row.overrode.append(
            (_label(layer, path, relabel), REDACTED if hidden and old is not _MISSING else old)
        )
    return row


def _label(layer: Layer, path: Path, relabel: dict[str, str]) -> str:
    return (
        relabel.get(layer.label, layer.where(path)) if layer.kind == "flag" else layer.where(path)
    )


def _value_in(layer: Layer, path: Path) -> Any:
    value: Any = layer.data
    for part in path:
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (in_list or (isinstance(value, dict) and part in value)):
            return _MISSING
        value = value[part]
    return value


ELLIPSIS = "…"
MIN_VALUE = 12  # narrowest value column worth showing beside the others


def _show(value: Any) -> str:
    import json

    return "(mapping)" if value is _MISSING else json.dumps(value, ensure_ascii=False)


def _cut(text: str, room: int) -> str:
    """``text`` in ``room`` characters: values are cut (with an ellipsis), never locations."""
    room = max(room, 1)
    return text if len(text) <= room else text[: room - 1] + ELLIPSIS


def table(rows: list[Row], width: int | None = None) -> str:
    """The explain table. With ``width`` (a terminal's columns) it fits: values are cut to fit,
    and the values a field overrode move to lines of their own below it; field names and
    locations are always printed whole."""
    lines = [("FIELD", "VALUE", "SET BY", "OVERRODE")]
    for row in rows:
        set_by = row.set_by + (" (template)" if row.template else "")
        overrode = ", ".join(f"{w} ({_show(v)})" for w, v in reversed(row.overrode))
        lines.append((row.field, _show(row.value), set_by, overrode))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    if width is None or sum(widths) + 6 <= width:
        return "".join(
            f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() + "\n"
            for a, b, c, d in lines
        )
    return _fitted(rows, lines, widths, width)


def _fitted(
    rows: list[Row], lines: list[tuple[str, str, str, str]], widths: list[int], width: int
) -> str:
    field_w, set_w = widths[0], widths[2]
    value_w = min(widths[1], width - field_w - set_w - 4)
    out: list[str] = []
    if value_w >= MIN_VALUE:
        # FIELD  VALUE (cut)  SET BY, then "overrode" lines under the row.
        for i, (field, value, set_by, _) in enumerate(lines):
            shown = value if i == 0 else _cut(value, value_w)
            out.append(f"{field:<{field_w}}  {shown:<{value_w}}  {set_by}".rstrip())
            if i:
                out.extend(_overrode(rows[i - 1], field_w + 2, width))
        return "\n".join(out) + "\n"
    if field_w + set_w + 2 <= width:
        # FIELD  SET BY, the value below it.
        out.append(f"{'FIELD':<{field_w}}  SET BY")
        for row, (field, value, set_by, _) in zip(rows, lines[1:], strict=True):
            out.append(f"{field:<{field_w}}  {set_by}")
            out.append("  = " + _cut(value, width - 4))
            out.extend(_overrode(row, 2, width))
        return "\n".join(out) + "\n"
    # Too narrow for columns: one block per field.
    for row, (field, value, set_by, _) in zip(rows, lines[1:], strict=True):
        out.append(field)
        out.append(f"  set by {set_by}")
        out.append("  = " + _cut(value, width - 4))
        out.extend(_overrode(row, 2, width))
    return "\n".join(out) + "\n"


def _overrode(row: Row, indent: int, width: int) -> list[str]:
    out = []
    for where, value in reversed(row.overrode):
        head = f"{' ' * indent}overrode {where} ("
        out.append(head + _cut(_show(value), width - len(head) - 1) + ")")
    return out
