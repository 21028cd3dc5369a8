"""``--ledger``: a file path (SQLite) or a ``postgresql://`` URL, and how either is shown.

A password never travels in the URL: a command line is visible to every user of the machine
(``ps``) and ends up in CI logs and shell history. libpq reads it from ``PGPASSWORD`` or
``~/.pgpass`` instead, and messages show the URL without it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from runner.batch.ledger.base import LedgerUsage

SCHEMES = ("postgresql", "postgres")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SECRET_PARAMS = {"password", "sslpassword"}


def is_url(spec: str) -> bool:
    return _URL.match(spec) is not None


def is_postgres(spec: str) -> bool:
    match = _URL.match(spec)
    return match is not None and match.group(1).lower() in SCHEMES


def check(spec: str) -> None:
    """Refuse a ``--ledger`` value that is not a path or a PostgreSQL URL without a password."""
    if not spec.strip():
        raise LedgerUsage("--ledger is empty; give a file path or a postgresql:// URL")
    match = _URL.match(spec)
    if match is None:
        return
    if match.group(1).lower() not in SCHEMES:
        raise LedgerUsage(
            f"--ledger: {match.group(1)}:// is not supported; give a file path (SQLite) or a "
            "postgresql:// URL"
        )
    parts = urlsplit(spec)
    userinfo = parts.netloc.rpartition("@")[0]
    in_query = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if ":" in userinfo or in_query & _SECRET_PARAMS:
        raise LedgerUsage(
            "--ledger: the URL holds a password; remove it and put it in PGPASSWORD or "
            "~/.pgpass (a password on the command line is visible to other users and in logs)"
        )


def display(spec: str) -> str:
    """The ledger as messages show it: a path as given; a URL as scheme://user@host:port/db,
    without a password (even one that slipped through) or query parameters."""
    match = _URL.match(spec)
    if match is None:
        return spec
    parts = urlsplit(spec)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{match.group(1)}://{user}{at}{hosts}{parts.path}"
