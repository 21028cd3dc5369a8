"""The plan file: JSON lines, written and read as a stream.

Line 1 is the header (what was planned, from which inputs, valid until when), then one line per
contacts row in file order, then a trailer with the counts and the sha256 of every line before
it, so a truncated or hand-edited plan is refused. Keys are written in a fixed order and nothing
depends on the clock but ``created_at`` (from ``--at``), so planning twice from the same inputs
at the same time gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runner import codes

FORMAT = 1
CODE_PLAN = codes.PLAN_FILE
CODE_PLAN_SECRET = codes.PLAN_SECRET
ACTIONS = ("call", "defer", "skip", "invalid", "duplicate")
PLANNED = ("call", "defer")  # rows apply will dial (a deferred row when its window opens)


class PlanError(Exception):
    def __init__(self, path: str, message: str, code: str = CODE_PLAN):
        self.path = path
        self.message = message
        self.code = code
        super().__init__(f"{path}: {message}")


def _line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class Writer:
    """Write a plan beside ``path`` and move it into place on ``close``, so a failed plan never
    replaces a good one.

    Rows are spooled first and the file is assembled on ``close``: by then every request has
    been rendered, so every secret value is known, and each line is checked for them as it is
    copied. Requests are redacted by path already; this catches a secret arriving any other way
    (an override, a reason quoting a value)."""

    def __init__(self, path: str, header: dict[str, Any]):
        self.path = path
        self.header = {"callprofile_plan": FORMAT, **header}
        self.directory = os.path.dirname(os.path.abspath(path))
        # Closed by close() or abort(): it outlives this call.
        self.spool = tempfile.TemporaryFile(dir=self.directory)  # noqa: SIM115
        self.counts = dict.fromkeys(ACTIONS, 0)
        self.tmp: str | None = None

    def row(self, data: dict[str, Any]) -> None:
        self.counts[data["action"]] += 1
        self.spool.write(_line(data))

    def close(self) -> dict[str, int]:
        from runner.secrets import scrub

        summary = {"rows": sum(self.counts.values()), **self.counts}
        fd, self.tmp = tempfile.mkstemp(prefix=".plan-", suffix=".tmp", dir=self.directory)
        digest = hashlib.sha256()
        self.spool.seek(0)
        with os.fdopen(fd, "wb") as out:
            lines = [_line(self.header)]
            for raw in (*lines, *self.spool):
                text = raw.decode("utf-8")
                if scrub(text) != text:
                    raise PlanError(
                        self.path,
                        "a secret value would be written into the plan (from --set, --var or "
                        "a contacts cell); give secrets through CALLPROFILE_* variables the "
                        "profile reads, which the plan references instead of storing; nothing "
                        "was written",
                        CODE_PLAN_SECRET,
                    )
                digest.update(raw)
                out.write(raw)
            out.write(_line({"summary": summary, "sha256": digest.hexdigest()}))
        os.replace(self.tmp, self.path)
        self.tmp = None
        self.spool.close()
        return summary

    def abort(self) -> None:
        self.spool.close()
        if self.tmp is not None and os.path.exists(self.tmp):
            os.unlink(self.tmp)


@dataclass
class Plan:
    path: str
    header: dict[str, Any]
    summary: dict[str, int]

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row line, in file order (read again from disk: memory stays flat)."""
        with open(self.path, "rb") as fh:
            fh.readline()
            for raw in fh:
                data = json.loads(raw)
                if "summary" in data:
                    return
                yield data


def read(path: str) -> Plan:
    """Open and check a plan: its format, its header, and that no line was changed or lost."""
    digest = hashlib.sha256()
    header: dict[str, Any] | None = None
    trailer: dict[str, Any] | None = None
    try:
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if trailer is not None:
                    raise PlanError(path, f"line {number}: text after the plan's last line")
                try:
                    data = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    raise PlanError(path, f"line {number} is not JSON: not a plan file") from None
                if not isinstance(data, dict):
                    raise PlanError(path, f"line {number} is not a JSON object")
                if number == 1:
                    header = data
                    _check_header(path, header)
                if "summary" in data and number > 1:
                    trailer = data
                    continue
                digest.update(raw)
    except OSError as exc:
        raise PlanError(path, f"cannot read the plan: {exc.strerror or exc}") from None
    if header is None:
        raise PlanError(path, "the file is empty: not a plan file")
    if trailer is None:
        raise PlanError(path, "the plan has no last line: it was cut short; plan again")
    if trailer.get("sha256") != digest.hexdigest():
        raise PlanError(
            path, "the plan's lines do not match its checksum: it was edited; plan again"
        )
    summary = trailer.get("summary")
    if not isinstance(summary, dict):
        raise PlanError(path, "the plan's last line has no summary")
    return Plan(path, header, summary)


def _check_header(path: str, header: dict[str, Any]) -> None:
    version = header.get("callprofile_plan")
    if version is None:
        raise PlanError(path, "not a callprofile plan (no 'callprofile_plan' on line 1)")
    if version != FORMAT:
        raise PlanError(
            path, f"plan format {version!r}; this callprofile reads format {FORMAT}: plan again"
        )
    for key in ("tool", "created_at", "valid_until", "profile", "contacts", "inputs"):
        if key not in header:
            raise PlanError(path, f"the plan's header has no {key!r}")
