"""Stand-in inputs for rendering a profile nobody is calling yet (validate, explain, diff).

A review needs the request a profile would send, but the number to call and the variable values
only arrive at call time. Each missing required input gets a stand-in, and the caller is told
which ones, so output is never mistaken for a real call: the variable's ``example`` (else a
visible ``example-NAME``), and a reserved fictional number for ``To``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner import codes
from runner.diagnostics import Diagnostic
from runner.flow.compose import Composed
from runner.profiles.merge import Provenance, origin_of

if TYPE_CHECKING:
    from runner.flow.request import Request

# 555-01xx numbers are reserved for fiction in North America: never a real person.
PLACEHOLDER_TO = "+15555550100"
PLACEHOLDER_CONNECTION = "placeholder-connection-id"


@dataclass
class StandIns:
    """What to give ``Composed.request`` so the profile renders: ``to`` (None when the profile
    has a To) and ``variables``."""

    to: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # variables given their `example`
    invented: list[str] = field(default_factory=list)  # variables given "example-NAME"
    diagnostics: list[Diagnostic] = field(default_factory=list)
    env: dict[str, str] | None = None  # CALLPROFILE_* variables, with stand-ins for unset ones
    env_stand_ins: list[str] = field(default_factory=list)  # the unset names given stand-ins

    @property
    def placeholder_to(self) -> bool:
        return self.to is not None

    @property
    def used(self) -> bool:
        return bool(self.placeholder_to or self.examples or self.invented or self.env_stand_ins)


def stand_ins(composed: Composed) -> StandIns:
    """Stand-ins for every required input ``composed`` lacks (its overrides give the rest)."""
    out = StandIns()
    for var, spec in composed.declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if var in composed.given or isinstance(spec.get("default"), str):
            continue
        example = spec.get("example")
        if isinstance(example, str):
            out.examples.append(var)
        else:
            example = f"example-{var}"
            out.invented.append(var)
            if spec.get("required"):
                out.diagnostics.append(_no_example(composed.provenance, var))
        out.variables[var] = example
    call = composed.document.get("call") or {}
    if "To" not in call:
        out.to = PLACEHOLDER_TO
    _env_stand_ins(composed, out)
    return out


def _env_stand_ins(composed: Composed, out: StandIns) -> None:
    """A review runs where secrets are rightly absent (pre-commit, CI): an unset
    ``env.CALLPROFILE_*`` gets a stand-in, and the caller says so."""
    from runner.templates.envvars import ENV_PREFIX, stand_in
    from runner.templates.render import env_read, template_env

    names = {name for t in composed.templates for name in env_read(t)}
    env = dict(composed.env if composed.env is not None else template_env())
    missing = sorted(n for n in names if n.startswith(ENV_PREFIX) and n not in env)
    if missing:
        env.update({name: stand_in(name) for name in missing})
        out.env = env
        out.env_stand_ins = missing


def _no_example(prov: Provenance, var: str) -> Diagnostic:
    message = (
        f"required variable {var!r} has no example; it was rendered with a placeholder "
        "(add 'example:' so reviews see real-looking values)"
    )
    hit = origin_of(prov, ("variables", var))
    if hit is None or hit[0].source is None:
        return Diagnostic(message, codes.NO_EXAMPLE, severity="warning", variable=var)
    return hit[0].source.diag(
        ("variables", var), message, codes.NO_EXAMPLE, at_key=True, severity="warning"
    )


def render_with(composed: Composed, extra: StandIns, **call: Any) -> Request:
    """``composed``'s request with the stand-ins (``call``: more ``Composed.request`` arguments,
    such as ``now`` or ``origin``)."""
    call.setdefault("origin", "placeholder To")
    if extra.env is not None:
        from dataclasses import replace

        composed = replace(composed, env=extra.env)
    return composed.request(to=extra.to, variables=extra.variables, **call)
