"""Run the lint rules over profiles and turn their findings into positioned diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.merge import Provenance, origin_of
from runner.profiles.source import Source
from runner.profiles.store import Profile, Store
from runner.review.lint import ignore
from runner.review.lint.registry import Effective, Finding, Rule
from runner.review.lint.rules import RULES


def lint_profiles(store: Store, names: Iterable[str]) -> list[Diagnostic]:
    """Lint findings for the profiles ``names``, each reported once at the line that set the
    offending value, minus those silenced by an ignore comment."""
    linter = Linter(store)
    for name in names:
        linter.profile(name)
    return linter.finish()


class Linter:
    """Lint one profile at a time, report at the end: ``validate`` lints each profile right
    after checking it, so the store can forget the profile's file before the next one instead
    of holding every parsed file until the end of the run."""

    def __init__(self, store: Store) -> None:
        ignore.forget()
        self.store = store
        self.wanted: dict[str, None] = {}
        self.found: list[Diagnostic] = []
        # Effective findings, keyed by where and what, with the profiles that produced them.
        self.via: dict[tuple[object, ...], list[str]] = {}
        # What the store rules read of a profile the store has since forgotten (see forget).
        self.kept: dict[str, Profile] = {}

    def profile(self, name: str) -> None:
        """Run the file and effective rules on profile ``name`` (once per name)."""
        from runner.flow.compose import merged_document

        if name in self.wanted:
            return
        self.wanted[name] = None
        profile = _load(self.store, name)
        if profile is None:
            return
        for rule, check in _rules("file"):
            self.found.extend(_at_file(rule, profile, f) for f in check(profile))
        if profile.abstract:
            return
        try:
            document, prov, _ = merged_document(self.store, name)
        except ProfileError:
            return  # validate reports why
        view = Effective(name, document, prov)
        for rule, check in _rules("effective"):
            for finding in check(view):
                placed = _at_origin(rule, prov, finding)
                if placed is not None:
                    key = (placed.file, placed.line, placed.col, placed.code, placed.message)
                    if key not in self.via:
                        self.found.append(placed)
                    self.via.setdefault(key, []).append(name)

    def forget(self, profile: Profile) -> None:
        """Keep what the store rules read of ``profile`` (its name, ``abstract`` and
        ``extends``) once the store no longer holds it."""
        data = {k: profile.data[k] for k in ("abstract", "extends") if k in profile.data}
        self.kept[profile.name] = Profile(profile.name, Source(profile.file, data))

    def finish(self) -> list[Diagnostic]:
        """Every finding, the store rules' included, each once, minus the silenced."""
        everyone = [p for p in (self._known(n) for n in self.store.names()) if p is not None]
        for rule, check in _rules("store"):
            for profile, finding in check(everyone):
                if profile.name in self.wanted:
                    whole = _load(self.store, profile.name) if profile.name in self.kept else None
                    self.found.append(_at_file(rule, whole or profile, finding))
        out: list[Diagnostic] = []
        for diag in self.found:
            if diag.file and ignore.is_silenced(diag.file, diag.line, diag.code):
                continue
            # Several children of one fragment find the same value: report it once, naming them.
            producers = self.via.get((diag.file, diag.line, diag.col, diag.code, diag.message))
            if producers:
                label = "profile" if len(producers) == 1 else "profiles"
                diag = replace(diag, message=f"{diag.message} (in {label} {', '.join(producers)})")
            out.append(diag)
        return sorted(out, key=Diagnostic.sort_key)

    def _known(self, name: str) -> Profile | None:
        return self.kept.get(name) or _load(self.store, name)


def _rules(scope: str) -> list[tuple[Rule, Callable[..., Any]]]:
    return [(r, r.check) for r in RULES if r.scope == scope and r.check is not None]


def _load(store: Store, name: str) -> Profile | None:
    try:
        return store.load(name)
    except ProfileError:
        return None


def _at_file(rule: Rule, profile: Profile, finding: Finding) -> Diagnostic:
    return profile.source.diag(
        finding.path, finding.message, rule.code, at_key=finding.at_key, severity=rule.severity
    )


def _at_origin(rule: Rule, prov: Provenance, finding: Finding) -> Diagnostic | None:
    hit = origin_of(prov, finding.path)
    if hit is None or hit[0].source is None:
        return None
    return hit[0].source.diag(
        finding.path, finding.message, rule.code, at_key=finding.at_key, severity=rule.severity
    )
