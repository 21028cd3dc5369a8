"""Losing the PostgreSQL ledger mid-batch. A dropped connection is re-opened for work that may
be repeated (recording an answer, a heartbeat) and the batch goes on; a database that stays away
stops the runner: it claims nothing more, says which answers it could not record, and exits 6;
nothing is lost (the next run finds that row and never calls it again).

The database is made to go away through a loopback relay the test cuts (tests/helpers/
tcpproxy.py), or by ending its sessions on the server; moments are reached by the sandbox
holding an answer, never by sleeping.
"""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.batch_process import WAIT, Batch
from tests.helpers.postgres import terminate_clients
from tests.helpers.tcpproxy import Relay

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_a_dropped_connection_is_reopened_and_the_batch_goes_on(tmp_path, server, pg_url):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(30))
    reached, release = server.hold_at(10)
    run = Batch(tmp_path, server, "--concurrency", "1", ledger=pg_url)
    try:
        assert reached.wait(WAIT)
        # As a server restart or a failover would: every session of the runner ends while
        # one of its calls is on the wire.
        assert terminate_clients(pg_url) >= 2  # its work connection and its heartbeat's
    finally:
        release.set()
    assert run.wait() == 0, run.err
    assert sorted(server.numbers()) == sorted(number(i) for i in range(30))
    assert Counter(r["state"] for r in ledger_rows(pg_url)) == {"placed": 30}


def test_a_database_that_stays_away_stops_the_runner_with_exit_6_and_loses_nothing(
    tmp_path, server, pg_cluster, pg_url
):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(20))
    relay = Relay(pg_cluster.port)
    through = relay.url(pg_url.rsplit("/", 1)[1])
    reached, release = server.hold_at(5)
    run = Batch(tmp_path, server, "--concurrency", "1", "--lease", "2", ledger=through)
    try:
        assert reached.wait(WAIT)
        relay.cut()  # the database is gone while a call is on the wire
    finally:
        release.set()
    try:
        assert run.wait() == 6, run.err
    finally:
        relay.close()
    held = server.posts[4]
    assert len(server.posts) == 5  # nothing was claimed after the loss
    assert "lost the connection to the ledger database" in run.err or "cannot reach" in run.err
    # Telnyx's answer for the call in flight is not lost: it is printed.
    sid = held["response"]["call_sid"]
    assert f"not recorded in the ledger: row 6: placed, call sid {sid}" in run.err
    assert "not finished" in run.err.strip().splitlines()[-1]

    # Back on the database: that row shows as unknown (it was called) and is not called again;
    # every other row is dialled once.
    again = Batch(tmp_path, server, ledger=pg_url)
    assert again.wait() == 5, again.err
    assert "1 row(s) were left dialing" in again.err
    sent = Counter(server.numbers())
    assert sorted(sent) == sorted(number(i) for i in range(20)) and max(sent.values()) == 1
    rows = {r["e164"]: r["state"] for r in ledger_rows(pg_url)}
    assert rows[held["body"]["To"]] == "unknown"
    assert Counter(rows.values()) == {"placed": 19, "unknown": 1}
