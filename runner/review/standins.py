"""Stand-in inputs for rendering a profile nobody is calling yet (validate, explain, diff).

A review needs the request a profile would send, but the number to call and the variable values
only arrive at call time. Each missing required input gets a stand-in, and the caller is told
which ones, so output is never mistaken for a real call: the variable's ``example`` (else a
visible ``example-NAME``), and a reserved fictional number for ``To``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from runner import codes
from runner.diagnostics import Diagnostic
from runner.flow.build import merged_document
from runner.profiles.merge import origin_of
from runner.profiles.overrides import Overrides, variable_values
from runner.profiles.store import Store

# 555-01xx numbers are reserved for fiction in North America: never a real person.
PLACEHOLDER_TO = "+15555550100"
PLACEHOLDER_CONNECTION = "placeholder-connection-id"


@dataclass
class StandIns:
    overrides: Overrides
    placeholder_to: bool = False
    examples: list[str] = field(default_factory=list)  # variables given their `example`
    invented: list[str] = field(default_factory=list)  # variables given "example-NAME"
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return bool(self.placeholder_to or self.examples or self.invented)


def stand_ins(store: Store, name: str, given: Overrides | None = None) -> StandIns:
    """``given`` plus stand-ins for every required input it lacks."""
    overrides = copy.deepcopy(given) if given is not None else Overrides()
    document, prov, _ = merged_document(store, name, overrides)
    out = StandIns(overrides)
    have = variable_values(overrides)
    for var, spec in (document.get("variables") or {}).items():
        spec = spec or {}
        if var in have or isinstance(spec.get("default"), str):
            continue
        example = spec.get("example")
        if isinstance(example, str):
            out.examples.append(var)
        else:
            example = f"example-{var}"
            out.invented.append(var)
            if spec.get("required"):
                out.diagnostics.append(_no_example(prov, var))
        overrides.vars.append(f"{var}={example}")
    call = document.get("call") or {}
    if "To" not in call:
        overrides.to = PLACEHOLDER_TO
        out.placeholder_to = True
    return out


def _no_example(prov: dict, var: str) -> Diagnostic:
    message = (
        f"required variable {var!r} has no example; it was rendered with a placeholder "
        "(add 'example:' so reviews see real-looking values)"
    )
    hit = origin_of(prov, ("variables", var))
    if hit is None or hit[0].source is None:
        return Diagnostic(message, codes.NO_EXAMPLE, severity="warning")
    return hit[0].source.diag(
        ("variables", var), message, codes.NO_EXAMPLE, at_key=True, severity="warning"
    )
