"""Calling windows at fixed instants, and pacing on an injected clock (no sleeping)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

import pytest

from runner.batch import engine
from runner.batch.pacing import TokenBucket
from runner.batch.window import Window, WindowError, check
from runner.profiles.store import Store
from tests.helpers.batch import many, states, write_contacts, write_profile
from tests.helpers.batch_server import Script
from tests.helpers.env import API_KEY

NINE_TO_EIGHT = Window.parse("09:00-20:00")
NEW_YORK, CHICAGO, ALASKA = "+12125550123", "+13125550123", "+19075550123"
TOLL_FREE = "+18005550123"


def at(hour: int, minute: int = 0) -> datetime:
    # 26 Nov 2026: standard time everywhere in the US (New York UTC-5, Chicago UTC-6,
    # Anchorage UTC-9, Adak UTC-10).
    return datetime(2026, 11, 26, hour, minute, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("e164", "zone", "instant", "callable_"),
    [
        (NEW_YORK, None, at(13, 59), False),  # 08:59 in New York
        (NEW_YORK, None, at(14, 0), True),  # 09:00
        (NEW_YORK, None, at(0, 59), True),  # 19:59
        (NEW_YORK, None, at(1, 0), False),  # 20:00: the end is exclusive
        (CHICAGO, None, at(14, 30), False),  # 09:30 New York, but 08:30 Chicago
        (CHICAGO, None, at(15, 0), True),
        (ALASKA, None, at(18, 30), False),  # 09:30 Anchorage, 08:30 Adak: not in both
        (ALASKA, None, at(19, 0), True),  # 10:00 Anchorage, 09:00 Adak
        (ALASKA, None, at(4, 59), True),  # 19:59 Anchorage, 18:59 Adak
        (ALASKA, None, at(5, 0), False),  # 20:00 Anchorage: over, though 19:00 in Adak
        (TOLL_FREE, None, at(18, 0), False),  # 42 possible zones: ambiguous at any hour
        (TOLL_FREE, "America/Chicago", at(18, 0), True),  # the row names the zone
        (TOLL_FREE, "America/Chicago", at(2, 30), False),  # 20:30 in Chicago
        (NEW_YORK, "America/Los_Angeles", at(15, 0), False),  # 10:00 NY, but 07:00 in LA
        (NEW_YORK, "America/Los_Angeles", at(17, 0), True),
    ],
)
def test_window_at_fixed_instants(e164, zone, instant, callable_):
    assert check(NINE_TO_EIGHT, e164, instant, zone).callable is callable_


def test_window_reasons_name_the_zone_and_ambiguity():
    assert "America/Adak" in check(NINE_TO_EIGHT, ALASKA, at(18, 30)).reason
    verdict = check(NINE_TO_EIGHT, TOLL_FREE, at(18, 0))
    assert verdict.ambiguous and "timezone column" in verdict.reason


def test_window_parsing():
    assert str(Window.parse("9:00-20:30")) == "09:00-20:30"
    overnight = Window.parse("22:00-06:00")
    assert overnight.contains(datetime(2026, 1, 1, 23).time())
    assert not overnight.contains(datetime(2026, 1, 1, 12).time())
    for bad in ("9-20", "09:00", "25:00-26:00", "09:00-09:00"):
        with pytest.raises(WindowError):
            Window.parse(bad)


def test_bad_window_flag_is_a_usage_error(cli, tmp_path):
    profiles = write_profile(tmp_path)
    contacts = write_contacts(tmp_path / "c.csv", many(1))
    result = cli(
        "batch", "remind", "--contacts", str(contacts), "--window", "9am-5pm", "--dry-run",
        profiles_dir=profiles,
    )  # fmt: skip
    assert result.exit_code == 2 and "--window" in result.stderr


def options(tmp_path, server, contacts, **kw):
    return engine.Options(
        profile="remind",
        contacts=str(contacts),
        base_url=server.base_url,
        api_key=API_KEY,
        rate=1000,
        **kw,
    )


def test_rows_outside_the_window_stay_deferred_until_a_later_run(tmp_path, server, ledger_spec):
    from runner.send import submit

    store = Store(write_profile(tmp_path))
    rows = [
        {"to": NEW_YORK, "name": "ny"},
        {"to": CHICAGO, "name": "chi"},
        {"to": ALASKA, "name": "ak"},
        {"to": TOLL_FREE, "name": "tf"},
        {"to": "+18885550123", "name": "tf-chicago", "timezone": "America/Chicago"},
    ]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    opts = options(tmp_path, server, contacts, window=NINE_TO_EIGHT, ledger=ledger_spec)
    client = submit.make_client()
    try:
        first = engine.run(store, opts, engine.Hooks(now=lambda: at(15, 30), client=client))
        assert sorted(server.numbers()) == sorted([NEW_YORK, CHICAGO, "+18885550123"])
        assert first.exit_code() == 6  # not finished: run again later
        assert first.summary.counts["deferred"] == 1
        # The toll-free row without a zone is reported and skipped, not deferred for ever.
        assert states(ledger_spec) == {"placed": 3, "deferred": 1, "skipped": 1}
        assert first.summary.skipped_by_kind == {"invalid": 1}

        later = engine.run(store, opts, engine.Hooks(now=lambda: at(20, 0), client=client))
        assert Counter(server.numbers()) == Counter(
            [NEW_YORK, CHICAGO, "+18885550123", ALASKA]
        )  # Alaska now; the toll-free row without a zone never
        assert later.summary.counts == {**later.summary.counts, "placed": 4, "deferred": 0}
        assert later.exit_code() == 1  # finished; one row needs a timezone column
    finally:
        client.close()


class FakeClock:
    """A clock that moves only when someone waits on it."""

    def __init__(self) -> None:
        self.t = 1000.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def wait(self, seconds: float) -> None:
        with self._lock:
            self.t += max(seconds, 1e-6)


def test_token_bucket_paces_under_the_rolling_five_second_limit():
    clock = FakeClock()
    grants: list[float] = []
    bucket = TokenBucket(
        25, clock=clock.now, wait=clock.wait, observer=lambda e, t, v: grants.append(t)
    )
    for _ in range(400):
        assert bucket.acquire()
    assert len(grants) == 400
    worst = max(sum(1 for g in grants if start <= g < start + 5) for start in grants)
    assert worst <= 126 < 150  # Telnyx: 150 dials in any rolling 5 s
    assert grants[-1] - grants[0] == pytest.approx(399 / 25, rel=0.01)


def test_pause_holds_every_thread_until_it_ends():
    clock = FakeClock()
    events: list[tuple[str, float, float, str]] = []
    bucket = TokenBucket(
        100,
        clock=clock.now,
        wait=clock.wait,
        observer=lambda e, t, v: events.append((e, t, v, threading.current_thread().name)),
    )
    bucket.acquire()
    bucket.pause(3.0)
    until = bucket.paused_until
    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)], name=f"w{i}")
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = [e for e in events if e[0] == "grant"][1:]
    assert len(after) == 40
    assert all(t >= until for _, t, _, _ in after)
    assert {name for *_, name in after} == {"w0", "w1", "w2", "w3"}


def test_a_429_mid_batch_pauses_every_worker(tmp_path, server):
    from runner.send import submit

    store = Store(write_profile(tmp_path))
    contacts = write_contacts(tmp_path / "c.csv", many(40))
    server.script(10, Script(429, headers={"Retry-After": "3"}))
    clock = FakeClock()
    events: list[tuple[str, float, float, str]] = []
    limiter = TokenBucket(
        50,
        clock=clock.now,
        wait=clock.wait,
        observer=lambda e, t, v: events.append((e, t, v, threading.current_thread().name)),
    )
    gate_events: list[tuple[str, float]] = []
    gate = TokenBucket(
        50, clock=clock.now, wait=clock.wait, observer=lambda e, t, v: gate_events.append((e, t))
    )
    client = submit.make_client(max_connections=4)
    try:
        outcome = engine.run(
            store,
            options(tmp_path, server, contacts, concurrency=4),
            engine.Hooks(limiter=limiter, gate=gate, client=client),
        )
    finally:
        client.close()
    assert outcome.exit_code() == 0
    assert outcome.summary.counts["placed"] == 40
    pauses = [e for e in events if e[0] == "pause"]
    assert len(pauses) == 1
    _, started, until, _ = pauses[0]
    assert until == pytest.approx(started + 3.0)
    after = [e for e in events[events.index(pauses[0]) :] if e[0] == "grant"]
    assert len(after) > 4  # the rest of the batch, by every worker
    assert all(t >= until for _, t, _, _ in after), "a worker got a token during the pause"
    assert len({name for *_, name in after}) >= 2
    # The 429 was not a call: its row was sent again, and every number was placed once.
    assert len(server.posts) == 41
    assert Counter(server.numbers()).most_common(1)[0][1] == 2
    # Every POST (the 429's resend too) waited for the gate after its claim, and the 429 paused
    # the gate as well: rows already claimed were held too.
    assert [e for e, _ in gate_events].count("grant") == 41
    gate_pauses = [t for e, t in gate_events if e == "pause"]
    assert len(gate_pauses) == 1 and gate_pauses[0] >= started


def test_deferred_rows_mean_exit_6_until_the_batch_is_finished(tmp_path, server, ledger_spec):
    from runner.send import submit

    store = Store(write_profile(tmp_path))
    rows = [{"to": NEW_YORK, "name": "ny"}, {"to": "+1555", "name": "invalid"}]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    opts = options(tmp_path, server, contacts, window=NINE_TO_EIGHT, ledger=ledger_spec)
    client = submit.make_client()
    try:
        early = engine.run(store, opts, engine.Hooks(now=lambda: at(13, 0), client=client))
        assert early.exit_code() == 6  # not finished outranks the invalid row
        later = engine.run(store, opts, engine.Hooks(now=lambda: at(15, 0), client=client))
        assert later.exit_code() == 1  # finished: one row was invalid
    finally:
        client.close()
    assert server.numbers() == [NEW_YORK]
