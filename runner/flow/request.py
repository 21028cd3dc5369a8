"""Render per call: a composed profile and one call's values -> a validated Request.

variables (declared defaults, the overrides', this call's) -> render the compiled templates ->
coerce rendered text to the schema's types -> validate the body -> the connection id. Nothing
here reads a file: ``runner.flow.compose`` did that once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError, path_to_json
from runner.profiles.merge import Layer, Path, Provenance, origin_of, place
from runner.schema import errors as schema_errors
from runner.schema import files as schemas
from runner.schema.coerce import CoercionError, coerce_text, target_type
from runner.secrets import MIN_SECRET_LENGTH
from runner.templates.budget import MAX_VALUE
from runner.templates.render import context_for, render
from runner.treewalk import DESCEND, leaves, rebuild

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from runner.flow.compose import Composed

REDACTED = "***"
_TEXT = (None, "string")  # target types a rendered text needs no conversion for


@dataclass
class Request:
    """A validated request, ready to print or submit."""

    profile: str
    connection_id: str
    # Read-only: the parts no template or call changed are shared with the composed profile
    # (and so with every other call of it). Copy before changing anything.
    body: dict[str, Any]
    provenance: Provenance = field(repr=False)
    sensitive: set[Path] = field(default_factory=set)  # body paths, e.g. ("SipAuthPassword",)
    connection_id_sensitive: bool = False
    # The secret values, worked out on first use: printing a request asks three times.
    _secrets: list[str] | None = field(default=None, init=False, repr=False, compare=False)
    _json: str | None = field(default=None, init=False, repr=False, compare=False)

    def body_json(self) -> str:
        """``json.dumps(body, ensure_ascii=False)``, encoded once: the Unicode check made while
        building the request already encoded it, and a dry run prints it."""
        if self._json is None:
            self._json = _encoder().encode(self.body)
        return self._json

    def origin(self, path: Path) -> str | None:
        """Where the value at body ``path`` came from: ``file:line:col`` or the flag."""
        hit = origin_of(self.provenance, ("call", *path))
        return hit[0].where(("call", *path)) if hit else None

    def history(self, path: Path) -> list[Layer]:
        """Every layer that set ``path``, lowest first (the last one won)."""
        return list(self.provenance.get(("call", *path), []))

    def is_sensitive(self, path: Path) -> bool:
        return any(path[: len(s)] == s for s in self.sensitive) or schemas.is_sensitive(path)

    def _secret_fields(self) -> list[str]:
        """The body's top-level fields that are, or may hold, a secret."""
        secret = schemas.sensitive_fields()
        if not self.sensitive and secret.isdisjoint(self.body):
            return []  # the common case, answered without a pass in Python
        marked = {s[0] for s in self.sensitive if s}
        return [k for k in self.body if k in secret or k in marked]

    def redacted_body(self, show_secrets: bool = False) -> dict[str, Any]:
        """The body with secrets shown as ``***``. Fields that cannot hold one are the body's
        own values, not copies: treat the result, like ``body``, as read-only."""
        secret = self._secret_fields()
        if show_secrets or not secret:
            return self.body
        hide = self.is_sensitive
        secrets = self._secret_texts()

        def redact(path: Path, value: Any) -> Any:
            # A secret is hidden by where it is and by what it is: a field holding a copy of
            # a secret value (a literal copy, or text Telnyx echoes back) is hidden too.
            if path and (hide(path) or (isinstance(value, str) and _holds(value, secrets))):
                return REDACTED
            return DESCEND

        out = dict(self.body)
        for key in self.body:
            if key in secret or any(
                isinstance(v, str) and _holds(v, secrets) for _, v in leaves(self.body[key])
            ):
                out[key] = rebuild(self.body[key], redact, (key,))
        return out

    def shown_connection_id(self, show_secrets: bool = False) -> str:
        hidden = self.connection_id_sensitive or _holds(self.connection_id, self._secret_texts())
        if hidden and not show_secrets:
            return REDACTED
        return self.connection_id

    def _secret_texts(self) -> list[str]:
        return [s for s in self.secret_values() if len(s) >= MIN_SECRET_LENGTH]

    def secret_values(self) -> list[str]:
        """The actual secret strings in this request, for scrubbing free text (error output)."""
        if self._secrets is not None:
            return list(self._secrets)
        found = [
            value
            for key in self._secret_fields()
            for path, value in leaves(self.body[key], (key,))
            if isinstance(value, str) and value and self.is_sensitive(path)
        ]
        if self.connection_id_sensitive:
            found.append(self.connection_id)
        self._secrets = found
        return list(found)


def _holds(text: str, secrets: list[str]) -> bool:
    return any(secret in text for secret in secrets)


def build_request(
    composed: Composed,
    *,
    to: str | None,
    from_: str | None,
    variables: Mapping[str, str],
    origin: str | None,
    now: datetime | None,
) -> Request:
    """One call of ``composed`` (see ``Composed.request``). Raises ProfileError."""
    document, prov = composed.document, composed.provenance
    replaced: list[tuple[str, str]] = []
    for key, value, label in (("To", to, "to"), ("From", from_, "from")):
        if value is not None:
            if not replaced:
                prov = dict(prov)  # this call's layers must not leak into the next call's
            layer = Layer(origin or label, {"call": {key: value}}, kind="flag")
            document = place(document, ("call", key), layer, prov)
            replaced.append(("call", key))
    templates, used = composed.call_templates(tuple(replaced))
    values = _values(composed, variables, origin, used)
    context = context_for(values, profile=composed.profile, now=now, env=composed.env)
    rendered = render(templates, document, context)
    if rendered.diagnostics:
        raise ProfileError(rendered.diagnostics)
    body = rendered.call
    problems = _coerce(body, rendered.rendered, prov, rendered.sensitive)
    if problems:
        raise ProfileError(problems)
    connection_id = rendered.connection_id
    if connection_id is None:
        connection_id = composed.default_connection_id
    request = Request(
        profile=composed.profile,
        connection_id=str(connection_id) if connection_id is not None else "",
        body=body,
        provenance=prov,
        sensitive={p[1:] for p in rendered.sensitive if p[:1] == ("call",)},
        connection_id_sensitive=("connection_id",) in rendered.sensitive,
    )
    problems = invalid_text(request) or validate(request, composed.valid_fields)
    if not request.connection_id.strip():
        problems.append(
            Diagnostic(
                "no connection id: set connection_id in the profile or TELNYX_CONNECTION_ID",
                codes.NO_CONNECTION,
                origin=f"profile {composed.profile}",
                field="connection_id",
                absent=True,
            )
        )
    if problems:
        raise ProfileError(problems)
    return request


def _values(
    composed: Composed,
    variables: Mapping[str, str],
    origin: str | None,
    used: frozenset[str],
) -> dict[str, str]:
    """Each declared variable's value for this call: this call's, else the overrides', else
    the default. Missing required variables and values for undeclared ones are reported
    together. A required variable that no template of this call reads (``used``) is not
    needed: a values file, render's own output fed back with -f, replaced what read it."""
    given = composed.given
    problems = list(composed.unknown)
    values: dict[str, str] = {}
    for var in composed.variables:
        if var.name in variables:
            values[var.name] = variables[var.name]
            where = origin or f"variable {var.name}"
        elif var.name in given:
            values[var.name] = given[var.name].value
            where = given[var.name].label
        elif var.default is not None:
            values[var.name] = var.default
            continue
        else:
            if var.required and var.name in used:
                problems.append(var.missing)
            continue
        if len(values[var.name]) > MAX_VALUE:
            # Templates could multiply it; no field takes so long a value anyway.
            problems.append(
                Diagnostic(
                    f"the value for variable {var.name!r} is {len(values[var.name])} "
                    f"characters long; templates take at most {MAX_VALUE}",
                    codes.VARIABLE_TOO_LONG,
                    origin=where,
                    variable=var.name,
                )
            )
    if problems:
        raise ProfileError(problems)
    return values


def _typed(path: Path) -> bool:
    """Does the rendered text at ``path`` need converting to the schema's type? (Cached by
    path: every row of a batch renders the same paths.)"""
    found = _TYPED.get(path)
    if found is None:
        if len(_TYPED) >= 4096:  # as target_type's own cache: many profiles, bounded memory
            _TYPED.clear()
        found = _TYPED[path] = path[:1] == ("call",) and target_type(path[1:]) not in _TEXT
    return found


_TYPED: dict[Path, bool] = {}


def _coerce(
    body: dict[str, Any],
    rendered: set[Path],
    prov: Provenance,
    sensitive: set[Path] | frozenset[Path] = frozenset(),
) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    typed = [p for p in rendered if _typed(p)]
    for path in sorted(typed, key=lambda p: [str(x) for x in p]):
        inner = path[1:]
        wanted = target_type(inner)
        assert wanted is not None
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
            name = ".".join(map(str, inner))
            problems.append(
                Diagnostic(
                    f"{name}: the template rendered {shown}, which is not {article} {wanted}",
                    codes.COERCE,
                    file=file,
                    line=line,
                    col=col,
                    json_path=path_to_json(path),
                    field=name,
                )
            )
    return problems


def invalid_text(request: Request) -> list[Diagnostic]:
    """Strings that cannot be sent because they are not valid Unicode: a flag or environment
    value holding bytes that are not UTF-8, or a lone surrogate spelled in JSON."""
    if _all_valid_unicode(request):
        return []
    return invalid_text_walk(request)


def invalid_text_walk(request: Request) -> list[Diagnostic]:
    """``invalid_text`` by visiting every key and string (the general path: it names them)."""
    from runner.textsafety import describe_invalid, is_valid_unicode

    found: list[Diagnostic] = []

    def report(path: Path, text: str, label: str) -> None:
        message = (
            f"{label}: the text is not valid Unicode ({describe_invalid(text)}); if it comes "
            "from a flag or an environment variable, that value is not UTF-8"
        )
        hit = origin_of(request.provenance, path)
        if hit is None:
            where: dict[str, Any] = {"origin": f"profile {request.profile}"}
        elif hit[0].source is None:
            where = {"origin": hit[0].label}
        else:
            file, line, col = hit[0].position(path)
            where = {"file": file, "line": line, "col": col}
        found.append(Diagnostic(message, codes.INVALID_TEXT, **where))

    for path, value in leaves(request.body, ("call",)):
        if isinstance(value, str) and not is_valid_unicode(value):
            report(path, value, ".".join(str(p) for p in path[1:]))
        keys = [k for k in path[1:] if isinstance(k, str) and not is_valid_unicode(k)]
        if keys:
            report(path, keys[0], "a key")
    if not is_valid_unicode(request.connection_id):
        report(("connection_id",), request.connection_id, "connection_id")
    return found


@cache
def _encoder() -> Any:
    """The encoder of ``json.dumps(value, ensure_ascii=False)``, made once."""
    import json

    return json.JSONEncoder(ensure_ascii=False)


def _all_valid_unicode(request: Request) -> bool:
    """True when no key or string in the body, nor the connection id, holds a lone surrogate:
    the common case, answered by one C-level JSON encoding instead of a walk over every leaf.
    JSON without ``ensure_ascii`` keeps a lone surrogate as it is, so the UTF-8 encoding of
    the text fails exactly when ``invalid_text``'s walk would find one
    (tests/adversarial/test_dryrun_fastpaths.py). The encoding is kept for ``body_json``."""
    try:
        text = _encoder().encode(request.body)
        text.encode("utf-8")
        request.connection_id.encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError, RecursionError):
        return False  # the walk says which value, and a body JSON cannot hold is not ours to say
    request._json = text
    return True


def validate(request: Request, known: dict[str, Any] | None = None) -> list[Diagnostic]:
    """Check the final body against the request schema; each problem names where the value
    came from. ``known``: fields found valid by earlier calls of the same composed profile."""
    found: list[Diagnostic] = []
    body = request.body
    hide = request.is_sensitive
    for problem in schema_errors.problems(schemas.REQUEST, body, hide=hide, known=known):
        found.append(_place(request, problem))
    return found


def _place(request: Request, problem: schema_errors.Problem) -> Diagnostic:
    path = problem.path
    name = ".".join(str(p) for p in path) or "request"
    message = f"{name}: {problem.message}"
    absent = problem.missing is not None
    if problem.missing is not None:
        message = problem.message
        name = ".".join(str(p) for p in (*path, problem.missing))
    code = problem.code if problem.code != codes.SCHEMA else codes.REQUEST_SCHEMA
    hit = origin_of(request.provenance, ("call", *path))
    if hit is None:
        return Diagnostic(
            message,
            code,
            origin=f"profile {request.profile}",
            json_path=path_to_json(path),
            field=name,
            absent=absent,
        )
    layer = hit[0]
    if layer.source is None:
        return Diagnostic(
            message,
            code,
            origin=layer.label,
            json_path=path_to_json(path),
            field=name,
            absent=absent,
        )
    file, line, col = layer.position(("call", *path))
    span = layer.source.span(("call", *path))
    if problem.at_key and span is not None and span.key_line is not None:
        line, col = span.key_line, span.key_col
    return Diagnostic(
        message,
        code,
        file=file,
        line=line,
        col=col,
        json_path=path_to_json(("call", *path)),
        field=name,
        absent=absent,
    )
