"""Resolve a profile's ``extends`` graph into the ordered list of files to merge."""

from __future__ import annotations

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.store import Profile, Store


def chain(store: Store, name: str, *, origin: str | None = None) -> list[Profile]:
    """Profiles to merge, lowest first: parents depth first, left to right, then ``name``.

    A fragment reached twice (a diamond) is applied once, at its first position, so a later
    sibling's values still win over it. Each file is checked against the profile schema as it
    is loaded; any problem stops resolution with every diagnostic found so far.
    """
    order: list[Profile] = []
    seen: set[str] = set()
    problems: list[Diagnostic] = []

    def visit(current: str, trail: list[str], via: tuple[Profile, int] | None) -> None:
        if current in trail:
            loop = " -> ".join([*trail[trail.index(current) :], current])
            parent, index = via  # type: ignore[misc]
            raise ProfileError(
                [
                    parent.source.diag(
                        _extends_path(parent, index),
                        f"'extends' forms a cycle: {loop}",
                        codes.EXTENDS_CYCLE,
                    )
                ]
            )
        if current in seen:
            return
        if via is None:
            profile = store.load(current, origin)
        else:
            parent, index = via
            try:
                profile = store.load(current, origin)
            except ProfileError as exc:
                # Point at the 'extends' entry that named the missing parent.
                raise ProfileError(
                    [
                        parent.source.diag(_extends_path(parent, index), d.message, d.code)
                        for d in exc.diagnostics
                    ]
                    if all(d.file is None for d in exc.diagnostics)
                    else exc.diagnostics
                ) from None
        found = profile.problems
        problems.extend(found)
        if any(d.severity == "error" for d in found):
            raise ProfileError(problems)
        for index, parent_name in enumerate(profile.extends):
            visit(parent_name, [*trail, current], (profile, index))
        seen.add(current)
        order.append(profile)

    visit(name, [], None)
    return order


def _extends_path(profile: Profile, index: int) -> tuple[str | int, ...]:
    return ("extends", index) if isinstance(profile.data.get("extends"), list) else ("extends",)
