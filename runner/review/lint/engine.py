"""Run the lint rules over profiles and turn their findings into positioned diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.merge import Provenance, origin_of
from runner.profiles.store import Profile, Store
from runner.review.lint import ignore
from runner.review.lint.registry import Effective, Finding, Rule
from runner.review.lint.rules import RULES


def lint_profiles(store: Store, names: Iterable[str]) -> list[Diagnostic]:
    """Lint findings for the profiles ``names``, each reported once at the line that set the
    offending value, minus those silenced by an ignore comment."""
    from runner.flow.compose import merged_document

    ignore.forget()
    wanted = list(dict.fromkeys(names))
    found: list[Diagnostic] = []
    # Effective findings, keyed by where and what, with the profiles that produced them.
    via: dict[tuple[object, ...], list[str]] = {}
    for name in wanted:
        profile = _load(store, name)
        if profile is None:
            continue
        for rule, check in _rules("file"):
            found.extend(_at_file(rule, profile, f) for f in check(profile))
        if profile.abstract:
            continue
        try:
            document, prov, _ = merged_document(store, name)
        except ProfileError:
            continue  # validate reports why
        view = Effective(name, document, prov)
        for rule, check in _rules("effective"):
            for finding in check(view):
                placed = _at_origin(rule, prov, finding)
                if placed is not None:
                    key = (placed.file, placed.line, placed.col, placed.code, placed.message)
                    if key not in via:
                        found.append(placed)
                    via.setdefault(key, []).append(name)
    everyone = [p for p in (_load(store, n) for n in store.names()) if p is not None]
    for rule, check in _rules("store"):
        for profile, finding in check(everyone):
            if profile.name in wanted:
                found.append(_at_file(rule, profile, finding))
    out: list[Diagnostic] = []
    for diag in found:
        if diag.file and ignore.is_silenced(diag.file, diag.line, diag.code):
            continue
        # Several children of one fragment find the same value: report it once, naming them.
        producers = via.get((diag.file, diag.line, diag.col, diag.code, diag.message))
        if producers:
            label = "profile" if len(producers) == 1 else "profiles"
            diag = replace(diag, message=f"{diag.message} (in {label} {', '.join(producers)})")
        out.append(diag)
    return sorted(out, key=Diagnostic.sort_key)


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
