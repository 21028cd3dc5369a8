"""Check a profiles directory (or some files in it) the way a reviewer needs before merging."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runner.diagnostics import Diagnostic, ProfileError
from runner.flow.compose import compose
from runner.profiles.resolve import chain
from runner.profiles.store import Profile, Store
from runner.review.standins import PLACEHOLDER_CONNECTION, render_with, stand_ins


@dataclass
class Report:
    checked: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    placeholder_to: list[str] = field(default_factory=list)  # profiles checked with PLACEHOLDER_TO
    examples: list[str] = field(default_factory=list)  # profiles rendered with example values
    dependents: list[str] = field(default_factory=list)  # checked because they extend a named file
    # The profile file a diagnostic without a file of its own belongs to (for SARIF locations).
    files: dict[Diagnostic, str] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "warning")


def targets(store: Store, paths: list[str]) -> list[tuple[str, Profile | None, Path]]:
    """(name, preloaded profile or None, path) for each profile to check."""
    if not paths:
        return [(name, None, store.path_for(name)) for name in store.names()]
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


def validate_profiles(store: Store, paths: list[str], *, lint: bool = True) -> Report:
    report = Report()
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
    if paths:
        # A named fragment is judged through the profiles that use it: a change to it changes
        # them, and they are what validate renders and what the combination rules judge.
        named = {name for name, _, _ in found}
        for name in extending(store, named):
            report.dependents.append(name)
            found.append((name, None, store.path_for(name)))
    for name, preloaded, path in found:
        report.checked += 1
        try:
            if preloaded is not None:
                store.adopt(name, preloaded)
            add(check_profile(store, name, report), path)
        except ProfileError as exc:
            add(exc.diagnostics, path)
    if lint:
        from runner.review.lint import lint_profiles

        add(lint_profiles(store, [name for name, _, _ in found]))
    report.diagnostics.sort(key=lambda d: (*d.sort_key(), d.message))
    return report


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
        return problems
    try:
        composed = compose(store, name, default_connection_id=PLACEHOLDER_CONNECTION)
        extra = stand_ins(composed)
        problems.extend(extra.diagnostics)
        if extra.placeholder_to:
            report.placeholder_to.append(name)
        if extra.examples or extra.invented:
            report.examples.append(name)
        render_with(composed, extra)
    except ProfileError as exc:
        problems.extend(exc.diagnostics)
    return problems
