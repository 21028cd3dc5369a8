"""The fast path (runner/cli/fastpath.py) answers ``render`` and ``run --dry-run`` without
click. It may only be faster: for every command line below, valid or not, the installed entry
point (fast path first) and click alone must print the same stdout and stderr and exit with the
same code; and the shapes it is meant for must really be answered without importing click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.env import API_KEY, SIP_PASSWORD

# Run in a child: the entry point as installed (fast path, then click), and click alone. The
# entry child writes whether click was imported to the file named in PROBE.
ENTRY = (
    "import os, sys\n"
    "from runner.cli.entry import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    with open(os.environ['PARITY_PROBE'], 'w') as fh:\n"
    "        fh.write(str('click' in sys.modules))\n"
)
CLICK = "from runner.cli.main import main\nmain()\n"

TO = ["--to", "+13125550123"]
VARS = ["--var", "customer_name=Ada", "--var", "appointment_time=Tuesday 3 PM"]
NAME = "appointment-reminder"

COMPLETING = {
    "_CALLPROFILE_COMPLETE": "bash_complete",
    "COMP_WORDS": "callprofile render app",
    "COMP_CWORD": "2",
}
# (argv, extra environment)
FAST: list[tuple[list[str], dict[str, str]]] = [
    (["render", NAME, *TO, *VARS], {}),
    (["--profiles-dir", "profiles", "render", NAME, *TO, *VARS], {}),
    (["--profiles-dir=profiles", "render", NAME, *TO, *VARS], {}),
    (["render", "--profiles-dir", "profiles", NAME, *TO, *VARS], {}),
    (["--profiles-dir", "elsewhere", "render", "--profiles-dir", "profiles", NAME, *TO, *VARS], {}),
    (["render", NAME, *TO, *VARS], {"CALLPROFILE_DIR": "profiles"}),
    (["render", NAME, *TO, *VARS], {"CALLPROFILE_DIR": ""}),
    (["render", *VARS, NAME, *TO], {}),
    (["render", NAME, "--to=+13125550123", "--var=customer_name=Ada", *VARS[2:]], {}),
    (["render", NAME, *TO, *VARS, "--show-secrets"], {}),
    (["render", NAME, *TO, *VARS, "-o", "yaml"], {}),
    (["render", NAME, *TO, *VARS, "--output=yaml"], {}),
    (["render", NAME, *TO, *VARS, "--from", "+13120009999", "--connection-id", "c-1"], {}),
    (["render", NAME, *TO, *VARS, "--var", "customer_name=Grace"], {}),
    (["render", NAME, *TO, *VARS, "--var", "clinic=Zoë's — 東京"], {}),
    (["render", NAME, *TO, *VARS, "--var", "clinic=\x1b[31mred\x1b[0m \x85 \u202e"], {}),
    (["render", NAME, *TO, *VARS, "--var", "clinic=line one\nline two: 'quoted' # not"], {}),
    (["render", NAME, *TO, *VARS, "--var", f"clinic={API_KEY}"], {"TELNYX_API_KEY": API_KEY}),
    (["render", NAME, "--to", "+1 (312) 555-0123", *VARS], {}),
    (["render", "sales/followup", *TO, "--var", "customer_name=Ada", "--var", "product=x"], {}),
    (["run", NAME, "--dry-run", *TO, *VARS], {}),
    (["run", "--dry-run", NAME, *TO, *VARS, "--show-secrets"], {}),
    (["run", NAME, "--dry-run", *TO, *VARS], {"TELNYX_API_KEY": ""}),
    (["run", NAME, "--dry-run", *TO, *VARS], {"TELNYX_BASE_URL": "http://127.0.0.1:9/v2"}),
    (["run", NAME, "--dry-run", *TO, *VARS], {"TELNYX_CONNECTION_ID": "from-env"}),
    (["run", NAME, "--dry-run", *TO, *VARS, "-o", "text"], {}),
    (["run", NAME, "--dry-run", *TO, *VARS, "--dry-run"], {}),
]
SLOW: list[tuple[list[str], dict[str, str]]] = [
    (["render", NAME, *TO], {}),  # a required variable missing
    (["render", NAME, *TO, *VARS, "--connection-id", ""], {}),
    (["render", "no-such-profile", *TO, *VARS], {}),
    (["render", "../escape", *TO, *VARS], {}),
    (["render", "", *TO, *VARS], {}),
    (["render", "-", *TO, *VARS], {}),
    (["render", NAME, "--to", "not a number", *VARS], {}),
    (["render", NAME, "--to", "+1312", *VARS], {}),
    (["render", NAME, *TO, "--var", "noequals"], {}),
    (["render", NAME, *TO, "--var", "=x"], {}),
    (["render", NAME, *TO, *VARS, "--var", "undeclared=1"], {}),
    (["render", NAME, NAME, *TO, *VARS], {}),
    (["render", *TO, *VARS], {}),
    (["render", NAME, *VARS, "--to"], {}),
    (["render", NAME, *VARS, "--to", "-5"], {}),
    (["render", NAME, *VARS, "--to=-5"], {}),
    (["render", NAME, *TO, *VARS, "--bogus"], {}),
    (["render", NAME, *TO, *VARS, "-o", "json"], {}),
    (["render", NAME, *TO, *VARS, "-ojson"], {}),
    (["render", NAME, *TO, *VARS, "-o", "YAML"], {}),
    (["render", NAME, *TO, *VARS, "--show-secrets=1"], {}),
    (["render", NAME, *TO, *VARS, "--set", "Timeout=60"], {}),
    (["render", NAME, *TO, *VARS, "--set", "Timeout=x"], {}),
    (["render", NAME, *TO, *VARS, "--", "x"], {}),
    (["render", NAME, *TO, *VARS, "-h"], {}),
    (["render", NAME, *TO, *VARS, "--help"], {}),
    (["render", NAME, *TO, *VARS, "--no-color"], {}),
    (["render", NAME, *TO, *VARS, "--dry-run"], {}),
    (["--profiles-dir", "profiles/appointment-reminder.yaml", "render", NAME, *TO, *VARS], {}),
    (["render", "--profiles-dir", "profiles/appointment-reminder.yaml", NAME, *TO, *VARS], {}),
    (["render", NAME, *TO, *VARS], {"CALLPROFILE_DIR": "profiles/appointment-reminder.yaml"}),
    (["--profiles-dir", "missing", "render", NAME, *TO, *VARS], {}),
    (["--profiles-dir", "", "render", NAME, *TO, *VARS], {}),
    (["render", "--profiles-dir=", NAME, *TO, *VARS], {}),
    (["--no-color", "render", NAME, *TO, *VARS], {}),
    (["--version", "render", NAME, *TO, *VARS], {}),
    (["Render", NAME, *TO, *VARS], {}),
    (["rend", NAME, *TO, *VARS], {}),
    (["render"], {}),
    ([], {}),
    (["run", NAME, *TO, *VARS], {"TELNYX_API_KEY": ""}),  # no key: refused before sending
    (["run", NAME, "--dry-run", *TO, *VARS, "--sandbox"], {}),
    (["run", NAME, "--dry-run", *TO, *VARS, "-o", "json"], {}),
    (["run", NAME, "--dry-run", *TO, *VARS, "--timeout", "0"], {}),
    (["run", NAME, "--dry-run", *TO, *VARS, "--dry-run=yes"], {}),
    (["run", NAME, "--dry-run", "--var", "customer_name=Ada"], {}),
    (["render", NAME, *TO, *VARS], {"CALLPROFILE_TEST_CRASH": "1"}),
    (["render", NAME, *TO, *VARS], COMPLETING),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example profiles plus one with a secret and one whose templates use filters."""
    import shutil

    from tests.helpers.env import EXAMPLE_PROFILES

    root = tmp_path_factory.mktemp("parity")
    shutil.copytree(EXAMPLE_PROFILES, root / "profiles")
    (root / "profiles" / "secret.yaml").write_text(
        "extends: [appointment-reminder]\n"
        "call:\n"
        f"  SipAuthUsername: user\n  SipAuthPassword: '{SIP_PASSWORD}'\n",
        encoding="utf-8",
    )
    (root / "profiles" / "filters.yaml").write_text(
        "extends: [appointment-reminder]\n"
        "call:\n"
        "  AIAssistantDynamicVariables:\n"
        '    customer_name: "{{ customer_name | title }}"\n'
        '    clinic: "{% if clinic %}{{ clinic | upper }}{% endif %}"\n',
        encoding="utf-8",
    )
    return root


def environment(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELNYX_", "CALLPROFILE_", "_CALLPROFILE"))
        and k not in ("COLUMNS", "PYTHONIOENCODING")
    }
    env.update({"TELNYX_API_KEY": API_KEY, "NO_COLOR": "1", "COLUMNS": "100"})
    env.update(extra)
    return {k: v for k, v in env.items() if not (k == "TELNYX_API_KEY" and v == "")}


def both(
    workdir: Path, argv: list[str], extra: dict[str, str]
) -> tuple[subprocess.CompletedProcess[bytes], subprocess.CompletedProcess[bytes], bool]:
    probe = workdir / "probe.txt"
    env = environment(extra)
    entry = subprocess.run(
        [sys.executable, "-c", ENTRY, *argv],
        cwd=workdir,
        env={**env, "PARITY_PROBE": str(probe)},
        capture_output=True,
        timeout=120,
    )
    clicked = probe.read_text() == "True"
    alone = subprocess.run(
        [sys.executable, "-c", CLICK, *argv], cwd=workdir, env=env, capture_output=True, timeout=120
    )
    return entry, alone, not clicked


def same(entry: subprocess.CompletedProcess[bytes], alone: subprocess.CompletedProcess[bytes]):
    assert (entry.returncode, entry.stdout.decode(errors="replace")) == (
        alone.returncode,
        alone.stdout.decode(errors="replace"),
    )
    # A crash log's path differs between two runs; everything else must not.
    if b"Details: " in alone.stderr:
        assert entry.stderr.split(b"Details: ")[0] == alone.stderr.split(b"Details: ")[0]
    else:
        assert entry.stderr.decode(errors="replace") == alone.stderr.decode(errors="replace")


@pytest.mark.parametrize(("argv", "extra"), FAST, ids=[" ".join(a) for a, _ in FAST])
def test_the_fast_path_answers_as_click_does(workdir, argv, extra):
    entry, alone, fast = both(workdir, argv, extra)
    same(entry, alone)
    assert alone.returncode == 0, alone.stderr
    assert fast, "this command line should be answered without importing click"


@pytest.mark.parametrize(("argv", "extra"), SLOW, ids=[" ".join(a) or "(none)" for a, _ in SLOW])
def test_everything_else_ends_as_click_ends_it(workdir, argv, extra):
    entry, alone, fast = both(workdir, argv, extra)
    same(entry, alone)
    if alone.returncode != 0:
        assert not fast, "an error is always click's to report"


@pytest.mark.parametrize("name", ["secret", "filters"])
@pytest.mark.parametrize("command", [["render"], ["run", "--dry-run"]])
@pytest.mark.parametrize("reveal", [[], ["--show-secrets"]])
def test_secrets_and_jinja_templates_print_the_same(workdir, name, command, reveal):
    argv = [command[0], name, *command[1:], *TO, *VARS, *reveal]
    entry, alone, fast = both(workdir, argv, {})
    same(entry, alone)
    assert alone.returncode == 0 and fast, alone.stderr
    if not reveal:
        assert SIP_PASSWORD.encode() not in entry.stdout


def test_bytes_that_are_not_utf8_in_an_argument(workdir):
    argv = ["render", NAME, *TO, *VARS, "--var", os.fsdecode(b"clinic=\xff\xfe")]
    entry, alone, _ = both(workdir, argv, {})
    same(entry, alone)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "utf-8:strict"])
def test_an_output_encoding_that_cannot_take_the_text(workdir, encoding):
    argv = ["render", NAME, *TO, *VARS, "--var", "clinic=Zoë 東京"]
    entry, alone, _ = both(workdir, argv, {"PYTHONIOENCODING": encoding})
    same(entry, alone)


def test_a_profiles_directory_that_cannot_be_read(workdir, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every directory")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        argv = ["--profiles-dir", str(locked), "render", NAME, *TO, *VARS]
        entry, alone, fast = both(workdir, argv, {})
        same(entry, alone)
        assert not fast
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("command", [["render"], ["run", "--dry-run"]])
def test_the_fast_path_leaves_unused_modules_unloaded(workdir, command):
    """The start-up targets depend on these staying unloaded on the common path: click, and
    the standard modules deferred by runner.cli.deferred (a dataclass without a docstring
    would load inspect)."""
    code = (
        "import sys\n"
        "from runner.cli.entry import main\n"
        "main()\n"
        "names = ('click', 'inspect', 'ipaddress', 'base64', 'jinja2', 'jsonschema', 'httpx',"
        " 'random', 'typing', 'threading')\n"
        "loaded = [n for n in names if type(sys.modules.get(n)).__name__ == 'module']\n"
        "print(loaded, file=sys.stderr)\n"
    )
    argv = [command[0], NAME, *command[1:], *TO, *VARS]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=workdir,
        env=environment({}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr
