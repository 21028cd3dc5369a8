"""Shared fixtures: an isolated environment, a CLI runner, and a guard that keeps every test on
loopback. Issue-specific helpers live in their own test modules."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.helpers.env import EXAMPLE_PROFILES, assert_no_secrets

# The submission fixtures (sandbox, sandboxes, profile_dir, waits, run_subprocess), registered
# once here: a test module naming them as a plugin would load it after another module had
# imported it, too late for pytest to rewrite its assertions.
pytest_plugins = ["tests.helpers.submit"]


def _loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection that would leave 127.0.0.1/::1 from inside the test process."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            raise OSError(f"test tried to reach a non-loopback address: {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            raise OSError(f"test tried to reach a non-loopback address: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's Telnyx settings, and crash logs stay in the test's dir."""
    for name in list(os.environ):
        # PG*: libpq's own settings (host, service, options) must not redirect the ledger tests.
        if name.startswith(("TELNYX_", "CALLPROFILE_", "PG")) or name == "GITHUB_ACTIONS":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    """A writable copy of the example profiles."""
    target = tmp_path / "profiles"
    shutil.copytree(EXAMPLE_PROFILES, target)
    return target


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write("profiles/a.yaml", text) -> path, creating parent directories."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """cli("render", "x", profiles_dir=...) runs callprofile in-process, in tmp_path, with
    stdout and stderr kept apart. Every output is checked for the test secrets."""
    from runner.cli.main import cli as root

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, profiles_dir: Path | str | None = None, **kwargs: object) -> Result:
        allow = kwargs.pop("allow_secrets", False)
        argv = [*(["--profiles-dir", str(profiles_dir)] if profiles_dir else []), *args]
        result = runner.invoke(root, argv, catch_exceptions=False, **kwargs)
        assert_no_secrets(result.stdout + result.stderr, allow=allow)
        return result

    yield invoke


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL server for the whole session (tests/helpers/postgres.py). Where
    none can be started the PostgreSQL tests are skipped with the reason, except under CI
    (env CI set), where that is a failure."""
    from tests.helpers.postgres import Cluster, Unavailable

    try:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise Unavailable("psycopg is not installed: pip install -e '.[test]'") from None
        cluster = Cluster()
    except Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL for the ledger tests: {exc}")
        pytest.skip(f"PostgreSQL ledger tests skipped: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Any) -> Iterator[str]:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    url = str(pg_cluster.new_database())
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ``--ledger`` value for each backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "ledger.db")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """The built-in sandbox on loopback, logging every request it receives to a JSON-lines file
    (tests/helpers/batch_server.py). A test module that needs a scripted sandbox defines its own
    ``server`` fixture, which takes precedence."""
    from tests.helpers.batch_server import LoggedSandbox

    sandbox = LoggedSandbox(tmp_path / "sandbox.jsonl")
    yield sandbox
    sandbox.stop()
