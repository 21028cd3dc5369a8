"""The official SDK's path to the request ``callprofile run --dry-run`` prints.

Imports ``telnyx``, builds the client, and makes the first ``client.texml`` call with the same
fields. The client's HTTP transport is an in-process mock that answers 200 without any network,
so this measures what the SDK does before a request leaves the machine (the analogue of a dry
run) plus parsing one small response. Run by benchmarks/run.py in its own virtual environment.
"""

from __future__ import annotations

import httpx
import telnyx


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"data": {"call_sid": "v3:bench", "status": "queued"}}, request=request
    )


client = telnyx.Telnyx(
    api_key="KEYbenchmarkonly",
    base_url="http://127.0.0.1:9/v2",
    http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    max_retries=0,
)
client.texml.initiate_ai_call(
    connection_id="1234567890",
    from_="+13120001234",
    to="+13125550123",
    ai_assistant_id="assistant-9f3c2e71-4b8d-4a0e-9d2c-6a1f5e3b7c40",
    ai_assistant_dynamic_variables={
        "customer_name": "Ada",
        "appointment_time": "Tuesday 3 PM",
        "clinic": "Northside",
    },
    timeout_seconds=25,
    time_limit=600,
    preferred_codecs="PCMU,PCMA",
    sip_region="US",
    machine_detection="Enable",
    detection_mode="Premium",
    async_amd=True,
    async_amd_status_callback="https://example.com/telnyx/amd",
    async_amd_status_callback_method="POST",
    machine_detection_timeout=10000,
)
