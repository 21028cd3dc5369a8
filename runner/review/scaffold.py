"""The files ``callprofile init`` writes: a profiles repository ready for review in pull requests.

The editor schema is written into the new repository (``schemas/profile.schema.json``) and each
profile points at it with a relative ``yaml-language-server`` modeline, so completion works
offline and matches the callprofile version that scaffolded it; ``callprofile schema profile``
refreshes it after an upgrade.
"""

from __future__ import annotations

from pathlib import Path

from runner.review.install_source import Source, installed, requirements_file
from runner.schema import files as schemas

SCHEMA_PATH = "schemas/profile.schema.json"
REQUIREMENTS_PATH = ".github/callprofile-requirements.txt"

FRAGMENT = """\
# yaml-language-server: $schema=../../schemas/profile.schema.json
description: Settings every profile in this repository starts from.
abstract: true

# Your TeXML application (connection) id.
connection_id: "1234567890"

call:
  # About five rings, then give up (the API default is 30 s).
  Timeout: 25
  # Cap the length of a conversation (the API default is 4 hours).
  TimeLimit: 600
"""

EXAMPLE = """\
# yaml-language-server: $schema=../schemas/profile.schema.json
description: >-
  Example: remind a customer of an appointment. Run it with
  callprofile run example --to +1... --var customer_name=Ada

extends: base/defaults

variables:
  customer_name:
    required: true
    description: How the assistant addresses the callee.
    example: Ada

call:
  From: "+13125550142"
  AIAssistantId: "assistant-00000000-0000-0000-0000-000000000000"
  AIAssistantDynamicVariables:
    customer_name: "{{ customer_name }}"
"""

PRE_COMMIT = """\
# Checks profiles before each commit: pre-commit install
# Uses the callprofile on PATH (pip install callprofile). The whole directory is validated
# whenever a profile changes, because a change to a fragment affects every profile extending it.
repos:
  - repo: local
    hooks:
      - id: callprofile-validate
        name: callprofile validate
        entry: callprofile validate
        language: system
        files: ^profiles/.*\\.ya?ml$
        pass_filenames: false
"""

WORKFLOW = """\
# Validates the profiles on every pull request (findings appear as annotations on the changed
# lines and in code scanning) and posts how the change alters each profile's effective request
# as a comment, with the plan of every campaign whose contacts changed.
name: callprofile

on:
  pull_request:
    paths:
      - "profiles/**"
      - "campaigns/**"
      - ".github/workflows/callprofile.yml"
      - ".github/callprofile-requirements.txt"

permissions:
  contents: read
  pull-requests: write
  security-events: write # upload the findings to code scanning

jobs:
  review:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0 # diff reads the base branch with git
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install callprofile
        # The exact callprofile this repository was set up with (see the file's comments).
        run: pip install -r .github/callprofile-requirements.txt
      - name: Validate
        # GITHUB_ACTIONS is set, so findings are printed as annotations too.
        run: callprofile validate --strict
      - name: Findings for code scanning
        if: success() || failure()
        # Exit 1 means findings (reported by the step above); anything else fails this step.
        run: callprofile validate --format sarif > callprofile.sarif || [ $? -eq 1 ]
      - name: Upload findings to code scanning
        # A pull request from a fork gets a read-only token: skip the upload there.
        if: >-
          (success() || failure())
          && github.event.pull_request.head.repo.full_name == github.repository
        uses: github/codeql-action/upload-sarif@v3
        with:
          sarif_file: callprofile.sarif
          category: callprofile
      - name: Diff against the base branch
        if: success() || failure()
        env:
          BASE_REF: ${{ github.base_ref }}
        run: callprofile diff --base "origin/$BASE_REF" --format markdown > callprofile-diff.md
      - name: Plan the campaigns whose contacts changed
        # campaigns/NAME.csv is called with profile NAME (campaigns/sales/followup.csv: profile
        # sales/followup). The plan's summary (numbers masked) joins the comment; nothing is sent.
        if: success() || failure()
        env:
          BASE_REF: ${{ github.base_ref }}
        run: |
          git diff --name-only --diff-filter=d "origin/$BASE_REF" -- 'campaigns/*.csv' |
          while IFS= read -r contacts; do
            name="${contacts#campaigns/}"
            callprofile plan "${name%.csv}" --contacts "$contacts" --out "$RUNNER_TEMP/plan" \
              --format markdown >> callprofile-diff.md ||
              echo "plan of $contacts failed: see the job log" >> callprofile-diff.md
          done
      - name: Comment on the pull request
        # A pull request from a fork gets a read-only token: skip the comment there.
        if: >-
          (success() || failure())
          && github.event.pull_request.head.repo.full_name == github.repository
        env:
          GH_TOKEN: ${{ github.token }}
          PR: ${{ github.event.pull_request.number }}
        run: >-
          gh pr comment "$PR" --body-file callprofile-diff.md --edit-last
          || gh pr comment "$PR" --body-file callprofile-diff.md
"""


def files(source: Source | None = None) -> dict[str, str]:
    """Relative path -> content, in the order they are written."""
    source = source or installed()
    return {
        SCHEMA_PATH: schemas.schema_text(schemas.PROFILE),
        "profiles/base/defaults.yaml": FRAGMENT,
        "profiles/example.yaml": EXAMPLE,
        ".pre-commit-config.yaml": PRE_COMMIT,
        ".github/workflows/callprofile.yml": WORKFLOW,
        REQUIREMENTS_PATH: requirements_file(source),
    }


def existing(target: Path) -> list[str]:
    return [rel for rel in files() if (target / rel).exists() or (target / rel).is_symlink()]


def write(target: Path, source: Source | None = None) -> list[str]:
    """Write every file under ``target``; FileExistsError naming them if any exists already
    (nothing is written then)."""
    clash = existing(target)
    if clash:
        raise FileExistsError(clash)
    written: list[str] = []
    for rel, text in files(source).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # "x": never replace a file that appeared since the check above.
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
        written.append(rel)
    return written
