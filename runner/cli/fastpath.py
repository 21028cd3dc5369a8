"""``render`` and ``run --dry-run`` for their commonest command lines, without click.

Importing click costs more than everything else ``render`` does, so the shapes people type
most (a profile name with ``--to``, ``--from``, ``--connection-id``, ``--var``,
``--show-secrets``, ``--profiles-dir`` and the default output) are parsed here. Only a success
is answered here: the output is built completely before anything is written, and anything
else (another option, an option's value that starts with ``-``, ``--help``, a profile error, a
value click would refuse, shell completion, an output the terminal could not take) returns
False so that click runs the command from the start and says what it always says. A test runs
many command lines, valid and invalid, through both parsers and demands the same stdout, stderr
and exit code.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

# Environment variables that change what click does with a command line.
COMPLETE_VAR = "_CALLPROFILE_COMPLETE"  # shell completion (click's _{PROG}_COMPLETE)
CRASH_HOOK = "CALLPROFILE_TEST_CRASH"  # runner.cli.main's test hook
DEFAULT_DIR = "profiles"

# option -> where its value goes; each takes one value (the last one given wins, as in click).
VALUES = {
    "--to": "to",
    "--from": "from_",
    "--connection-id": "connection_id",
    "--profiles-dir": "profiles_dir",
    "-o": "output",
    "--output": "output",
}
REPEATED = {"--var": "vars"}
# command -> (its flags, the only output it answers here)
COMMANDS = {
    "render": (frozenset({"--show-secrets"}), "yaml"),
    "run": (frozenset({"--show-secrets", "--dry-run"}), "text"),
}


def answer(args: list[str]) -> bool:
    """Run the command line ``args`` if it is a shape handled here; False to hand it to click."""
    if os.environ.get(COMPLETE_VAR) or os.environ.get(CRASH_HOOK):
        return False
    parsed = parse(args)
    if parsed is None:
        return False
    try:
        text = _produce(parsed)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")  # what the root group prints (exit 130)
        sys.stderr.flush()
        raise SystemExit(130) from None
    except Exception:
        # Profile errors, refused values, bugs: click's path reports each its own way.
        return False
    if text is None or not _writable(text):
        return False
    sys.stdout.write(text)
    return True


def parse(args: list[str]) -> dict[str, Any] | None:
    """``args`` as the values the command would receive, or None when click should parse it."""
    found: dict[str, Any] = {"vars": [], "flags": set()}
    index = 0
    # The root group's own options come before the command.
    while index < len(args) and args[index].startswith("-"):
        name, value, index = _option(args, index)
        if name != "--profiles-dir" or value is None:
            return None
        found["root_dir"] = value
    if index >= len(args) or args[index] not in COMMANDS:
        return None
    command = args[index]
    flags, output = COMMANDS[command]
    found["command"] = command
    index += 1
    while index < len(args):
        token = args[index]
        if token == "-" or not token.startswith("-"):
            if "name" in found:
                return None  # an extra argument: click's message
            found["name"] = token
            index += 1
            continue
        name, value, index = _option(args, index)
        if name in flags and value is None:
            found["flags"].add(name)
        elif name in VALUES and value is not None:
            found[VALUES[name]] = value
        elif name in REPEATED and value is not None:
            found[REPEATED[name]].append(value)
        else:
            return None
    if "name" not in found or found.get("output", output) != output:
        return None
    if command == "run" and "--dry-run" not in found["flags"]:
        return None  # a real call: click's path, with its gate and retries
    return found


def _option(args: list[str], index: int) -> tuple[str, str | None, int]:
    """The option at ``args[index]``: its name, its value (None for a flag, or when it cannot
    be read here) and the index after it."""
    token = args[index]
    if token.startswith("--") and "=" in token:
        name, _, value = token.partition("=")
        if name in VALUES or name in REPEATED:
            return name, value, index + 1
        return "", None, index + 1  # a flag given a value, or an unknown option: click's
    if token in VALUES or token in REPEATED:
        if index + 1 >= len(args) or args[index + 1].startswith("-"):
            return "", None, index + 1  # missing, or a value click may read differently
        return token, args[index + 1], index + 2
    return token, None, index + 1


def _directory(found: dict[str, Any]) -> str | None:
    """The profiles directory the command would use, or None where click would refuse one
    (click.Path(file_okay=False): a regular file, or an unreadable path)."""
    root = found.get("root_dir")
    if root is None:
        root = os.environ.get("CALLPROFILE_DIR") or DEFAULT_DIR
    chosen = [root] + ([found["profiles_dir"]] if "profiles_dir" in found else [])
    for path in chosen:
        try:
            st = os.stat(path)
        except OSError:
            continue  # click accepts a directory that does not exist (yet)
        except ValueError:
            return None
        if (st.st_mode & 0o170000) == 0o100000 or not os.access(path, os.R_OK):
            return None
    # The last given wins; an empty one means the default (runner.cli.global_options).
    return str(chosen[-1] or DEFAULT_DIR)


def _produce(found: dict[str, Any]) -> str | None:
    from runner.cli.deferred import defer
    from runner.profiles.pyyaml import compile_lazily

    defer()
    compile_lazily()
    from pathlib import Path

    from runner.cli.answers import dry_run_text, render_text, render_values
    from runner.cli.flags import build_overrides
    from runner.flow.compose import compose
    from runner.profiles.store import Store

    directory = _directory(found)
    if directory is None:
        return None
    show = "--show-secrets" in found["flags"]
    overrides = build_overrides(
        to=found.get("to"),
        from_=found.get("from_"),
        connection_id=found.get("connection_id"),
        vars=found["vars"],
    )
    store = Store(Path(directory))
    if found["command"] == "render":
        request = compose(store, found["name"], overrides).request()
        return render_text(render_values(request, show), "yaml", show) + "\n"
    from runner import secrets
    from runner.send.prepared import DEFAULT_BASE_URL

    default_connection = os.environ.get("TELNYX_CONNECTION_ID") or None
    request = compose(
        store, found["name"], overrides, default_connection_id=default_connection
    ).request()
    secrets.remember(*request.secret_values())
    base = os.environ.get("TELNYX_BASE_URL") or DEFAULT_BASE_URL
    return dry_run_text(request, base, secrets.api_key(), show)


def _writable(text: str) -> bool:
    """Whether ``text`` goes to stdout exactly as click.echo would write it: click strips
    escape sequences when stdout is no terminal and re-wraps a stream it finds misconfigured
    (ASCII); an encoding error must not leave half an answer."""
    if "\x1b" in text:
        return False
    stream = sys.stdout
    try:
        import codecs

        if codecs.lookup(stream.encoding).name == "ascii":
            return False
        text.encode(stream.encoding, stream.errors or "strict")
    except (AttributeError, LookupError, TypeError, UnicodeError):
        return False
    return True
