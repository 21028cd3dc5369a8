"""A check that checked nothing is not green, and the directory is named as typed
(issue 9, item 1; "Also found": list marks files that are no profile)."""

from __future__ import annotations

from tests.helpers.core import BASE, make_profiles


def test_validate_refuses_a_missing_directory(cli):
    result = cli("validate", "--profiles-dir", "./no-such-dir")
    assert result.exit_code == 1
    assert "profiles directory 'no-such-dir' does not exist" in result.stdout
    assert "[CP011]" in result.stdout
    assert "0 profile(s) checked: 1 error(s)" in result.stderr


def test_validate_run_from_a_folder_without_profiles_fails(cli):
    # The cli fixture's working folder has no ./profiles: the default directory is missing.
    result = cli("validate")
    assert result.exit_code == 1
    assert "[CP011]" in result.stdout


def test_an_empty_directory_is_an_error_unless_allowed(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("validate", "--profiles-dir", "empty")
    assert result.exit_code == 1
    assert "no profiles found in empty: nothing was checked" in result.stdout
    assert "[CP014]" in result.stdout
    allowed = cli("validate", "--profiles-dir", "empty", "--allow-empty")
    assert allowed.exit_code == 0, allowed.stdout
    assert "0 profile(s) checked: 0 error(s)" in allowed.stderr


def test_a_named_directory_without_profiles_is_an_error(cli, tmp_path):
    root = make_profiles(tmp_path / "profiles", {"only": BASE})
    (tmp_path / "nothing-here").mkdir()
    result = cli("validate", "nothing-here", profiles_dir=root)
    assert result.exit_code == 1
    assert "no profiles found in nothing-here" in result.stdout


def test_run_names_the_directory_as_typed(cli, tmp_path, monkeypatch):
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)  # the directory is above the working folder
    outside = tmp_path / "no-such-dir"
    result = cli("--profiles-dir", str(outside), "run", "x", "--dry-run")
    assert result.exit_code == 1
    assert f"profiles directory '{outside}' does not exist" in result.stderr
    assert "--profiles-dir: error:" in result.stderr


def test_a_relative_directory_is_not_rewritten(cli, tmp_path, monkeypatch):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    result = cli("--profiles-dir", "../../../no-such-dir", "run", "x", "--dry-run")
    assert "'../../../no-such-dir' does not exist" in result.stderr


def test_list_refuses_a_missing_directory(cli):
    result = cli("list", "--profiles-dir", "nowhere")
    assert result.exit_code == 1
    assert "profiles directory 'nowhere' does not exist" in result.stderr


def test_list_marks_an_empty_file_and_a_yaml_list_as_invalid(cli, tmp_path):
    root = make_profiles(tmp_path / "profiles", {"good": BASE})
    (root / "empty.yaml").write_text("", encoding="utf-8")
    (root / "items.yaml").write_text("- a\n- b\n", encoding="utf-8")
    result = cli("list", profiles_dir=root)
    assert result.exit_code == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "(invalid: run 'callprofile validate')" in lines["empty"]
    assert "(invalid: run 'callprofile validate')" in lines["items"]
    assert "invalid" not in lines["good"]
