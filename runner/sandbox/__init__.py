"""A local Telnyx-compatible endpoint for tests, rehearsals and ``run --sandbox``.

Nothing here contacts Telnyx or any address outside loopback.
"""

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
    "FAULTS",
    "FOREVER",
    "Sandbox",
    "ScriptError",
    "Step",
    "load_script",
    "parse_spec",
    "parse_steps",
]
