"""Global options are accepted before or after the subcommand (issue 9, item 6)."""

from __future__ import annotations

import json

import pytest

from tests.helpers.core import BASE, make_profiles

TO = "+13125550123"


@pytest.fixture
def tree(tmp_path):
    return make_profiles(tmp_path / "elsewhere", {"only": BASE})


@pytest.mark.parametrize(
    "argv",
    [
        ["render", "--profiles-dir", "{d}", "only", "-o", "json"],
        ["render", "only", "--profiles-dir", "{d}", "-o", "json"],
        ["--profiles-dir", "{d}", "render", "only", "-o", "json"],
        ["run", "--profiles-dir", "{d}", "only", "--dry-run"],
        ["explain", "only", "--profiles-dir", "{d}"],
        ["list", "--profiles-dir", "{d}"],
        ["validate", "--profiles-dir", "{d}"],
    ],
    ids=["render-before-name", "render-after-name", "root", "run", "explain", "list", "validate"],
)
def test_profiles_dir_after_the_subcommand(cli, tree, argv):
    # The cli fixture runs in a folder whose ./profiles does not exist: only the flag finds it.
    result = cli(*[a.replace("{d}", str(tree)) for a in argv])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "No such option" not in result.stderr


def test_the_subcommand_value_wins_over_the_root_value(cli, tree, tmp_path):
    other = make_profiles(tmp_path / "other", {"only": BASE.replace("conn-1", "conn-2")})
    result = cli("--profiles-dir", str(tree), "render", "only", "--profiles-dir", str(other))
    assert result.exit_code == 0, result.stderr
    assert "conn-2" in result.stdout


def test_batch_and_batch_status_take_it_too(cli, tree, tmp_path):
    contacts = tmp_path / "c.csv"
    contacts.write_text(f"to\n{TO}\n", encoding="utf-8")
    args = ("batch", "only", "--contacts", str(contacts))
    dry = cli(*args, "--dry-run", "--profiles-dir", str(tree))
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout.splitlines()[0])["to"] == TO
    live = cli(*args, "--sandbox", "--profiles-dir", str(tree))
    assert live.exit_code == 0, live.stderr
    ledger = f"{contacts}.sandbox.ledger.db"
    status = cli("batch-status", "--ledger", ledger, "--profiles-dir", str(tree))
    assert status.exit_code == 0, status.stderr
    assert "placed          1" in status.stdout


def test_no_color_is_accepted_anywhere(cli, tree):
    for argv in (["--no-color", "list"], ["list", "--no-color"]):
        result = cli(*argv, "--profiles-dir", str(tree))
        assert result.exit_code == 0, result.stderr
