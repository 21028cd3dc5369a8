"""The profiles directory: names, safe paths, listing and loading.

A name is checked before any file is opened, and the path it maps to must still be inside the
directory once symlinks are resolved, so a profile name can never read outside it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.source import Source, load_file
from runner.schema.profile import NAME_PATTERN

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

# A pattern string, compiled (and cached by `re`) on first use, not at import.
_NAME = NAME_PATTERN
SUFFIXES = (".yaml", ".yml")


@dataclass
class Profile:
    """A named profile and its parsed file."""

    name: str
    source: Source

    @property
    def file(self) -> str:
        return self.source.file

    @cached_property
    def problems(self) -> list[Diagnostic]:
        """The file's profile-schema findings, computed once: a fragment is shared by many
        chains, and validate resolves each chain more than once."""
        from runner.schema.check import check_source

        return check_source(self.source)

    @property
    def data(self) -> dict[str, Any]:
        return self.source.data if isinstance(self.source.data, dict) else {}

    @property
    def description(self) -> str:
        value = self.data.get("description")
        return value if isinstance(value, str) else ""

    @property
    def abstract(self) -> bool:
        return self.data.get("abstract") is True

    @property
    def extends(self) -> list[str]:
        value = self.data.get("extends")
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str)]
        return []


def _entry_problem(path: Path, root: Path) -> str | None:
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISLNK(mode):
        real = path.resolve()
        if root not in real.parents:
            return f"a symlink resolving outside the profiles directory (to {real}); refused"
        return ""
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device); refused"
    return None


@dataclass
class Store:
    """Profiles under one directory. Loaded files are cached for the life of the store."""

    root: Path
    _cache: dict[str, Profile] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def display(self, path: Path) -> str:
        """How a file is named in messages: relative to the working directory when it is below
        it, else as the directory was given (never a long ``../../..`` climb out of it)."""
        try:
            rel = os.path.relpath(path)
        except ValueError:  # another drive on Windows
            rel = ""
        if rel and rel != ".." and not rel.startswith(".." + os.sep):
            return rel
        try:
            inner = Path(path).relative_to(self.root)
        except ValueError:
            return str(path)
        return str(self.root) if str(inner) == "." else str(self.root / inner)

    def names(self) -> list[str]:
        """Every profile in the directory: regular files only. Symlinks are not listed (one
        pointing inside is its target's alias; one pointing outside is refused), nor are
        FIFOs and devices, which could block or never end."""
        return sorted(name for name, _, problem in self.scan() if problem is None)

    def unloadable(self) -> list[tuple[str, str]]:
        """(file, reason) for each entry named like a profile that cannot be one: a symlink
        leading outside the directory, or something other than a regular file."""
        return [(self.display(path), problem) for _, path, problem in self.scan() if problem]

    def scan(self) -> list[tuple[str, Path, str | None]]:
        """(name, path, problem) for every *.yaml/*.yml entry with a valid name; problem is
        None for a regular file, "" for a symlink inside the directory (skipped quietly)."""
        if not self.root.is_dir():
            return []
        found: list[tuple[str, Path, str | None]] = []
        root = self.root.resolve()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                stem, ext = os.path.splitext(filename)
                if ext not in SUFFIXES:
                    continue
                rel = os.path.relpath(os.path.join(dirpath, stem), root).replace(os.sep, "/")
                if re.match(_NAME, rel):
                    path = Path(dirpath) / filename
                    found.append((rel, path, _entry_problem(path, root)))
        return found

    def check_name(self, name: str, origin: str | None = None) -> None:
        if not re.match(_NAME, name):
            raise ProfileError(
                [
                    Diagnostic(
                        f"invalid profile name {name!r}: names are lower-case segments of "
                        "[a-z0-9._-] joined by '/', relative to the profiles directory "
                        "(no '..', absolute paths or backslashes)",
                        codes.BAD_NAME,
                        origin=origin or "profile name",
                    )
                ]
            )

    def path_for(self, name: str, origin: str | None = None) -> Path:
        self.check_name(name, origin)
        if not self.root.is_dir():
            raise ProfileError(
                [
                    Diagnostic(
                        f"profiles directory {self.display(self.root)!r} does not exist "
                        "(set it with --profiles-dir or CALLPROFILE_DIR)",
                        codes.NO_PROFILE,
                        origin="--profiles-dir",
                    )
                ]
            )
        root = self.root.resolve()
        for suffix in SUFFIXES:
            candidate = self.root / (name + suffix)
            if not candidate.is_file():
                continue
            real = candidate.resolve()
            if root not in real.parents:
                raise ProfileError(
                    [
                        Diagnostic(
                            f"profile {name!r} resolves outside the profiles directory "
                            f"(a symlink to {real}); refused",
                            codes.BAD_NAME,
                            origin=origin or "profile name",
                        )
                    ]
                )
            return candidate
        import difflib  # only for this message: ~1 ms to import

        known = self.names()
        # "sales/followup.yaml" is a file name, not a profile name: suggest dropping the suffix.
        hint = [name[: -len(s)] for s in SUFFIXES if name.endswith(s) and name[: -len(s)] in known]
        hint = hint or difflib.get_close_matches(name, known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ProfileError(
            [
                Diagnostic(
                    f"no profile named {name!r} in {self.display(self.root)}{suggestion}",
                    codes.NO_PROFILE,
                    origin=origin or "profile name",
                )
            ]
        )

    def load(self, name: str, origin: str | None = None) -> Profile:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        path = self.path_for(name, origin)
        profile = self.load_path(path, name)
        self._cache[name] = profile
        return profile

    def forget(self, name: str) -> Profile | None:
        """Drop profile ``name`` from the cache (a later ``load`` reads its file again) and
        return it: a long check lets go of each file once it is done with it."""
        return self._cache.pop(name, None)

    def adopt(self, name: str, profile: Profile) -> None:
        """Make a file from outside the directory loadable as ``name`` (validate's named files),
        so its ``extends`` resolve against this directory."""
        self._cache[name] = profile

    def load_path(self, path: Path, name: str | None = None) -> Profile:
        source = load_file(str(path), self.display(path))
        if name is None:
            name = self.name_of(path)
        return Profile(name or Path(path).stem, source)

    def name_of(self, path: Path) -> str | None:
        """The profile name of a file inside the directory, or None for a file elsewhere."""
        try:
            rel = Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        stem = str(rel.with_suffix("")).replace(os.sep, "/")
        return stem if re.match(_NAME, stem) else None
