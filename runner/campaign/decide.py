"""Gather the facts about one number (flags or a contacts row, the do-not-call list, the ledger)
and judge them against a policy. The judging itself is in verdict.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from runner.campaign.callee import CODE_STATE, STATE_COLUMN, StateError, callee, parse_state
from runner.campaign.consent import CODE_CONSENT, ConsentError, Evidence, evidence, parse_date
from runner.campaign.policy import Policy, Setting, resolve
from runner.campaign.verdict import DncEntry, Facts, Verdict, judge

if TYPE_CHECKING:
    from runner.batch.dnc import DoNotCall
    from runner.profiles.store import Store

DAY = timedelta(hours=24)
BASELINE_SOURCE = "built-in default (no --profile)"


class FlagError(ValueError):
    def __init__(self, flag: str, message: str):
        self.flag = flag
        self.message = message
        super().__init__(f"{flag}: {message}")


class RowError(ValueError):
    """A contacts cell the policy needs but cannot read (state, consent, consent_date)."""

    def __init__(self, message: str, code: str):
        self.code = code
        super().__init__(message)


def baseline() -> Policy:
    """What can-call applies without a profile: the rules table (federal and state hours,
    state caps)."""
    return Policy("", {"state_rules": Setting(True, BASELINE_SOURCE)})


def dnc_entry(dnc: DoNotCall | None, e164: str) -> DncEntry | None:
    if dnc is None:
        return None
    listed, revoked = dnc.lookup(e164)
    return DncEntry(revoked, dnc.path) if listed else None


def row_facts(
    e164: str,
    values: Mapping[str, str],
    zone: str | None,
    dnc: DoNotCall | None,
    attempts_24h: int | None = None,
) -> Facts:
    """Facts from a contacts row (its state, consent and consent_date columns). Raises RowError
    for a cell that cannot be read."""
    state = None
    raw_state = values.get(STATE_COLUMN)
    if raw_state and raw_state.strip():
        try:
            state = parse_state(raw_state)
        except StateError as exc:
            raise RowError(f"state: {exc}", CODE_STATE) from None
    try:
        given = evidence(values)
    except ConsentError as exc:
        raise RowError(str(exc), CODE_CONSENT) from None
    return Facts(callee(e164, state=state, zone=zone), given, dnc_entry(dnc, e164), attempts_24h)


def can_call(
    number: str,
    *,
    store: Store | None,
    profile: str | None,
    at: datetime,
    state: str | None = None,
    zone: str | None = None,
    region: str | None = None,
    consent: str | None = None,
    consent_date: str | None = None,
    dnc: str | None = None,
    ledger: str | None = None,
) -> Verdict:
    """The verdict for one number given on the command line. Raises FlagError for a flag that
    cannot be used, ProfileError for a broken profile or do-not-call file."""
    from runner.batch.window import zone_error
    from runner.phone import NumberError, normalise

    try:
        e164 = normalise(number, region)
    except NumberError as exc:
        raise FlagError("NUMBER", str(exc)) from None
    try:
        given_state = parse_state(state) if state is not None else None
    except StateError as exc:
        raise FlagError("--state", str(exc)) from None
    if zone is not None:
        problem = zone_error(zone.strip())
        if problem:
            raise FlagError("--timezone", problem)
        zone = zone.strip()
    try:
        on = parse_date(consent_date) if consent_date is not None else None
    except ConsentError as exc:
        raise FlagError("--consent-date", str(exc)) from None
    policy = resolve(store, profile) if store is not None and profile else baseline()
    entry = None
    if dnc is not None:
        from runner.batch.dnc import DoNotCall

        listing = DoNotCall(dnc, region)
        try:
            entry = dnc_entry(listing, e164)
        finally:
            listing.close()
    attempts = None
    if ledger is not None:
        from runner.batch.ledger import LedgerError, LedgerUnavailable, open_ledger

        try:
            book = open_ledger(ledger, readonly=True)
            try:
                attempts = book.calls_since(e164, at - DAY)
            finally:
                book.close()
        except LedgerUnavailable:
            raise  # the database is away for now: the caller's "run again" exit, not a usage one
        except LedgerError as exc:
            raise FlagError("--ledger", str(exc)) from None
    facts = Facts(
        callee(e164, state=given_state, zone=zone), Evidence(consent, on), entry, attempts
    )
    return judge(facts, policy, at)
