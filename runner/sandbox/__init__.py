"""A local Telnyx-compatible endpoint for tests, rehearsals and ``run --sandbox``.

Nothing here contacts Telnyx, and callbacks go only to the host that placed the call (or to
addresses allowed explicitly).
"""

from runner.sandbox.outcomes import CALLBACK_FAULTS, OUTCOMES, OutcomeError
from runner.sandbox.script import (
    FAULTS,
    FOREVER,
    ScriptError,
    Step,
    load_script,
    parse_spec,
    parse_steps,
)
from runner.sandbox.server import Sandbox

__all__ = [
    "CALLBACK_FAULTS",
    "FAULTS",
    "FOREVER",
    "OUTCOMES",
    "OutcomeError",
    "Sandbox",
    "ScriptError",
    "Step",
    "load_script",
    "parse_spec",
    "parse_steps",
]
