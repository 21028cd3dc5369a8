"""Place one call from a Request: the library's one-line way to send what ``compose`` built,
with the same retry policy as ``callprofile run`` (only failures that provably never reached
Telnyx, and 429s, are retried)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.send import submit as wire

if TYPE_CHECKING:
    import httpx

    from runner.flow.request import Request


def submit(
    request: Request,
    *,
    base_url: str = wire.DEFAULT_BASE_URL,
    api_key: str | None = None,
    client: httpx.Client | None = None,
    timeout: float = 15.0,
    max_retries: int = 2,
) -> wire.Result:
    """POST ``request`` to ``base_url`` and classify the answer (``Result.status``: placed,
    rejected, unknown or unreachable). ``api_key`` defaults to TELNYX_API_KEY. ``client``: an
    ``httpx.Client`` to reuse across calls (default: one for this call). Never raises for
    network or HTTP trouble."""
    from runner import secrets

    key = api_key if api_key is not None else secrets.api_key() or ""
    secrets.remember(key, *request.secret_values())
    prepared = wire.prepare(request.connection_id, request.body, base_url=base_url, api_key=key)
    http = client if client is not None else wire.make_client(wire.Timeouts(read=timeout))
    try:
        return wire.send(prepared, client=http, max_retries=max_retries)
    finally:
        if client is None:
            http.close()
