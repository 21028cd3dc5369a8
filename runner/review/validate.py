"""Check a profiles directory (or some files in it) the way a reviewer needs before merging."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.flow.compose import compose
from runner.profiles.resolve import chain
from runner.profiles.store import Profile, Store
from runner.review.standins import PLACEHOLDER_CONNECTION, render_with, stand_ins

if TYPE_CHECKING:
    from runner.review.lint.engine import Linter


@dataclass
class Report:
    checked: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    placeholder_to: list[str] = field(default_factory=list)  # profiles checked with PLACEHOLDER_TO
    examples: list[str] = field(default_factory=list)  # profiles rendered with example values
    dependents: list[str] = field(default_factory=list)  # checked because they extend a named file
    # The profile file a diagnostic without a file of its own belongs to (for SARIF locations).
    files: dict[Diagnostic, str] = field(default_factory=dict)
    # unset env.CALLPROFILE_* names rendered with a stand-in -> the profiles that read them
    env_stand_ins: dict[str, list[str]] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "warning")


def targets(store: Store, paths: list[str]) -> list[tuple[str, Profile | None, Path]]:
    """(name, preloaded profile or None, path) for each profile to check."""
    if not paths:
        return [(name, None, _path(store, name)) for name in store.names()]
    out: list[tuple[str, Profile | None, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            sub = Store(path)
            for name in sub.names():
                out.extend(targets(store, [str(sub.path_for(name))]))
            continue
        known = store.name_of(path)
        out.append((known or f"<{raw}>", None if known else store.load_path(path, raw), path))
    return out


CODE_NO_DIRECTORY = codes.NO_PROFILE  # the same code run gives for a missing directory
CODE_EMPTY = codes.NO_PROFILES_FOUND  # a green check that checked nothing would mislead


def _path(store: Store, name: str) -> Path:
    """The file of profile ``name``; one that cannot be reached is reported when it is checked,
    not here, so it stays one finding among the rest."""
    try:
        return store.path_for(name)
    except ProfileError:
        return store.root / name


def validate_profiles(
    store: Store, paths: list[str], *, lint: bool = True, allow_empty: bool = False
) -> Report:
    """Check ``paths`` (or the whole directory). A missing directory is an error, and so is
    finding no profile at all unless ``allow_empty``: a wrong hook argument or CI working
    directory must not pass as a clean check."""
    report = Report()
    if not paths and not store.root.is_dir():
        shown = store.display(store.root)
        what = "is not a directory" if store.root.exists() else "does not exist"
        report.diagnostics.append(
            Diagnostic(
                f"profiles directory {shown!r} {what} (set it with --profiles-dir or "
                "CALLPROFILE_DIR)",
                CODE_NO_DIRECTORY,
                origin="--profiles-dir",
            )
        )
        return report
    seen: set[tuple[object, ...]] = set()

    def add(diagnostics: list[Diagnostic], path: Path | None = None) -> None:
        for d in diagnostics:
            key = (d.file, d.line, d.col, d.code, d.message, d.origin)
            if key not in seen:
                seen.add(key)
                report.diagnostics.append(d)
                if d.file is None and path is not None:
                    report.files.setdefault(d, store.display(path))

    try:
        found = targets(store, paths)
    except ProfileError as exc:
        add(exc.diagnostics)
        found = []
    if not paths:
        # One entry that cannot be a profile is one finding; the rest are still checked.
        for file, reason in store.unloadable():
            code = codes.BAD_NAME if "symlink" in reason else codes.UNREADABLE
            add([Diagnostic(reason, code, file=file)])
    if paths:
        # A named fragment is judged through the profiles that use it: a change to it changes
        # them, and they are what validate renders and what the combination rules judge.
        named = {name for name, _, _ in found}
        for name in extending(store, named):
            report.dependents.append(name)
            found.append((name, None, _path(store, name)))
    linter = None
    if lint:
        from runner.review.lint.engine import Linter

        linter = Linter(store)
    for name, preloaded, path in found:
        report.checked += 1
        try:
            if preloaded is not None:
                store.adopt(name, preloaded)
            add(check_profile(store, name, report), path)
        except ProfileError as exc:
            add(exc.diagnostics, path)
        if linter is not None:
            linter.profile(name)
        if preloaded is None:
            _let_go(store, name, linter)
    if linter is not None:
        add(linter.finish())
    if not report.checked and not allow_empty:
        where = ", ".join(paths) if paths else store.display(store.root)
        report.diagnostics.append(
            Diagnostic(
                f"no profiles found in {where}: nothing was checked (a wrong --profiles-dir "
                "or working directory?); pass --allow-empty if that is expected",
                CODE_EMPTY,
                origin="--profiles-dir" if not paths else "PATH",
            )
        )
    report.diagnostics.sort(key=lambda d: (*d.sort_key(), d.message))
    return report


def _let_go(store: Store, name: str, linter: Linter | None) -> None:
    """Forget a checked profile's parsed file, so memory does not grow with the number of
    profiles. Fragments (abstract profiles) stay: every profile extending one needs it again.
    A runnable profile that others extend is read again when they are checked."""
    profile = store.forget(name)
    if profile is None:
        return
    if profile.abstract:
        store.adopt(name, profile)
    elif linter is not None:
        linter.forget(profile)


def extending(store: Store, names: set[str]) -> list[str]:
    """Profiles in ``store`` (not in ``names``) whose extends chain reaches one of ``names``."""
    out: list[str] = []
    for name in store.names():
        if name in names:
            continue
        try:
            parents = {p.name for p in chain(store, name)}
        except ProfileError:
            continue
        if parents & names:
            out.append(name)
    return out


def check_profile(store: Store, name: str, report: Report) -> list[Diagnostic]:
    profile = store.load(name)
    problems = list(profile.problems)
    if any(d.severity == "error" for d in problems):
        return problems
    chain(store, name)  # raises on cycles, missing parents, parents' schema errors
    from runner.campaign.policy import resolve as resolve_policy

    try:
        resolve_policy(store, name)
    except ProfileError as exc:
        problems.extend(exc.diagnostics)
    if profile.abstract:
        return problems  # a fragment may hold part of a retry rule; its users complete it
    from runner.campaign.retry import resolve as resolve_retry

    try:
        resolve_retry(store, name)
    except ProfileError as exc:
        problems.extend(exc.diagnostics)
    try:
        composed = compose(store, name, default_connection_id=PLACEHOLDER_CONNECTION)
        extra = stand_ins(composed)
        problems.extend(extra.diagnostics)
        if extra.placeholder_to:
            report.placeholder_to.append(name)
        if extra.examples or extra.invented:
            report.examples.append(name)
        for var in extra.env_stand_ins:
            report.env_stand_ins.setdefault(var, []).append(name)
        render_with(composed, extra)
    except ProfileError as exc:
        problems.extend(exc.diagnostics)
    return problems
