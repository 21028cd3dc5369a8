"""The command table, apart from click: ``callprofile --help`` and the fast path read it without
importing click, and the root group (runner/cli/main.py) builds its commands from it."""

from __future__ import annotations

# name -> (module, function, one-line help). The help is here so --help imports nothing.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("runner.cli.cmd_run", "run", "Validate a profile and place the call."),
    "render": ("runner.cli.cmd_render", "render", "Print the final connection id and request."),
    "list": ("runner.cli.cmd_list", "list_profiles", "List profiles with their descriptions."),
    "validate": ("runner.cli.cmd_validate", "validate", "Check profiles; print file:line:col."),
    "diff": ("runner.cli.cmd_diff", "diff", "Show how a change alters each effective request."),
    "init": ("runner.cli.cmd_init", "init", "Scaffold a profiles repository (hooks, CI)."),
    "explain": ("runner.cli.cmd_explain", "explain", "Show where each request field came from."),
    "schema": ("runner.cli.cmd_schema", "schema", "Print the request or profile JSON Schema."),
    "sandbox": ("runner.cli.cmd_sandbox", "sandbox", "Serve a local Telnyx-compatible endpoint."),
    "batch": ("runner.cli.cmd_batch", "batch", "Call every contact in a file, each exactly once."),
    "batch-status": ("runner.cli.cmd_batch_status", "batch_status", "Summarise a batch ledger."),
    "plan": ("runner.cli.cmd_plan", "plan", "Freeze what a batch would do, for review."),
    "apply": ("runner.cli.cmd_apply", "apply", "Run exactly the calls a reviewed plan holds."),
    "can-call": (
        "runner.cli.cmd_can_call",
        "can_call",
        "Say whether a number may be called now, and why.",
    ),
    "batch-migrate": (
        "runner.cli.cmd_batch_migrate",
        "batch_migrate",
        "Copy batches to another ledger (e.g. PostgreSQL).",
    ),
    "batch-reconcile": (
        "runner.cli.cmd_batch_reconcile",
        "batch_reconcile",
        "Settle unknown rows from Telnyx's call list.",
    ),
    "listen": ("runner.cli.cmd_listen", "listen", "Receive, verify and record call callbacks."),
}
