"""Profiles as they were at a git revision, read with git into memory (the work tree is never
touched: no checkout, no stash, no temporary files)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.source import MAX_BYTES, load_text
from runner.profiles.store import _NAME, SUFFIXES, Profile, Store


class GitError(Exception):
    """The revision or repository cannot be used (a usage error, exit 2)."""


def _git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=input, capture_output=True, env=env, check=False
        )
    except FileNotFoundError:
        raise GitError("git is not installed (diff reads the base revision with git)") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git {args[0]} failed")
    return done.stdout


def locate(profiles_dir: Path) -> tuple[Path, str]:
    """(repository top level, the profiles directory's path inside it, POSIX style)."""
    probe = Path(profiles_dir).resolve()
    start = probe if probe.is_dir() else probe.parent
    while not start.is_dir():
        start = start.parent
    try:
        top = Path(_git(start, "rev-parse", "--show-toplevel").decode().strip()).resolve()
    except GitError:
        raise GitError(f"{profiles_dir} is not inside a git repository") from None
    try:
        rel = probe.relative_to(top).as_posix()
    except ValueError:
        raise GitError(f"{profiles_dir} is outside the repository at {top}") from None
    return top, "" if rel == "." else rel


def resolve(top: Path, rev: str) -> str:
    """The commit id ``rev`` names. GitError with a clear message when it names none."""
    if not rev or rev.startswith("-"):
        raise GitError(f"{rev!r} is not a revision")
    try:
        return _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except GitError:
        raise GitError(f"unknown revision {rev!r} (no such commit, branch or tag)") from None


@dataclass
class _Blob:
    display: str
    text: str | None  # None: over the size cap


@dataclass
class TreeStore(Store):
    """A Store over the profiles directory as it was at one commit."""

    blobs: dict[str, _Blob] = field(default_factory=dict, repr=False)

    @classmethod
    def at(cls, top: Path, commit: str, rel: str, label: str) -> TreeStore:
        """Read ``rel`` at ``commit``; messages name files ``label:path``."""
        prefix = f"{rel}/" if rel else ""
        listing = _git(top, "ls-tree", "-r", "-l", "-z", "--full-tree", commit, "--", prefix or ".")
        wanted: dict[str, tuple[str, str]] = {}  # name -> (sha, repo path)
        sizes: dict[str, int] = {}
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, raw_path = entry.partition(b"\t")
            mode, kind, sha, size = meta.split()
            path = raw_path.decode("utf-8", "surrogateescape")
            if kind != b"blob" or mode == b"120000" or not path.startswith(prefix):
                continue  # symlinks and submodules are not profiles
            inner = PurePosixPath(path[len(prefix) :])
            if inner.suffix not in SUFFIXES or any(p.startswith(".") for p in inner.parts[:-1]):
                continue
            name = str(inner.with_suffix(""))
            if not re.match(_NAME, name):
                continue
            # x.yaml wins over x.yml, as in the work tree.
            if name in wanted and inner.suffix != ".yaml":
                continue
            wanted[name] = (sha.decode(), path)
            sizes[name] = int(size)
        store = cls(Path(f"{label}:{rel or '.'}"))
        small = [n for n in wanted if sizes[n] <= MAX_BYTES]
        texts = _cat(top, [wanted[n][0] for n in small])
        for name in wanted:
            display = f"{label}:{wanted[name][1]}"
            store.blobs[name] = _Blob(display, texts.get(wanted[name][0]))
        return store

    def names(self) -> list[str]:
        return sorted(self.blobs)

    def path_for(self, name: str, origin: str | None = None) -> Path:
        self.check_name(name, origin)
        if name not in self.blobs:
            raise ProfileError(
                [
                    Diagnostic(
                        f"no profile named {name!r} in {self.root}",
                        codes.NO_PROFILE,
                        origin=origin or "profile name",
                    )
                ]
            )
        return Path(self.blobs[name].display)

    def load(self, name: str, origin: str | None = None) -> Profile:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        self.path_for(name, origin)
        blob = self.blobs[name]
        if blob.text is None:
            raise ProfileError(
                [
                    Diagnostic(
                        f"file is larger than {MAX_BYTES} bytes", codes.TOO_LARGE, file=blob.display
                    )
                ]
            )
        profile = Profile(name, load_text(blob.text, blob.display))
        self._cache[name] = profile
        return profile

    def name_of(self, path: Path) -> str | None:
        return None


def _cat(top: Path, shas: list[str]) -> dict[str, str]:
    if not shas:
        return {}
    out = _git(top, "cat-file", "--batch", input="".join(f"{s}\n" for s in shas).encode())
    texts: dict[str, str] = {}
    pos = 0
    for sha in shas:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        size = int(header[2])
        body = out[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
        texts[sha] = body.decode("utf-8", "replace")
    return texts
