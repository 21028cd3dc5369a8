"""The one-way flow from a profile name to a request (CONVENTIONS.md, "One flow, one direction").

load -> resolve extends -> merge layers (provenance kept) -> render templates -> coerce -> validate.
Plain data in, plain data out; no click, no I/O beyond reading the profile files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError, path_to_json
from runner.profiles.merge import Layer, Path, Provenance, merge, origin_of
from runner.profiles.overrides import Overrides, VariableValue, layers, variable_values
from runner.profiles.resolve import chain
from runner.profiles.store import Store
from runner.schema import errors as schema_errors
from runner.schema import files as schemas
from runner.schema.coerce import CoercionError, target_type
from runner.templates.render import render

CODE_ABSTRACT = codes.ABSTRACT
CODE_COERCE = codes.COERCE
CODE_UNKNOWN_VAR = codes.UNKNOWN_VARIABLE
CODE_REQUEST = codes.REQUEST_SCHEMA
CODE_NO_CONNECTION = codes.NO_CONNECTION
CODE_REQUIRED = codes.REQUIRED_VARIABLE
PROFILE_KEYS = ("connection_id", "variables", "call")
REDACTED = "***"


@dataclass
class Request:
    """A validated request, ready to print or submit."""

    profile: str
    connection_id: str
    body: dict[str, Any]
    provenance: Provenance = field(repr=False)
    sensitive: set[Path] = field(default_factory=set)  # body paths, e.g. ("SipAuthPassword",)
    connection_id_sensitive: bool = False

    def origin(self, path: Path) -> str | None:
        """Where the value at body ``path`` came from: ``file:line:col`` or the flag."""
        hit = origin_of(self.provenance, ("call", *path))
        return hit[0].where(("call", *path)) if hit else None

    def history(self, path: Path) -> list[Layer]:
        """Every layer that set ``path``, lowest first (the last one won)."""
        return list(self.provenance.get(("call", *path), []))

    def is_sensitive(self, path: Path) -> bool:
        return any(path[: len(s)] == s for s in self.sensitive) or schemas.is_sensitive(path)

    def redacted_body(self, show_secrets: bool = False) -> dict[str, Any]:
        if show_secrets:
            return self.body
        return _redact(self.body, (), self.is_sensitive)

    def shown_connection_id(self, show_secrets: bool = False) -> str:
        if self.connection_id_sensitive and not show_secrets:
            return REDACTED
        return self.connection_id

    def secret_values(self) -> list[str]:
        """The actual secret strings in this request, for scrubbing free text (error output)."""
        found: list[str] = []

        def walk(value: Any, path: Path) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, (*path, k))
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, (*path, i))
            elif isinstance(value, str) and self.is_sensitive(path) and value:
                found.append(value)

        walk(self.body, ())
        if self.connection_id_sensitive:
            found.append(self.connection_id)
        return found


def _redact(value: Any, path: Path, hide: Any) -> Any:
    if hide(path) and path:
        return REDACTED
    if isinstance(value, dict):
        return {k: _redact(v, (*path, k), hide) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, (*path, i), hide) for i, v in enumerate(value)]
    return value


def merged_document(
    store: Store, name: str, overrides: Overrides | None = None
) -> tuple[dict[str, Any], Provenance, list[Layer]]:
    """Resolve ``name`` and merge its chain and ``overrides``. Returns the document, its
    provenance, and the layers applied (lowest first)."""
    profiles = chain(store, name)
    applied = [
        Layer(
            p.file,
            {k: p.data[k] for k in PROFILE_KEYS if k in p.data},
            kind="file",
            source=p.source,
        )
        for p in profiles
    ]
    applied.extend(layers(overrides or Overrides()))
    document: dict[str, Any] = {}
    prov: Provenance = {}
    for layer in applied:
        document = merge(document, layer, prov)
    return document, prov, applied


def build(
    store: Store,
    name: str,
    overrides: Overrides | None = None,
    *,
    row_values: Mapping[str, str] | None = None,
    row_origin: str = "row",
    now: datetime | None = None,
    env: Mapping[str, str] | None = None,
    allow_abstract: bool = False,
    default_connection_id: str | None = None,
) -> Request:
    """Build and validate the request for profile ``name``. Raises ProfileError.

    ``row_values`` are per-call variable values (a batch row), applied above ``--var``; names
    the profile does not declare are ignored there, so a contacts file may carry extra columns.
    """
    overrides = overrides or Overrides()
    top = store.load(name)
    if top.abstract and not allow_abstract:
        raise ProfileError(
            [
                top.source.diag(
                    ("abstract",),
                    f"profile {name!r} is abstract: a fragment meant to be extended, not run",
                    CODE_ABSTRACT,
                )
            ]
        )
    document, prov, _ = merged_document(store, name, overrides)
    values = _variables(document, prov, overrides, row_values or {}, row_origin)
    rendered = render(document, prov, values, profile=name, now=now, env=env)
    if rendered.diagnostics:
        raise ProfileError(rendered.diagnostics)
    body = rendered.call
    problems = _coerce(body, rendered.rendered, prov, rendered.sensitive)
    if problems:
        raise ProfileError(problems)
    sensitive = {p[1:] for p in rendered.sensitive if p[:1] == ("call",)}
    connection_id = rendered.connection_id
    if connection_id is None:
        connection_id = default_connection_id or os.environ.get("TELNYX_CONNECTION_ID")
    request = Request(
        profile=name,
        connection_id=str(connection_id) if connection_id is not None else "",
        body=body,
        provenance=prov,
        sensitive=sensitive,
        connection_id_sensitive=("connection_id",) in rendered.sensitive,
    )
    problems = validate(request)
    if not request.connection_id.strip():
        problems.append(
            Diagnostic(
                "no connection id: set connection_id in the profile, pass --connection-id, "
                "or set TELNYX_CONNECTION_ID",
                CODE_NO_CONNECTION,
                origin=f"profile {name}",
            )
        )
    if problems:
        raise ProfileError(problems)
    return request


def _variables(
    document: dict[str, Any],
    prov: Provenance,
    overrides: Overrides,
    row_values: Mapping[str, str],
    row_origin: str,
) -> dict[str, str]:
    declared: dict[str, Any] = document.get("variables") or {}
    given = variable_values(overrides)
    for key, value in row_values.items():
        if key in declared:
            given[key] = VariableValue(value, row_origin)
    problems: list[Diagnostic] = []
    for key, value in given.items():
        if key not in declared and value.origin != row_origin:
            problems.append(
                Diagnostic(
                    f"the profile declares no variable {key!r}"
                    f"{schema_errors.did_you_mean(key, list(declared)) or ''}"
                    + ("" if declared else " (it declares none)"),
                    CODE_UNKNOWN_VAR,
                    origin=value.origin,
                )
            )
    values: dict[str, str] = {}
    for key, spec in declared.items():
        spec = spec or {}
        if key in given:
            values[key] = given[key].value
        elif isinstance(spec.get("default"), str):
            values[key] = spec["default"]
        elif spec.get("required"):
            message = f"required variable {key!r} was not given (--var {key}=...)"
            hit = origin_of(prov, ("variables", key))
            if hit is not None and hit[0].source is not None:
                # Point at the declaration's name, where a reader looks for it.
                problems.append(
                    hit[0].source.diag(("variables", key), message, CODE_REQUIRED, at_key=True)
                )
            else:
                problems.append(
                    Diagnostic(message, CODE_REQUIRED, json_path=path_to_json(("variables", key)))
                )
    if problems:
        raise ProfileError(problems)
    return values


def _coerce(
    body: dict[str, Any],
    rendered: set[Path],
    prov: Provenance,
    sensitive: set[Path] | frozenset[Path] = frozenset(),
) -> list[Diagnostic]:
    from runner.schema.coerce import coerce_text

    problems: list[Diagnostic] = []
    for path in sorted(rendered, key=lambda p: [str(x) for x in p]):
        if path[:1] != ("call",):
            continue
        inner = path[1:]
        wanted = target_type(inner)
        if wanted in (None, "string"):
            continue
        parent: Any = body
        for part in inner[:-1]:
            parent = parent[part]
        try:
            parent[inner[-1]] = coerce_text(parent[inner[-1]], wanted)
        except CoercionError:
            hit = origin_of(prov, path)
            file, line, col = hit[0].position(path) if hit else (None, None, None)
            # A value built from env is as secret as env itself.
            hidden = schemas.is_sensitive(inner) or path in sensitive
            shown = "a value" if hidden else repr(parent[inner[-1]])
            article = "an" if wanted[0] in "aeiou" else "a"
            problems.append(
                Diagnostic(
                    f"{'.'.join(map(str, inner))}: the template rendered {shown}, "
                    f"which is not {article} {wanted}",
                    CODE_COERCE,
                    file=file,
                    line=line,
                    col=col,
                    json_path=path_to_json(path),
                )
            )
    return problems


def validate(request: Request) -> list[Diagnostic]:
    """Check the final body against the request schema; each problem names where the value
    came from."""
    found: list[Diagnostic] = []
    for problem in schema_errors.problems(schemas.REQUEST, request.body, hide=request.is_sensitive):
        found.append(_place(request, problem))
    return found


def _place(request: Request, problem: schema_errors.Problem) -> Diagnostic:
    path = problem.path
    field_name = ".".join(str(p) for p in path) or "request"
    message = f"{field_name}: {problem.message}"
    if problem.message.startswith("missing required field"):
        missing = problem.message.split("'")[1]
        hint = {"To": " (give it with --to)", "From": " (set it in the profile or with --from)"}
        message = f"missing required field {missing!r}{hint.get(missing, '')}"
    hit = origin_of(request.provenance, ("call", *path))
    if hit is None:
        return Diagnostic(
            message,
            problem.code if problem.code != codes.SCHEMA else CODE_REQUEST,
            origin=f"profile {request.profile}",
            json_path=path_to_json(path),
        )
    layer = hit[0]
    code = problem.code if problem.code != codes.SCHEMA else CODE_REQUEST
    if layer.source is None:
        return Diagnostic(message, code, origin=layer.label, json_path=path_to_json(path))
    file, line, col = layer.position(("call", *path))
    span = layer.source.span(("call", *path))
    if problem.at_key and span is not None and span.key_line is not None:
        line, col = span.key_line, span.key_col
    return Diagnostic(
        message, code, file=file, line=line, col=col, json_path=path_to_json(("call", *path))
    )
