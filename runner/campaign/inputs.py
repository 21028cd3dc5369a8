"""The inputs a plan depends on, each with a digest, and what changed since.

A plan is only as good as the files it was made from: every profile file of the extends chain
(as resolved), the values and vars files, the contacts, the do-not-call list, the policy the
profiles declare and the built-in rules table. (The command-line options are kept in the plan's
header itself.) ``apply`` computes
the same list again and names each input whose digest differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = {
    "profile": "profile file",
    "values": "values file",
    "vars": "vars file",
    "contacts": "contacts",
    "dnc": "do-not-call list",
    "policy": "policy",
    "rules": "built-in rules table",
}
MISSING = "missing"


@dataclass(frozen=True)
class Input:
    kind: str
    name: str  # the path as given (relative to where the plan was made), or a label
    sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Any) -> Input:
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("kind", "name", "sha256")
        ):
            raise ValueError("an input must have kind, name and sha256")
        return cls(data["kind"], data["name"], data["sha256"])

    @property
    def label(self) -> str:
        what = KINDS.get(self.kind, self.kind)
        return what if self.kind in ("policy", "rules") else f"{what} {self.name}"


def file_digest(path: str | Path) -> str:
    """sha256 of the file's bytes, or MISSING when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return MISSING
    return digest.hexdigest()


def data_digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rules_digest() -> str:
    here = Path(__file__).resolve().parent
    return data_digest(
        [file_digest(here / "state_rules.json"), file_digest(here / "areacodes.json")]
    )


def files(kind: str, paths: Sequence[str]) -> list[Input]:
    return [Input(kind, str(path), file_digest(path)) for path in paths]


def changes(planned: Sequence[Input], current: Sequence[Input]) -> list[str]:
    """One line per input that differs: changed, gone, or new (a fragment added to extends)."""
    now = {(i.kind, i.name): i for i in current}
    then = {(i.kind, i.name): i for i in planned}
    found: list[str] = []
    for key, old in then.items():
        new = now.get(key)
        if new is None:
            found.append(f"{old.label} is no longer an input")
        elif new.sha256 == MISSING and old.sha256 != MISSING:
            found.append(f"{old.label} is missing")
        elif new.sha256 != old.sha256:
            found.append(f"{old.label} changed")
    for key, new in now.items():
        if key not in then:
            found.append(f"{new.label} is a new input")
    return found
