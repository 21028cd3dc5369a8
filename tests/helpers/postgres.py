"""A throwaway PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` on a temporary
directory and a free loopback port, trust authentication on 127.0.0.1, stopped at the end.

The server binaries are the ones in the folder ``pg_config --bindir`` prints (Debian's
``postgresql`` package). ``initdb`` refuses to run as root, so as root the cluster is created
and run as the ``postgres`` user. Each test gets a database of its own (``new_database``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

START_TIMEOUT = 60  # seconds: a bound for a hung start, never a pause


class Unavailable(Exception):
    """No server can be started here (the reason is the message)."""


def bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise Unavailable("pg_config is not installed (Debian package: postgresql)")
    found = subprocess.run(
        [pg_config, "--bindir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    folder = Path(found)
    if not (folder / "initdb").exists() or not (folder / "pg_ctl").exists():
        raise Unavailable(f"no initdb/pg_ctl in {folder} (Debian package: postgresql)")
    return folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self.bin = bindir()
        self.as_user: list[str] = []
        self.base = Path(tempfile.mkdtemp(prefix="callprofile-pg-"))
        if os.geteuid() == 0:
            import pwd

            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no postgres user") from None
            runuser = shutil.which("runuser") or next(
                (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.path.exists(p)), None
            )
            if runuser is None:
                raise Unavailable("running as root and runuser is not installed (util-linux)")
            os.chown(self.base, account.pw_uid, account.pw_gid)
            self.as_user = [runuser, "-u", "postgres", "--"]
        self.data = self.base / "data"
        self.port = 0
        self._names = itertools.count(1)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=START_TIMEOUT,
        )
        if done.returncode != 0:
            raise Unavailable(f"{tool} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def start(self) -> None:
        """Start (or restart) the server on a free port. For tests durability is off: they
        never crash the server, only the clients, and fsync would make each test several
        times slower on a shared disk. Benchmarks ask for a durable server (``durable``)."""
        self.port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c max_connections=300"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w",
            "-t", str(START_TIMEOUT), "-o", options, "start",
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(Unavailable):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _client(self, tool: str, *args: str) -> None:
        """A client program (createdb, dropdb) over TCP, as the superuser trust lets in."""
        done = subprocess.run(
            [str(self.bin / tool), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             *args],
            capture_output=True, text=True, check=False, timeout=START_TIMEOUT,
        )  # fmt: skip
        if done.returncode != 0:
            raise Unavailable(f"{tool} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._client("createdb", name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a test's database (and end what is still connected to it), so a long session
        does not pile up hundreds of megabytes."""
        self._client("dropdb", "--if-exists", "--force", url.rsplit("/", 1)[1])


def query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
    """Rows of ``sql`` as dicts (tests read the ledger as data); [] for a statement."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []


def terminate_clients(url: str) -> int:
    """End every session of the URL's database but this one (as a server restart would)."""
    import psycopg

    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        done = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return int(done[0]) if done else 0
