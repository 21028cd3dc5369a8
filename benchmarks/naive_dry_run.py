"""The baseline for the dry-run benchmark: the least a dry run must do for each contacts row.

    python benchmarks/naive_dry_run.py --profiles profiles --profile NAME --contacts FILE

Set-up, once: the profile's merged request and its templates, taken from callprofile itself so
both sides render exactly the same templates, each compiled once in Jinja's immutable sandbox.
Then, per row: one ``phonenumbers.parse``, one sandboxed render of every template, one
``json.dumps`` of the same line shape ``batch --dry-run`` prints, written to stdout in blocks as
``batch --dry-run`` writes. No validation, no duplicate or do-not-call check, no secrets.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

BLOCK = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--contacts", required=True)
    parser.add_argument("--to-column", default="to")
    args = parser.parse_args()

    import phonenumbers
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from runner.flow.compose import compose

    composed = compose(args.profiles, args.profile)
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    templates = [(t.path[1:], env.from_string(t.text)) for t in composed.templates]
    base = dict(composed.document.get("call") or {})
    defaults = {v.name: v.default for v in composed.variables if v.default is not None}
    connection_id = composed.document.get("connection_id")
    out: list[str] = []
    with open(args.contacts, encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            number = phonenumbers.parse(row[args.to_column])
            to = f"+{number.country_code}{number.national_number}"
            context = {**defaults, **row, "to": to, "profile": args.profile}
            body: dict[str, Any] = dict(base)
            for path, template in templates:
                target = body
                for part in path[:-1]:
                    target[part] = dict(target[part])
                    target = target[part]
                target[path[-1]] = template.render(context)
            body["To"] = to
            record = {"row": line, "to": to, "connection_id": connection_id, "body": body}
            out.append(json.dumps(record, ensure_ascii=False))
            if len(out) >= BLOCK:
                out.append("")
                sys.stdout.write("\n".join(out))
                out.clear()
    if out:
        out.append("")
        sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
