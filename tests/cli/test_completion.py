"""Shell completion of profile names, variable names and --set fields (issue 9, item 13),
through click's completion protocol, as bash, zsh and fish call it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.env import EXAMPLE_PROFILES, ROOT


def complete(line: str, cwd: Path, shell: str = "bash") -> list[str]:
    """The completions for ``line`` (its last word is the one being completed)."""
    words = line.split(" ")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE"))}
    env.update(
        PYTHONPATH=str(ROOT),
        _CALLPROFILE_COMPLETE=f"{shell}_complete",
        COMP_WORDS=line,
        COMP_CWORD=str(len(words) - 1) if shell != "fish" else words[-1],
    )
    done = subprocess.run(
        [sys.executable, "-m", "runner"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    if shell == "bash":
        return [item.split(",", 1)[1] for item in done.stdout.splitlines() if item]
    return done.stdout.splitlines()


@pytest.fixture
def here(tmp_path, profiles):
    return tmp_path  # holds ./profiles, the default directory


def test_profile_names(here):
    assert complete("callprofile run app", here) == ["appointment-reminder"]
    assert complete("callprofile render sales/", here) == ["sales/followup"]
    assert "amd/premium" in complete("callprofile diff amd/", here)
    assert "payments/reminder-eu" in complete("callprofile batch ", here)


def test_profile_names_from_the_profiles_dir_before_or_after_the_command(tmp_path):
    before = complete(f"callprofile --profiles-dir {EXAMPLE_PROFILES} explain sal", tmp_path)
    after = complete(f"callprofile explain --profiles-dir {EXAMPLE_PROFILES} sal", tmp_path)
    assert before == after == ["sales/followup"]


def test_variable_names_of_the_profile_on_the_line(here):
    assert complete("callprofile run appointment-reminder --var ", here) == [
        "customer_name=",
        "appointment_time=",
        "clinic=",
    ]
    assert complete("callprofile run sales/followup --to +13125550123 --var pro", here) == [
        "product="
    ]
    # After the '=', the declared example.
    assert complete("callprofile run appointment-reminder --var customer_name=", here) == [
        "customer_name=Ada"
    ]


def test_set_field_names_and_their_values(here):
    assert complete("callprofile run x --set DetectionMo", here) == ["DetectionMode="]
    assert complete("callprofile render x --set DetectionMode=Pre", here) == [
        "DetectionMode=Premium",
        "DetectionMode=PremiumCallScreening",
    ]
    assert complete("callprofile render x --set Record=", here) == ["Record=true", "Record=false"]
    assert "AIAssistantDynamicVariables=" in complete("callprofile render x --set-json AI", here)


def test_a_missing_directory_completes_nothing_quietly(tmp_path):
    assert complete("callprofile run --profiles-dir nowhere a", tmp_path) == []
    assert complete("callprofile run nowhere --var ", tmp_path) == []


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_get_names_with_descriptions(here, shell):
    out = "\n".join(complete("callprofile run sales/fo", here, shell))
    assert "sales/followup" in out
    assert "Follow up" in out or "follow" in out.lower()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_install_scripts_are_generated(tmp_path, shell):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_CALLPROFILE_COMPLETE": f"{shell}_source"}
    done = subprocess.run(
        [sys.executable, "-m", "runner"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "_CALLPROFILE_COMPLETE" in done.stdout
