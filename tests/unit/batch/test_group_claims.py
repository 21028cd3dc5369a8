"""Claims written in groups (runner/batch/ledger/sqlite_groups.py and the journal's grouped
reservations) decide what the row-by-row checks decide: at concurrency 8 a group holds several
claims, and exactly the numbers another batch called within --min-interval are skipped, whether
the ledger or the journal of recent calls saw that call."""

from __future__ import annotations

from collections import Counter

from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.env import API_KEY

FAST = ("--rate", "1000", "--concurrency", "8")


def test_grouped_claims_skip_exactly_the_numbers_called_by_another_batch(
    cli, server, tmp_path, monkeypatch
):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profiles = write_profile(tmp_path)
    ledger = tmp_path / "one.db"

    def batch(name: str, rows: list[dict[str, str]]):
        contacts = write_contacts(tmp_path / name, rows)
        return cli(
            "batch", "remind", "--contacts", str(contacts), "--ledger", str(ledger), *FAST,
            profiles_dir=profiles,
        )  # fmt: skip

    assert batch("monday.csv", many(20)).exit_code == 0
    # A fresh journal: only the ledger knows Monday's calls.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "other-state"))
    tuesday = batch("tuesday.csv", many(40, start=10))
    assert tuesday.exit_code == 0, tuesday.stderr
    # The journal now knows Tuesday's calls; a third batch on another ledger meets them there.
    ledger = tmp_path / "two.db"
    wednesday = batch("wednesday.csv", many(30, start=35))
    assert wednesday.exit_code == 0, wednesday.stderr

    calls = Counter(server.numbers())
    assert set(calls.values()) == {1}  # nobody twice
    assert sorted(calls) == sorted(number(i) for i in range(65))
    rows = {(r["batch_id"], r["e164"]): r for r in ledger_rows(tmp_path / "one.db")}
    by_state: dict[str, set[str]] = {}
    for (_, e164), row in rows.items():
        by_state.setdefault(row["state"], set()).add(e164)
    assert by_state["skipped"] == {number(i) for i in range(10, 20)}
    assert by_state["placed"] == {number(i) for i in range(50)}
    repeats = [r for r in rows.values() if r["state"] == "skipped"]
    assert all(r["skip_kind"] == "repeat" for r in repeats)
    assert all("within --min-interval" in r["reason"] for r in repeats)
    later = {r["e164"]: r for r in ledger_rows(tmp_path / "two.db")}
    assert {e for e, r in later.items() if r["state"] == "skipped"} == {
        number(i) for i in range(35, 50)
    }
    assert {e for e, r in later.items() if r["state"] == "placed"} == {
        number(i) for i in range(50, 65)
    }
    assert all("by profile remind" in r["reason"] for r in later.values() if r["reason"])


def test_rows_recorded_a_block_at_a_time_find_every_duplicate_and_its_first_row(
    cli, server, tmp_path, monkeypatch
):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profiles = write_profile(tmp_path)
    # 60 numbers; each appears again 1 row later (the same block of 32) or 45 rows later (a
    # later block), so the blocks hold duplicates of their own rows and of earlier blocks'.
    people = many(60)
    rows: list[dict[str, str]] = []
    for i, person in enumerate(people):
        rows.append(person)
        if i % 3 == 0:
            rows.append(dict(person, name=f"again {i}"))
    rows += [dict(p, name="late") for p in people[:45]]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    result = cli(
        "batch", "remind", "--contacts", str(contacts), "--ledger", str(tmp_path / "l.db"),
        *FAST, profiles_dir=profiles,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert Counter(server.numbers()) == Counter(p["to"] for p in people)
    recorded = ledger_rows(tmp_path / "l.db")
    first_line = {}
    for r in recorded:
        if r["state"] == "placed":
            first_line[r["e164"]] = r["row_no"]
    duplicates = [r for r in recorded if r["state"] == "skipped"]
    assert len(duplicates) == len(rows) - 60
    for r in duplicates:
        assert r["skip_kind"] == "duplicate"
        assert r["reason"] == f"duplicate of row {first_line[r['e164']]}"
        assert r["row_no"] > first_line[r["e164"]]
