"""The baseline for the batch-overhead benchmark: raw httpx POSTs of pre-rendered bodies.

    python benchmarks/raw_loop.py --url http://127.0.0.1:PORT/v2/texml/ai_calls/CONN \\
        --bodies bodies.jsonl --concurrency 8

One shared ``httpx.Client`` and a thread pool, the same shape ``callprofile batch`` uses, with no
ledger, no validation and no pacing. Prints one JSON object: requests sent, seconds taken,
requests per second and the count of each status code. Meant for loopback servers only (the
sandbox); it refuses any other host.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="one JSON request body per line")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--api-key", default="KEYbenchmarkonly")
    args = parser.parse_args()
    if urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("raw_loop.py posts to loopback addresses only")

    import httpx

    with open(args.bodies, encoding="utf-8") as fh:
        bodies = [line.encode("utf-8") for line in fh if line.strip()]
    headers = {"Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=args.concurrency)
    statuses: Counter[int] = Counter()
    with httpx.Client(limits=limits, timeout=30.0) as client:

        def post(body: bytes) -> int:
            return client.post(args.url, content=body, headers=headers).status_code

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            statuses.update(pool.map(post, bodies))
        elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {
                "sent": len(bodies),
                "elapsed_s": elapsed,
                "per_second": len(bodies) / elapsed if elapsed else None,
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
            }
        )
    )


if __name__ == "__main__":
    main()
