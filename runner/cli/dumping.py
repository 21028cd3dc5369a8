"""Values as YAML or JSON text, for ``render`` and ``explain``; no click here, so the fast
path (runner.cli.fastpath) prints exactly what the commands print."""

from __future__ import annotations

import json

from runner.textsafety import escape_json_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return escape_json_text(json.dumps(data, indent=2, ensure_ascii=False))
    from runner.profiles.pyyaml import module

    yaml = module()
    text = yaml.dump(data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100)
    # Strings holding such characters were written double-quoted (see _dumper), where a
    # \uXXXX escape means the same character to every YAML reader.
    return escape_json_text(text).rstrip("\n")


def _dumper() -> Any:
    from runner.profiles.pyyaml import module

    safe_dumper: Any = module().SafeDumper

    class Dumper(safe_dumper):
        pass

    def text(dumper: Any, value: str) -> Any:
        # PyYAML writes NEL (U+0085) raw inside single quotes, where every reader folds it into
        # a space; double quotes escape it, so render's output stays a faithful values file.
        style = '"' if "\x85" in value or escape_json_text(value) != value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper
