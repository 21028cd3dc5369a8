"""Compose once: a profile name and overrides -> everything about the call that is the same for
every call (docs/architecture.md, "The flow").

load -> resolve extends -> read overrides (values and vars files, each read and checked once)
-> merge the layers (provenance kept) -> compile the templates (once, on first use).
``Composed.request`` then renders, coerces and validates one call (``runner.flow.request``), so a
batch composes its profile once and renders each row. Plain data in, plain data out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path as FilePath

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError, path_to_json
from runner.profiles.merge import Layer, Provenance, merge, origin_of
from runner.profiles.overrides import Overrides, VariableValue, layers, variable_values
from runner.profiles.resolve import chain
from runner.profiles.store import Store
from runner.record import Record
from runner.schema import errors as schema_errors
from runner.templates.render import template_env

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from runner.flow.plan import Plan
    from runner.flow.request import Request
    from runner.templates.render import Template

PROFILE_KEYS = ("connection_id", "variables", "call")


class Variable(Record):
    """A declared variable, read once: what a call gets when it gives no value."""

    __slots__ = ("default", "missing", "name", "required")
    name: str
    default: str | None
    required: bool
    missing: Diagnostic  # reported when a required variable gets no value

    def __init__(self, name: str, default: str | None, required: bool, missing: Diagnostic) -> None:
        self._set(name=name, default=default, required=required, missing=missing)


@dataclass
class Composed:
    """A profile merged with its overrides: compose once, then ``request()`` per call."""

    profile: str
    document: dict[str, Any]  # the merged profile: connection_id, variables, call
    provenance: Provenance
    layers: list[Layer]  # lowest first
    given: dict[str, VariableValue] = field(default_factory=dict)  # from the overrides
    unknown: list[Diagnostic] = field(default_factory=list)  # values for undeclared variables
    env: Mapping[str, str] | None = None  # what templates see as ``env`` (read when composed)
    default_connection_id: str | None = None
    # Request fields found valid by an earlier call, by value (see schema.fast.check_fields).
    valid_fields: dict[str, Any] = field(default_factory=dict, repr=False)
    _without: dict[tuple[tuple[str, str], ...], tuple[list[Template], frozenset[str]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def declared(self) -> dict[str, Any]:
        found = self.document.get("variables")
        return found if isinstance(found, dict) else {}

    @cached_property
    def variables(self) -> list[Variable]:
        return [_variable(self.provenance, name, spec) for name, spec in self.declared.items()]

    @cached_property
    def templates(self) -> list[Template]:
        """Every template of the merged profile, parsed and compiled once for all calls."""
        from runner.templates.render import compile_templates

        return compile_templates(self.document, self.provenance, set(self.declared))

    @cached_property
    def plan(self) -> Plan | None:
        """The precompiled path for batch rows (runner.flow.plan), when this profile has one."""
        from runner.flow.plan import make_plan

        return make_plan(self)

    def call_templates(
        self, replaced: tuple[tuple[str, str], ...]
    ) -> tuple[list[Template], frozenset[str]]:
        """The templates a call renders when it sets the values at ``replaced`` itself, and
        the names they read (worked out once per kind of call)."""
        found = self._without.get(replaced)
        if found is None:
            templates = [t for t in self.templates if t.path[:2] not in replaced]
            found = (templates, frozenset(n for t in templates for n in t.names))
            self._without[replaced] = found
        return found

    def request(
        self,
        *,
        to: str | None = None,
        from_: str | None = None,
        variables: Mapping[str, str] | None = None,
        origin: str | None = None,
        now: datetime | None = None,
    ) -> Request:
        """Render, coerce and validate one call. Raises ProfileError.

        ``to``/``from_`` set the numbers for this call (above every layer); ``variables`` are
        this call's values (above the overrides'), and names the profile does not declare are
        ignored, so a contacts row may carry extra columns. ``origin`` names where these values
        came from in messages (a contacts row, say).
        """
        from runner.flow.request import build_request

        if to is not None and from_ is None and self.plan is not None:  # a batch row, say
            found = self.plan.request(to, variables or {}, origin)
            if found is not None:
                return found
        return build_request(
            self, to=to, from_=from_, variables=variables or {}, origin=origin, now=now
        )


def compose(
    store: Store | str | os.PathLike[str],
    name: str,
    overrides: Overrides | None = None,
    *,
    allow_abstract: bool = False,
    default_connection_id: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Composed:
    """Load profile ``name`` from ``store`` (a Store or a profiles directory) and lay the
    overrides on it. Raises ProfileError for anything no call could fix: a broken or abstract
    profile, a bad values or vars file.

    The connection id, when neither the profile nor the overrides set one, is
    ``default_connection_id``, else ``TELNYX_CONNECTION_ID``. ``env``: what templates see as
    ``env`` (default: the ``CALLPROFILE_*`` environment variables, read here once).
    """
    if not isinstance(store, Store):
        store = Store(FilePath(store))
    overrides = overrides or Overrides()
    top = store.load(name)
    if top.abstract and not allow_abstract:
        message = f"profile {name!r} is abstract: a fragment meant to be extended, not run"
        raise ProfileError([top.source.diag(("abstract",), message, codes.ABSTRACT)])
    document, prov, applied = merged_document(store, name, overrides)
    composed = Composed(
        profile=name,
        document=document,
        provenance=prov,
        layers=applied,
        given=variable_values(overrides),
        env=env if env is not None else template_env(),
        default_connection_id=default_connection_id or os.environ.get("TELNYX_CONNECTION_ID"),
    )
    composed.unknown = _unknown(composed.declared, composed.given)
    return composed


def merged_document(
    store: Store, name: str, overrides: Overrides | None = None
) -> tuple[dict[str, Any], Provenance, list[Layer]]:
    """Resolve ``name`` and merge its chain and ``overrides``: the document, its provenance,
    and the layers applied (lowest first). Templates are neither compiled nor rendered."""
    applied = [
        Layer(
            p.file,
            {k: p.data[k] for k in PROFILE_KEYS if k in p.data},
            kind="file",
            source=p.source,
        )
        for p in chain(store, name)
    ]
    applied.extend(layers(overrides or Overrides()))
    document: dict[str, Any] = {}
    prov: Provenance = {}
    for layer in applied:
        document = merge(document, layer, prov)
    return document, prov, applied


def _unknown(declared: dict[str, Any], given: dict[str, VariableValue]) -> list[Diagnostic]:
    problems = []
    for key, value in given.items():
        if key not in declared:
            hint = schema_errors.did_you_mean(key, list(declared)) or ""
            message = f"the profile declares no variable {key!r}{hint}" + (
                "" if declared else " (it declares none)"
            )
            problems.append(
                Diagnostic(message, codes.UNKNOWN_VARIABLE, origin=value.label, variable=key)
            )
    return problems


def _variable(prov: Provenance, name: str, spec: Any) -> Variable:
    spec = spec if isinstance(spec, dict) else {}
    default = spec.get("default")
    message = f"required variable {name!r} was not given"
    hit = origin_of(prov, ("variables", name))
    if hit is not None and hit[0].source is not None:
        # Point at the declaration's name, where a reader looks for it.
        missing = hit[0].source.diag(
            ("variables", name), message, codes.REQUIRED_VARIABLE, at_key=True
        )
        missing = _about(missing, name)
    else:
        missing = Diagnostic(
            message,
            codes.REQUIRED_VARIABLE,
            json_path=path_to_json(("variables", name)),
            variable=name,
            absent=True,
        )
    return Variable(
        name,
        default if isinstance(default, str) else None,
        bool(spec.get("required")),
        missing,
    )


def _about(diag: Diagnostic, variable: str) -> Diagnostic:
    from dataclasses import replace

    return replace(diag, variable=variable, absent=True)
