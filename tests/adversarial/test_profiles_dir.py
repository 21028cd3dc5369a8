"""Hostile shapes of the profiles directory and of extends chains (issue 10, Weak "one
unloadable name", Broken 6 "an extends chain 1,500 deep"): one bad entry is one finding, the
rest are checked; symlinks are not listed; a deep chain is a diagnostic, never exit 3."""

from __future__ import annotations

import os
import sys

import pytest

from tests.helpers.core import BASE, make_profiles


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks and FIFOs")
def test_one_unloadable_entry_is_one_finding_and_the_rest_are_checked(cli, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(BASE, encoding="utf-8")
    tree = make_profiles(
        tmp_path / "profiles",
        {"good": BASE, "broken": BASE + "  Timeout: soon\n", "base/frag": "abstract: true\n"},
    )
    (tree / "leak.yaml").symlink_to(outside)
    os.mkfifo(tree / "pipe.yaml")
    (tree / "alias.yaml").symlink_to(tree / "good.yaml")  # inside: an alias, not listed
    result = cli("validate", "--no-lint", profiles_dir=tree)
    assert result.exit_code == 1
    out = result.stdout
    assert "profiles/leak.yaml: error: a symlink resolving outside" in out and "[CP010]" in out
    assert "profiles/pipe.yaml: error: not a regular file" in out and "[CP007]" in out
    assert "profiles/broken.yaml:6:12: error: expected an integer" in out  # still checked
    assert "3 profile(s) checked" in result.stderr  # good, broken, base/frag

    listing = cli("list", profiles_dir=tree)
    assert listing.exit_code == 0
    names = [line.split()[0] for line in listing.stdout.splitlines()]
    assert names == ["base/frag", "broken", "good"]
    # The alias still runs by name: it resolves inside the directory.
    assert cli("render", "alias", profiles_dir=tree).exit_code == 0


def chain(tmp_path, depth: int):
    files = {"p0": BASE}
    for i in range(1, depth):
        files[f"p{i}"] = f"extends: p{i - 1}\n"
    return make_profiles(tmp_path / "profiles", files)


def test_an_extends_chain_1500_deep_is_a_diagnostic(cli, tmp_path):
    tree = chain(tmp_path, 1500)
    result = cli("render", "p1499", profiles_dir=tree)
    assert result.exit_code == 1, result.stderr
    assert "'extends' chain is deeper than 64 profiles" in result.stderr
    assert "[CP106]" in result.stderr and "p1436.yaml:1:10" in result.stderr
    checked = cli("validate", profiles_dir=tree)
    assert checked.exit_code == 1 and "[CP106]" in checked.stdout
    assert "1500 profile(s) checked" in checked.stderr


def test_a_chain_of_64_still_works(cli, tmp_path):
    tree = chain(tmp_path, 64)
    result = cli("render", "p63", profiles_dir=tree)
    assert result.exit_code == 0, result.stderr
