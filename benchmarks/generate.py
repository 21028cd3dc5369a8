"""Generate a repository of profiles for the validation benchmark.

Every runnable profile sits at the end of an ``extends`` chain three deep (leaf -> region
fragment -> base fragment), declares variables (required with examples, and optional with
defaults) and uses templates, including one rendered into an integer field.
"""

from __future__ import annotations

from pathlib import Path

BASES = 10
REGIONS = 40

BASE = """\
description: Base fragment {i}
abstract: true
connection_id: "12345678{i:02d}"
call:
  Timeout: {timeout}
  TimeLimit: {limit}
"""

REGION = """\
description: Region fragment {j}
abstract: true
extends: base/common-{base:02d}
call:
  SipRegion: {region}
  PreferredCodecs: "PCMU,PCMA"
  MachineDetection: Enable
  MachineDetectionTimeout: {amd}
  StatusCallbackEvent: "initiated answered completed"
"""

LEAF = """\
# yaml-language-server: $schema=../../schemas/profile.schema.json
description: Generated profile {n} for the validation benchmark.
extends:
  - region/r-{region:02d}
variables:
  customer_name:
    required: true
    description: Who is called.
    example: Ada
  appointment_time:
    required: true
    example: "Tuesday 3 PM"
  ring:
    default: "{ring}"
  clinic:
    default: Northside {n}
call:
  From: "+1312000{n:04d}"
  AIAssistantId: "assistant-{n:08d}-4b8d-4a0e-9d2c-6a1f5e3b7c40"
  Timeout: "{{{{ ring }}}}"
  CallerId: "Clinic {n}"
  AIAssistantDynamicVariables:
    customer_name: "{{{{ customer_name }}}}"
    appointment_time: "{{{{ appointment_time }}}}"
    clinic: "{{{{ clinic }}}}"
    greeting: "Hello {{{{ customer_name }}}}, this is {{{{ clinic }}}}."
  CustomHeaders:
    - name: X-Callprofile
      value: "{{{{ profile }}}}"
"""


def generate(root: Path, total: int = 1000) -> list[Path]:
    """Write ``total`` profile files under ``root``; return their paths."""
    files: list[Path] = []

    def put(relative: str, text: str) -> None:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files.append(path)

    for i in range(BASES):
        put(f"base/common-{i:02d}.yaml", BASE.format(i=i, timeout=20 + i, limit=600 + 60 * i))
    for j in range(REGIONS):
        put(
            f"region/r-{j:02d}.yaml",
            REGION.format(j=j, base=j % BASES, region=("US", "Europe")[j % 2], amd=3000 + 100 * j),
        )
    for n in range(total - BASES - REGIONS):
        put(
            f"team-{n % 20:02d}/p-{n:04d}.yaml",
            LEAF.format(n=n, region=n % REGIONS, ring=15 + n % 60),
        )
    return files
