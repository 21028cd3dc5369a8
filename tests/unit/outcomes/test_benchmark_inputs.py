"""The listen benchmark's signed requests are what a receiver accepts (the benchmark itself is
run by hand: python3 benchmarks/run.py --only listen)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys

from runner.batch.ledger import open_ledger
from runner.outcomes.receiver import Receiver
from runner.outcomes.verify import Verifier
from runner.outcomes.writer import Writer
from tests.helpers.env import ROOT
from tests.helpers.outcomes import stored_callbacks


def load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_load_is_verified_and_recorded(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bench = load("listenbench")
    key = Ed25519PrivateKey.generate()
    requests = bench._requests(key, 16)
    ledger = tmp_path / "l.db"
    receiver = Receiver(
        port=0, verifier=Verifier(key.public_key()), writer=Writer(open_ledger(str(ledger)))
    ).start()
    try:
        result = asyncio.run(bench._load("127.0.0.1", receiver.port, requests, 4))
    finally:
        receiver.stop()
    assert result["statuses"] == {200: 16}
    assert len(stored_callbacks(ledger)) == 16
