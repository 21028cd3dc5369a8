"""callprofile: place Telnyx AI calls from named, version-controlled YAML profiles.

The library in a few lines (compose once, render per call)::

    from runner import Sandbox, compose, submit

    composed = compose("profiles", "appointment-reminder")
    with Sandbox() as sandbox:
        for to, name in [("+13125550101", "Ada"), ("+13125550102", "Grace")]:
            variables = {"customer_name": name, "appointment_time": "noon"}
            request = composed.request(to=to, variables=variables)
            result = submit(request, base_url=sandbox.base_url, api_key="KEY-local-only")
            print(result.status, result.call_sid)

Names are imported on first use, so ``import runner`` stays cheap and never imports click.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "Composed": "runner.flow.compose",
    "Diagnostic": "runner.diagnostics",
    "Overrides": "runner.profiles.overrides",
    "ProfileError": "runner.diagnostics",
    "Request": "runner.flow.request",
    "Result": "runner.send.submit",
    "Sandbox": "runner.sandbox",
    "SetValue": "runner.profiles.overrides",
    "Store": "runner.profiles.store",
    "VariableValue": "runner.profiles.overrides",
    "compose": "runner.flow.compose",
    "submit": "runner.send.place",
}

__all__ = [
    "Composed",
    "Diagnostic",
    "Overrides",
    "ProfileError",
    "Request",
    "Result",
    "Sandbox",
    "SetValue",
    "Store",
    "VariableValue",
    "__version__",
    "compose",
    "submit",
]

if TYPE_CHECKING:
    from typing import Any

    from runner.diagnostics import Diagnostic, ProfileError
    from runner.flow.compose import Composed, compose
    from runner.flow.request import Request
    from runner.profiles.overrides import Overrides, SetValue, VariableValue
    from runner.profiles.store import Store
    from runner.sandbox import Sandbox
    from runner.send.place import submit
    from runner.send.submit import Result


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    # __import__ rather than importlib: importing importlib costs more than the rest of this.
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
