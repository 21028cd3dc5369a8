"""How a command ends with an exit code after printing its own output (no click needed here,
so every ``cmd_*`` module imports it without importing the root command group)."""

from __future__ import annotations


class CliExit(Exception):
    """Raised by commands to end with a code after printing their own output."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = int(code)
