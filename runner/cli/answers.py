"""What ``render`` and ``run --dry-run`` print, apart from click: the commands and the fast path
(runner.cli.fastpath) call these, so both produce the same text from the same request."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from runner.flow.request import Request


def render_values(request: Request, show_secrets: bool) -> dict[str, Any]:
    """``render``'s document: the connection id and the request body, secrets hidden."""
    return {
        "connection_id": request.shown_connection_id(show_secrets),
        "call": request.redacted_body(show_secrets),
    }


def render_text(values: dict[str, Any], fmt: str, show_secrets: bool) -> str:
    """``render``'s output without its final newline (``fmt``: yaml or json)."""
    from runner.cli.dumping import dump
    from runner.secrets import shown

    return shown(dump(values, fmt), show_secrets)


def dry_run_text(request: Request, base_url: str, api_key: str | None, show_secrets: bool) -> str:
    """``run --dry-run``'s text output: the exact HTTP request, secrets hidden."""
    from runner.secrets import shown
    from runner.send.prepared import encode_body, prepare

    prepared = prepare(
        request.shown_connection_id(show_secrets),
        request.body,
        base_url=base_url,
        api_key=api_key or "",
    )
    body = encode_body(request.redacted_body(show_secrets))
    return shown(prepared.text(body=body), show_secrets)
