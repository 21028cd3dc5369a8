"""A composed profile's plan for the commonest call: a batch row (a ``To`` and variables) of a
profile whose templates are plain substitutions of declared variables.

The general path (``runner.flow.request.build_request``) places the number as a layer, merges
it, gathers the variables, builds a template context, renders through the renderer's
bookkeeping, coerces, and validates; for a long batch that machinery, repeated per row, costs
more than the work it does. A plan settles once, when the profile is composed, everything no row
can change (which templates, where their values go, which need converting to a number, the
connection id), and per row only fills in the values, converts, and runs the same checks (the
Unicode check, the schema check of the fields). It answers only the rows it is sure of: a
missing or oversize variable, a value that does not convert, a check that fails (anything with a
message to give) returns None, and the general path handles that row, messages and all.
tests/unit/flow/test_plan.py holds every request a plan builds equal to the general path's, over
valid and invalid rows of many profiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.diagnostics import ProfileError
from runner.flow.request import Request, _values, invalid_text
from runner.profiles.merge import Layer, Path
from runner.schema import fast
from runner.schema import files as schemas
from runner.schema.coerce import CoercionError, coerce_text, target_type
from runner.templates.render import MAX_RENDERED

if TYPE_CHECKING:
    from runner.flow.compose import Composed
    from runner.schema.fast import Check

TO: tuple[str, str] = ("call", "To")
# Names the renderer itself gives a value (or replaces): a template reading one is not plain data.
_BUILT_IN = frozenset({"to", "from", "now", "env", "profile"})


class Plan:
    """What every row of one composed profile shares (see the module docstring)."""

    def __init__(
        self,
        composed: Composed,
        call: dict[str, Any],
        fills: list[tuple[str, Path]],
        typed: list[tuple[Path, str]],
        connection_id: str,
        checks: list[tuple[str, Check]],
    ) -> None:
        self.composed = composed
        self.call = call  # the merged call without this row's To (key order kept)
        self.fills = fills  # (str.format_map pattern, where its text goes), in render order
        self.typed = typed  # (path inside the call, the schema's type) to convert
        self.connection_id = connection_id
        self.used = composed.call_templates((TO,))[1]  # the variables the templates read
        # The schema's checks of the fields a row changes (To, and those templates fill in);
        # the other fields are the composed profile's own values, checked once (make_plan).
        self.checks = checks

    def request(self, to: str, variables: Mapping[str, str], origin: str | None) -> Request | None:
        """The request ``runner.flow.request.build_request(composed, to=to,
        variables=variables, ...)`` returns, or None when this row needs that general path (it
        has a problem to report)."""
        composed = self.composed
        try:
            values = _values(composed, variables, origin, self.used)
        except ProfileError:
            return None
        body = dict(self.call)
        body["To"] = to
        copied: set[Path] = set()
        for pattern, path in self.fills:
            try:
                text = pattern.format_map(values)
            except KeyError:  # a variable with no value: the renderer falls back to Jinja
                return None
            if type(text) is not str or len(text) > MAX_RENDERED:
                return None
            _assign(body, path, text, copied)
        for path, wanted in self.typed:
            parent: Any = body
            for part in path[:-1]:
                parent = parent[part]
            try:
                parent[path[-1]] = coerce_text(parent[path[-1]], wanted)
            except CoercionError:
                return None
        provenance = dict(composed.provenance)
        # As merging a one-value layer does (runner.profiles.merge.place): the key moves last.
        previous = provenance.pop(TO, [])
        provenance[TO] = [*previous, Layer(origin or "to", {"call": {"To": to}}, kind="flag")]
        request = Request(
            profile=composed.profile,
            connection_id=self.connection_id,
            body=body,
            provenance=provenance,
            sensitive=set(),
            connection_id_sensitive=False,
        )
        if invalid_text(request):
            return None
        # The schema check validate() makes, without its messages: a body it cannot pass at
        # once (a problem, or a value the fast check leaves to jsonschema) goes the general way.
        try:
            for name, check in self.checks:
                if not check(body[name]):
                    return None
        except (fast.Unsure, RecursionError):
            return None
        return request


def _assign(body: dict[str, Any], path: Path, value: str, copied: set[Path]) -> None:
    """``render._assign`` for a path inside the call: containers on the way are copied once per
    call, so the composed profile is never changed."""
    target: Any = body
    for depth, part in enumerate(path[:-1], start=1):
        child = target[part]
        if path[:depth] not in copied:
            copied.add(path[:depth])
            child = dict(child) if isinstance(child, dict) else list(child)
            target[part] = child
        target = child
    target[path[-1]] = value


def make_plan(composed: Composed) -> Plan | None:
    """The plan for ``composed``'s batch rows, or None when its shape needs the general path
    for every row (a template that is not a plain substitution of declared variables, one that
    sets the connection id or From, a profile every call of which fails)."""
    document = composed.document
    call = document.get("call")
    if not isinstance(call, dict) or isinstance(call.get("To"), dict) or composed.unknown:
        return None
    declared = {v.name for v in composed.variables}
    templates, _ = composed.call_templates((TO,))
    fills: list[tuple[str, Path]] = []
    typed: list[tuple[Path, str]] = []
    for t in templates:
        if t.problems or t.failure is not None or t.substitute is None:
            return None
        if t.path[:1] != ("call",) or t.path == ("call", "From") or len(t.path) < 2:
            return None
        if not t.names <= declared or t.names & _BUILT_IN:
            return None
        inner = t.path[1:]
        fills.append((t.substitute, inner))
        wanted = target_type(inner)
        if wanted not in (None, "string"):
            typed.append((inner, wanted))
    typed.sort(key=lambda item: [str(x) for x in item[0]])
    connection_id = document.get("connection_id")
    if connection_id is None:
        connection_id = composed.default_connection_id
    shown = str(connection_id) if connection_id is not None else ""
    if not shown.strip():
        return None
    checks = _field_checks(call, {"To"} | {str(path[0]) for _, path in fills})
    if checks is None:
        return None
    return Plan(composed, call, fills, typed, shown, checks)


def _field_checks(call: dict[str, Any], changed: set[str]) -> list[tuple[str, Check]] | None:
    """The checks of the ``changed`` fields, once the others pass theirs (``fast.check_fields``
    split in two: what no row changes is checked here, once). None when the request schema is
    not a plain object schema, or when no row could pass (a required field missing, a fixed
    field invalid): the general path reports that."""
    found = fast.field_checks(schemas.load(schemas.REQUEST))
    if found is None:
        return None
    required, check_for = found
    if any(name not in call and name not in changed for name in required):
        return None
    try:
        for name, value in call.items():
            if name not in changed and not check_for(name)(value):
                return None
    except (fast.Unsure, RecursionError):
        return None
    return [(name, check_for(name)) for name in sorted(changed)]
