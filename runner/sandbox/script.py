"""Scripted responses (fault injection) for the sandbox.

A script is a list of steps; each POST to the call endpoint consumes the next step, and once the
script runs out every POST is answered normally. A step either changes the answer (a status, a
body, headers) or breaks the exchange on purpose (stall, reset, close, an HTML page, bad JSON).
Files are JSON or YAML lists of mappings; ``--respond`` takes the same steps in a one-line form.

A step with ``to`` (a glob such as ``"*0"`` or ``"+1312555*"``) is a rule for numbers instead:
it answers every POST whose ``To`` matches (``times`` defaults to forever), ahead of the steps
in order, which such a POST does not use up. ``outcome`` says how the simulated call ends and
``callback_faults`` which delivery faults its callbacks get (see ``runner.sandbox.outcomes``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from runner.sandbox.outcomes import CALLBACK_FAULTS, OutcomeError, outcome_name

# What a step can do besides answering with a status. "normal" answers as Telnyx would.
FAULTS = ("normal", "stall", "reset", "close", "html", "bad-json")
FOREVER = -1
_KEYS = {
    "status",
    "fault",
    "headers",
    "body",
    "errors",
    "delay",
    "times",
    "retry_after",
    "ratelimit_reset",
    "outcome",
    "to",
    "callback_faults",
}


class ScriptError(ValueError):
    """A script or ``--respond`` value that cannot be used; the message says where."""


@dataclass(frozen=True)
class Step:
    """One scripted answer. ``status`` None means "what the fault implies" (200 for normal)."""

    fault: str = "normal"
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None  # a JSON value, or a str sent as is
    delay: float = 0.0  # seconds to wait after reading the body, before answering
    times: int = 1  # how many POSTs this step answers; FOREVER never runs out
    outcome: str | None = None  # how the simulated call ends; None: drawn from the weights
    to: str | None = None  # a glob on the called number: a rule, not a step in order
    callback_faults: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def step_from_mapping(raw: Any, where: str) -> Step:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"status": raw}
    elif isinstance(raw, str):
        raw = {"fault": raw} if raw in FAULTS else {"status": raw}
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: a step is a mapping such as {{status: 429}}, not {raw!r}")
    unknown = sorted(str(k) for k in raw if str(k).replace("-", "_") not in _KEYS)
    if unknown:
        raise ScriptError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}"
        )
    data = {str(k).replace("-", "_"): v for k, v in raw.items()}
    fault = data.get("fault", "normal")
    if fault not in FAULTS:
        raise ScriptError(f"{where}: fault {fault!r} is not one of {', '.join(FAULTS)}")
    status = data.get("status")
    if status is not None:
        try:
            status = int(status)
        except (TypeError, ValueError):
            raise ScriptError(f"{where}: status {status!r} is not an HTTP status code") from None
        if not 100 <= status <= 599:
            raise ScriptError(f"{where}: status {status} is not between 100 and 599")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict):
        raise ScriptError(f"{where}: headers must be a mapping of name to value")
    pairs = [(str(k), str(v)) for k, v in headers.items()]
    if data.get("retry_after") is not None:
        pairs.append(("Retry-After", str(data["retry_after"])))
    if data.get("ratelimit_reset") is not None:
        pairs.append(("x-ratelimit-reset", str(data["ratelimit_reset"])))
    body = data.get("body")
    if data.get("errors") is not None:
        if body is not None:
            raise ScriptError(f"{where}: give body or errors, not both")
        body = {"errors": _errors(data["errors"], where)}
    delay = _number(data.get("delay", 0), f"{where}: delay")
    to = data.get("to")
    if to is not None and (not isinstance(to, str) or not to.strip()):
        raise ScriptError(f"{where}: to must be a number pattern such as '*0' or '+1312*'")
    times = data.get("times", "forever" if to is not None else 1)
    if times in ("forever", "*"):
        times = FOREVER
    elif isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ScriptError(f"{where}: times must be a whole number >= 1 or 'forever'")
    outcome = data.get("outcome")
    if outcome is not None:
        try:
            outcome = outcome_name(str(outcome), where)
        except OutcomeError as exc:
            raise ScriptError(str(exc)) from None
    faults = _faults(data.get("callback_faults"), where)
    return Step(fault, status, tuple(pairs), body, delay, times, outcome, to, faults)


def _faults(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.replace("+", " ").replace(",", " ").split() if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise ScriptError(f"{where}: callback_faults is a list of fault names")
    for item in items:
        if item not in CALLBACK_FAULTS:
            raise ScriptError(
                f"{where}: callback fault {item!r} is not one of {', '.join(CALLBACK_FAULTS)}"
            )
    return tuple(dict.fromkeys(items))


def _errors(raw: Any, where: str) -> list[dict[str, Any]]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise ScriptError(f"{where}: each error is a mapping with code, title, detail, pointer")
        error: dict[str, Any] = {k: str(item[k]) for k in ("code", "title", "detail") if k in item}
        if "pointer" in item:
            error["source"] = {"pointer": str(item["pointer"])}
        out.append(error)
    return out


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ScriptError(f"{what} must be a number of seconds, not {value!r}") from None
    if number < 0:
        raise ScriptError(f"{what} must not be negative")
    return number


def parse_steps(raw: Any, where: str) -> list[Step]:
    if not isinstance(raw, list):
        raise ScriptError(f"{where}: a script is a list of steps")
    return [step_from_mapping(item, f"{where}: step {i + 1}") for i, item in enumerate(raw)]


def load_script(path: str) -> list[Step]:
    """Read a JSON or YAML list of steps."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read the script ({exc.strerror})") from None
    if path.endswith(".json"):
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ScriptError(f"{path}: not valid JSON ({exc})") from None
    else:
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            raise ScriptError(f"{path}{at}: not valid YAML") from None
    return parse_steps(raw, path)


def parse_spec(spec: str) -> Step:
    """One-line step: ``429,retry-after=2``, ``503,times=forever``, ``stall``, ``html``.

    The first item is a status code or a fault; the rest are ``key=value`` pairs with the
    script's keys (``retry-after``, ``ratelimit-reset``, ``delay``, ``times``, ``outcome``,
    ``status``, ``to``, ``callback-faults`` with several faults joined by ``+``).
    """
    head, *rest = [part.strip() for part in spec.split(",")]
    raw: dict[str, Any] = {}
    if head.isdigit():
        raw["status"] = int(head)
    elif head:
        raw["fault"] = head
    for part in rest:
        if "=" not in part:
            raise ScriptError(f"--respond {spec!r}: expected key=value, got {part!r}")
        key, value = part.split("=", 1)
        key = key.strip()
        as_text = key in ("retry-after", "to")
        raw[key] = int(value) if value.strip().isdigit() and not as_text else value
    return step_from_mapping(raw, f"--respond {spec!r}")


class Script:
    """Hands out steps: a matching number rule first, else the next step in order.
    Thread-safe through the caller's lock."""

    def __init__(self, steps: list[Step] | tuple[Step, ...] = ()):
        self._steps: list[Step] = []
        self._rules: list[list[Any]] = []  # [step, times used]
        self._index = 0
        self._used = 0
        self.extend(list(steps))

    def next(self, to: str | None = None) -> Step:
        if to is not None:
            for rule in self._rules:
                step, used = rule
                if fnmatchcase(to, step.to) and (step.times == FOREVER or used < step.times):
                    rule[1] = used + 1
                    return step
        while self._index < len(self._steps):
            step = self._steps[self._index]
            if step.times == FOREVER or self._used < step.times:
                self._used += 1
                return step
            self._index += 1
            self._used = 0
        return Step()

    def extend(self, steps: list[Step]) -> None:
        for step in steps:
            if step.to is not None:
                self._rules.append([step, 0])
            else:
                self._steps.append(step)
