"""diff compares with HEAD when --base is not given, as git diff does (issue 9, item 8)."""

from __future__ import annotations

from tests.helpers.gitrepo import make_repo

PROFILE = 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'


def test_diff_without_base_shows_uncommitted_edits(cli, tmp_path, monkeypatch):
    repo = make_repo(tmp_path, monkeypatch)
    repo.write("profiles/x.yaml", PROFILE + "  Timeout: 25\n")
    repo.commit("first")
    repo.write("profiles/x.yaml", PROFILE + "  Timeout: 30\n")
    monkeypatch.chdir(repo.root)
    result = cli("diff", "--exit-code")
    assert result.exit_code == 1, result.stderr
    assert result.stdout.splitlines() == [
        "x: changed",
        "  ~ Timeout: 25 -> 30",
        "1 profile(s) compared with HEAD: 1 changed",
    ]
    repo.commit("second")
    clean = cli("diff", "--exit-code")
    assert clean.exit_code == 0, clean.stderr
    assert clean.stdout == "1 profile(s) compared with HEAD: 1 unchanged\n"
