"""Where callprofile keeps its own state: crash logs and the journal of recent calls."""

from __future__ import annotations

import os


def state_directory() -> str:
    """``$XDG_STATE_HOME/callprofile`` (default ``~/.local/state/callprofile``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "callprofile")
