"""A listing of the profiles in a directory."""

from __future__ import annotations

from typing import Any

from runner.diagnostics import ProfileError
from runner.profiles.store import Store


def catalog(store: Store) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for name in store.names():
        try:
            profile = store.load(name)
        except ProfileError as exc:
            entries.append(
                {
                    "name": name,
                    "description": "",
                    "abstract": False,
                    "extends": [],
                    "error": exc.diagnostics[0].text(),
                }
            )
            continue
        # An empty file or a YAML list loads, yet is no profile: the schema check says why.
        problems = [d for d in profile.problems if d.severity == "error"]
        if problems:
            entries.append(
                {
                    "name": name,
                    "description": "",
                    "abstract": False,
                    "extends": [],
                    "error": problems[0].text(),
                }
            )
            continue
        entries.append(
            {
                "name": name,
                "description": profile.description,
                "abstract": profile.abstract,
                "extends": profile.extends,
                "file": profile.file,
            }
        )
    return entries
