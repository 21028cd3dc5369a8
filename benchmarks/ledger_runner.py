"""One runner's share of the ledger work, for benchmarks/ledgerbench.py (run as its own process).

Does, for every row of a batch, what ``callprofile batch`` asks of a PostgreSQL ledger, with
nothing else in the way (no contacts file, no HTTP, no pacing wait): record the row (or find it
recorded), reserve rows a chunk at a time, take a send slot from the shared schedule, claim
(durable), and record a "placed" answer (durable). Prints ``ready`` once it has joined, waits for
``go`` on stdin, and prints one JSON line at the end: rows it claimed, and when it started and
finished (wall clock, so the parent can line several runners up).

    python ledger_runner.py URL BATCH_ID ROWS [--threads 4] [--chunk 8]
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("batch")
    parser.add_argument("rows", type=int)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=8)
    args = parser.parse_args()

    from runner.batch.ledger import open_ledger

    ledger = open_ledger(args.url, lease=30.0)
    ledger.open_batch(args.batch, "bench", "bench.csv", "0" * 64)
    runner = ledger.join(args.batch, "bench", on_lost=lambda why: print(why, file=sys.stderr))
    rate = ledger.rate_limiter(args.batch, 1_000_000.0, time.sleep)
    jobs: queue.Queue[int | None] = queue.Queue(maxsize=2 * args.threads)
    claimed = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal claimed
        while (row := jobs.get()) is not None:
            rate.acquire()
            if ledger.claim(args.batch, row, None, runner=runner).outcome == "claimed":
                ledger.finish(args.batch, row, "placed", call_sid=f"bench-{row}")
                with lock:
                    claimed += 1

    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    workers = [threading.Thread(target=work) for _ in range(args.threads)]
    for worker in workers:
        worker.start()
    chunk: list[int] = []
    for row in range(2, args.rows + 2):
        if ledger.state_of(args.batch, row) is None:
            ledger.add_pending(args.batch, row, f"+1312{2_000_000 + row:07d}")
        chunk.append(row)
        if len(chunk) == args.chunk or row == args.rows + 1:
            for mine in ledger.reserve(args.batch, runner, chunk):
                jobs.put(mine)
            chunk = []
    for _ in workers:
        jobs.put(None)
    for worker in workers:
        worker.join()
    finished = time.time()
    ledger.leave(runner)
    ledger.close()
    report: dict[str, Any] = {"claimed": claimed, "started": started, "finished": finished}
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
