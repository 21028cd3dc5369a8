"""Where this callprofile was installed from, as a pip requirement line for CI.

``init`` writes a workflow that installs callprofile; naming a version on a package index where
it was never published makes the generated CI fail on its first pull request. The line names
the source this installation came from instead (pip records it, PEP 610 ``direct_url.json``):
a version from an index, a git URL at the exact commit, or a local file or directory, which a
CI runner cannot reach and the user must replace (``init`` says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from runner import __version__

DISTRIBUTION = "callprofile"


@dataclass(frozen=True)
class Source:
    requirement: str  # one line of a requirements file
    local: bool  # a path on this machine: CI cannot install from it as written


def installed() -> Source:
    from importlib import metadata

    try:
        dist = metadata.distribution(DISTRIBUTION)
        version = dist.version
        text = dist.read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return Source(f"{DISTRIBUTION}=={__version__}", local=False)
    if not text:
        return Source(f"{DISTRIBUTION}=={version}", local=False)  # from an index
    try:
        info = json.loads(text)
        url = str(info["url"])
    except (ValueError, KeyError, TypeError):
        return Source(f"{DISTRIBUTION}=={version}", local=False)
    vcs = info.get("vcs_info") if isinstance(info, dict) else None
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        return Source(
            f"{DISTRIBUTION} @ {vcs['vcs']}+{url}@{vcs['commit_id']}", local=_is_local(url)
        )
    return Source(f"{DISTRIBUTION} @ {url}", local=_is_local(url))


def _is_local(url: str) -> bool:
    return url.startswith("file:")


def requirements_file(source: Source) -> str:
    lines = [
        "# callprofile for CI: .github/workflows/callprofile.yml runs",
        "#   pip install -r .github/callprofile-requirements.txt",
        "# Written by `callprofile init` from where that callprofile was installed. Other forms:",
        f"#   {DISTRIBUTION}==1.2.3                                        (a package index)",
        f"#   {DISTRIBUTION} @ git+https://github.com/OWNER/callprofile@TAG (a git repository)",
    ]
    if source.local:
        lines += [
            "# The line below is a path on the machine that ran init, which a CI runner cannot",
            "# reach: replace it with one of the forms above before the first pull request.",
        ]
    return "\n".join([*lines, source.requirement]) + "\n"
