"""The baseline for ``render`` of a profile whose templates use filters: the least such a render
must do, as a user's own script would do it.

    python benchmarks/naive_render.py PROFILE.yaml NAME=VALUE...

Loads the one profile file with PyYAML, renders every template string under ``call`` in
Jinja's immutable sandbox with the variables' defaults and the values given, and prints the
connection id and the request as JSON. No extends, no validation, no positions, no secrets.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> None:
    import yaml
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    with open(sys.argv[1], encoding="utf-8") as fh:
        profile = yaml.safe_load(fh)
    values = {
        name: spec["default"]
        for name, spec in (profile.get("variables") or {}).items()
        if "default" in spec
    }
    values.update(arg.split("=", 1) for arg in sys.argv[2:])
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)

    def render(value: Any) -> Any:
        if isinstance(value, str):
            return env.from_string(value).render(values)
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v) for v in value]
        return value

    document = {"connection_id": profile.get("connection_id"), "call": render(profile["call"])}
    print(json.dumps(document, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
