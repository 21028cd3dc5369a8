"""How each simulated call ends, and which callback faults it gets.

An outcome is what happened at the far end: ``human`` (answered by a person), ``machine``
(voicemail), ``fax``, ``no-answer``, ``busy``, ``canceled`` or ``failed``. ``--outcomes`` gives
weights; a scripted step can name the outcome of one call or of every call to matching numbers.
Draws are deterministic for a seed: each call's draw depends only on the seed, the number and
how many times that number was called before, never on the order in which requests arrive.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from dataclasses import dataclass

OUTCOMES = ("human", "machine", "fax", "no-answer", "busy", "canceled", "failed")
ALIASES = {"completed": "human", "answered": "human", "voicemail": "machine"}
ANSWERED = ("human", "machine", "fax")
CALLBACK_FAULTS = ("duplicate", "out-of-order", "bad-signature", "tampered", "stale-timestamp")
_REMEMBERED_NUMBERS = 100_000


class OutcomeError(ValueError):
    """A weights or faults value that cannot be used; the message says which part."""


def outcome_name(name: str, where: str) -> str:
    wanted = ALIASES.get(name.strip().lower(), name.strip().lower())
    if wanted not in OUTCOMES:
        raise OutcomeError(f"{where}: {name!r} is not an outcome; known: {', '.join(OUTCOMES)}")
    return wanted


def parse_weights(spec: str, known: tuple[str, ...], where: str) -> dict[str, float]:
    """``human=60,machine=20`` -> {"human": 60.0, "machine": 20.0} (names checked)."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise OutcomeError(f"{where}: expected name=weight, got {part!r}")
        name = outcome_name(name, where) if known is OUTCOMES else name.strip().lower()
        if name not in known:
            raise OutcomeError(f"{where}: {name!r} is not one of {', '.join(known)}")
        try:
            weight = float(value)
        except ValueError:
            raise OutcomeError(f"{where}: {value.strip()!r} is not a number") from None
        if not 0 <= weight < float("inf"):
            raise OutcomeError(f"{where}: the weight of {name} must be a number >= 0")
        weights[name] = weights.get(name, 0.0) + weight
    return weights


def parse_outcomes(spec: str) -> dict[str, float]:
    weights = parse_weights(spec, OUTCOMES, "--outcomes")
    if not weights or sum(weights.values()) <= 0:
        raise OutcomeError("--outcomes: give at least one outcome a weight above 0")
    return weights


def parse_fault_rates(spec: str) -> dict[str, float]:
    """``duplicate=0.1,out-of-order=0.05``: the chance (0-1) that a call gets each fault."""
    rates = parse_weights(spec, CALLBACK_FAULTS, "--callback-faults")
    for name, rate in rates.items():
        if rate > 1:
            raise OutcomeError(f"--callback-faults: {name}={rate:g} is a chance, from 0 to 1")
    return rates


@dataclass(frozen=True)
class Draw:
    outcome: str
    faults: tuple[str, ...]
    rng: random.Random  # this call's own generator, for durations and AMD details


class Chooser:
    """Deterministic draws per (seed, number, attempt)."""

    def __init__(
        self,
        seed: int,
        weights: dict[str, float] | None = None,
        fault_rates: dict[str, float] | None = None,
    ):
        self.seed = seed
        self.weights = dict(weights or {"human": 1.0})
        self.fault_rates = dict(fault_rates or {})
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def _attempt(self, number: str) -> int:
        with self._lock:
            attempt = self._attempts.pop(number, 0) + 1
            self._attempts[number] = attempt
            if len(self._attempts) > _REMEMBERED_NUMBERS:  # bounded memory
                self._attempts.popitem(last=False)
            return attempt

    def draw(self, number: str, outcome: str | None = None, faults: tuple[str, ...] = ()) -> Draw:
        rng = random.Random(f"{self.seed}|{number}|{self._attempt(number)}")
        if outcome is None:
            names = list(self.weights)
            outcome = rng.choices(names, weights=[self.weights[n] for n in names])[0]
        chosen = list(faults)
        for name in CALLBACK_FAULTS:
            rate = self.fault_rates.get(name, 0.0)
            if rate and rng.random() < rate and name not in chosen:
                chosen.append(name)
        return Draw(outcome, tuple(chosen), rng)
