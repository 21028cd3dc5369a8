"""What every ledger backend offers: the states, the shared records and the interface.

The engine, ``batch-status`` and ``batch-migrate`` talk only to :class:`Ledger`; the SQLite file
and the PostgreSQL database are two implementations of it with the same states and rules. A new
operation is added here as an abstract method first, so a backend that lacks it cannot even be
constructed.

States: ``pending`` and ``deferred`` may be claimed; ``dialing`` is written before the POST;
``placed``, ``failed``, ``skipped`` and ``unknown`` are final. A row left ``dialing`` by a runner
that is gone becomes ``unknown``, never ``pending``. ``batch-reconcile`` settles ``unknown`` rows
from Telnyx's call list as ``placed`` or ``not-placed`` (which, like ``unknown``, is called again
only with ``--redial-unknown``). The call outcomes (callbacks, folded records, unmatched calls)
are the same tables in both backends (``outcomes``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from runner.batch.ledger.groups import Claim, RowGroups

if TYPE_CHECKING:
    from runner.batch.ledger.outcomes import OutcomeCounts
    from runner.outcomes.callbacks import Callback
    from runner.outcomes.record import CallRecord

STATES = (
    "pending",
    "deferred",
    "dialing",
    "placed",
    "failed",
    "skipped",
    "unknown",
    "not-placed",
)
CLAIMABLE = ("pending", "deferred")
# Rows --redial-unknown sends again: no trustworthy answer, or Telnyx's list showed no call.
REDIALLABLE = ("unknown", "not-placed")
# Rows that count as "this number was (or may have been) called" for the repeat guard.
CALLED = ("dialing", "placed", "unknown")
# The columns of a row and of an event as every backend stores them (batch-migrate copies these).
ROW_COLUMNS = (
    "row_no",
    "e164",
    "owner_e164",
    "state",
    "skip_kind",
    "reason",
    "call_sid",
    "http_status",
    "error_code",
    "attempts",
    "sent_at",
    "updated_at",
    "from_e164",  # the call's From, kept at claim time for batch-reconcile's lookup
)
EVENT_COLUMNS = ("row_no", "at", "kind", "detail")
LOCAL_RUNNER = "local"  # the one runner of a ledger that a single process owns
DAY = timedelta(hours=24)  # the window of the calling policy's per-number cap


class LedgerError(Exception):
    """The ledger cannot be used as asked (not a ledger, a newer format, a refused change)."""


class LedgerUsage(LedgerError):
    """The ``--ledger`` value itself is wrong (a password in the URL, a missing extra)."""


class LedgerUnavailable(LedgerError):
    """The ledger's database cannot be reached now; running again later may work."""

    detail: str = ""  # the driver's own words, without the ledger's location


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(when: datetime) -> str:
    # Fixed width, so text order is time order.
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class BatchInfo:
    batch_id: str
    profile: str
    contacts: str
    rows_total: int | None
    created_at: str
    updated_at: str
    contacts_sha256: str = ""


def repeat_reason(state: str, sent_at: object, batch_id: str, row_no: int) -> str:
    """Why a claim was refused: another batch called the number within --min-interval (the
    same words from every backend)."""
    verb = "placed" if state == "placed" else "possibly placed"
    return (
        f"a call to this number was {verb} at {sent_at} "
        f"(batch {batch_id[:12]}, row {row_no}), within --min-interval"
    )


def cap_reason(done: int, limit: int, rule: str) -> str:
    """Why a claim was refused by the 24 h cap (the same words from every backend)."""
    return f"{done} call(s) to this number in the last 24 h; at most {limit} allowed [{rule}]"


@dataclass
class RunnerShare:
    """One runner of a shared batch and the rows it dialled, by state (``batch-status``)."""

    runner: str
    label: str
    started_at: str
    alive: bool
    ended: str  # why it ended ("" while it runs)
    states: dict[str, int] = field(default_factory=dict)


@dataclass
class BatchDump:
    """A whole batch as plain records, for ``batch-migrate``."""

    info: BatchInfo
    rows: Iterable[dict[str, Any]]
    events: Iterable[dict[str, Any]]
    # Per-call records of the batch's calls (callbacks, outcomes), by table.
    calls: dict[str, Iterable[dict[str, Any]]] = field(default_factory=dict)


class Pacer(Protocol):
    """What the engine needs from a rate limiter (``pacing.TokenBucket`` is one)."""

    def acquire(self, cancelled: Callable[[], bool] = ...) -> bool: ...

    def pause(self, seconds: float) -> None: ...

    def twin(self) -> Pacer: ...


class Ledger(RowGroups, ABC):
    """One batch ledger. Every write is one short transaction; the ones that precede a POST
    (claims) and the ones that record an answer are durable when they return."""

    #: Several processes may run one batch at once (they coordinate through the ledger).
    shared: bool = False
    #: Where the ledger is, for messages (never holds a password).
    location: str = ""

    @abstractmethod
    def close(self) -> None: ...

    # --- batches ---------------------------------------------------------------------------

    @abstractmethod
    def open_batch(self, batch_id: str, profile: str, contacts: str, sha256: str) -> bool:
        """Register the batch; True if it is new."""

    @abstractmethod
    def batch(self, batch_id: str) -> BatchInfo | None: ...

    @abstractmethod
    def batches(self) -> list[BatchInfo]: ...

    @abstractmethod
    def set_total(self, batch_id: str, total: int) -> None: ...

    @abstractmethod
    def note(self, batch_id: str, kind: str, detail: str = "") -> None: ...

    # --- runners ---------------------------------------------------------------------------

    @abstractmethod
    def join(self, batch_id: str, label: str, on_lost: Callable[[str], None]) -> str:
        """Register this process as a runner of the batch and return its id. A shared ledger
        keeps the runner's lease alive from here on and calls ``on_lost(reason)`` if it cannot
        (the database is gone, or other runners took this one for dead)."""

    @abstractmethod
    def leave(self, runner: str, reason: str = "done") -> None:
        """End the runner: rows it reserved and did not dial go back to the others."""

    @abstractmethod
    def reserve(self, batch_id: str, runner: str, rows: list[int]) -> list[int]:
        """Of ``rows``, the claimable ones nobody else holds, now held by ``runner``."""

    @abstractmethod
    def adopt(self, batch_id: str, runner: str, limit: int) -> list[int]:
        """Pending rows that no live runner holds (a runner died or stopped), now held by
        ``runner``; at most ``limit``, lowest first."""

    @abstractmethod
    def others_busy(self, batch_id: str, runner: str) -> bool:
        """Whether another live runner still holds rows of the batch it has to dial or has in
        flight (a runner that ends sooner would report those calls as unknown)."""

    @abstractmethod
    def runners(self, batch_id: str) -> list[RunnerShare]: ...

    @abstractmethod
    def running(self, batch_id: str) -> bool:
        """Whether some process is running the batch now."""

    @abstractmethod
    def rate_limiter(self, batch_id: str, rate: float, wait: Callable[[float], object]) -> Any:
        """A :class:`Pacer` shared by every runner of the batch, or None when one process owns
        the batch (it then paces itself)."""

    # --- start-up repairs --------------------------------------------------------------------

    @abstractmethod
    def recover_dialing(self, batch_id: str, *, runner: str = "") -> int:
        """Rows left ``dialing`` by runners that are gone become ``unknown``; how many.
        ``runner`` (the caller) is never taken for gone, even in a blip of its own."""

    @abstractmethod
    def redial_unknown(self, batch_id: str) -> int: ...

    # --- rows ---------------------------------------------------------------------------------

    @abstractmethod
    def state_of(self, batch_id: str, row_no: int) -> str | None: ...

    @abstractmethod
    def add_pending(self, batch_id: str, row_no: int, e164: str) -> int | None:
        """Record a valid row as pending. If the number already has a row in this batch, the
        row is recorded as a skipped duplicate and the first row's number is returned."""

    @abstractmethod
    def add_skipped(
        self, batch_id: str, row_no: int, e164: str | None, kind: str, reason: str
    ) -> None: ...

    @abstractmethod
    def skip(self, batch_id: str, row_no: int, kind: str, reason: str) -> bool: ...

    @abstractmethod
    def defer(self, batch_id: str, row_no: int, reason: str) -> None: ...

    @abstractmethod
    def claim(
        self,
        batch_id: str,
        row_no: int,
        min_interval: timedelta | None,
        cap: tuple[int, str] | None = None,
        *,
        runner: str = "",
        caller: str | None = None,
    ) -> Claim:
        """Mark the row ``dialing``, durably, unless it is no longer claimable (or another
        runner holds it), its number was called by another batch within ``min_interval``, or
        ``cap`` (calls allowed in any 24 hours, the rule that says so) is reached: then the row
        is deferred (``capped``). The checks and the claim are one transaction, and claims of
        one number take turns, so two runners or batches cannot both pass them. ``caller`` is
        the call's From, kept for ``batch-reconcile``'s lookup."""

    @abstractmethod
    def calls_since(self, e164: str, since: datetime) -> int:
        """Calls placed (or possibly placed) to ``e164`` since ``since``, across every batch in
        this ledger. A row redialled counts all its attempts: counting high is the safe side."""

    @abstractmethod
    def finish(
        self,
        batch_id: str,
        row_no: int,
        state: str,
        *,
        reason: str | None = None,
        call_sid: str | None = None,
        http_status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        """Record the answer for a claimed row (``placed``, ``failed``, ``unknown``, or
        ``pending`` when the request provably never reached Telnyx)."""

    @abstractmethod
    def abandon(self, batch_id: str, rows: list[int], reason: str) -> None:
        """A hard stop: rows still ``dialing`` become ``unknown`` now."""

    # --- reading -------------------------------------------------------------------------------

    @abstractmethod
    def counts(self, batch_id: str) -> dict[str, int]: ...

    @abstractmethod
    def skip_counts(self, batch_id: str) -> dict[str, int]: ...

    @abstractmethod
    def rows(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """Every row of the batch in row order, streamed (the report's columns)."""

    @abstractmethod
    def events(self, batch_id: str) -> list[tuple[Any, ...]]: ...

    # --- call outcomes (listen, batch-reconcile; ledger/outcomes.py has the SQL) ------------

    @abstractmethod
    def record_callbacks(self, items: Iterable[Callback]) -> list[str]:
        """Store verified callbacks in one durable transaction and refold their calls; per item
        ``recorded``, ``unmatched`` (no row holds the call yet; kept) or ``duplicate``."""

    @abstractmethod
    def match_unmatched(self) -> list[tuple[str, str, int]]:
        """Match kept callbacks to rows that now hold their call_sid: (call_sid, batch, row).
        Writes only when there is something to match (a receiver runs it every second)."""

    @abstractmethod
    def outcome(self, call_sid: str) -> CallRecord | None: ...

    @abstractmethod
    def outcome_counts(self, batch_id: str) -> OutcomeCounts:
        """What the callbacks said about the batch's placed rows."""

    @abstractmethod
    def report_rows(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """``rows`` with each placed row's outcome (``outcome``, ``call_status``,
        ``answered_by``, ``duration``; None where no callback came), for the CSV report."""

    @abstractmethod
    def unmatched_count(self) -> int: ...

    @abstractmethod
    def still_unmatched(self, call_sids: Iterable[str]) -> int:
        """How many of ``call_sids`` no row holds (their callbacks are kept as unmatched)."""

    @abstractmethod
    def account_sids(self) -> list[str]:
        """The Telnyx account ids that recorded callbacks named."""

    @abstractmethod
    def awaiting_outcomes(self, batch_id: str) -> int:
        """Placed rows of the batch whose call has no final status yet."""

    @abstractmethod
    def unknown_rows(
        self, batch_id: str, states: tuple[str, ...] = ("unknown",)
    ) -> list[dict[str, Any]]:
        """The batch's rows in ``states`` with what a lookup needs (number, From, claim time)."""

    @abstractmethod
    def settle_unknown(
        self,
        batch_id: str,
        row_no: int,
        state: str,
        *,
        call_sid: str | None,
        reason: str,
        kind: str,
        evidence: dict[str, Any],
    ) -> bool:
        """Move an ``unknown`` row to ``placed`` or ``not-placed``, logging the evidence in the
        same durable transaction. False if the row is no longer unknown."""

    @abstractmethod
    def note_row(self, batch_id: str, row_no: int, kind: str, evidence: dict[str, Any]) -> None:
        """Log a decision that changes no state (e.g. too recent to decide)."""

    # --- attempts and retries (ledger/attempts.py has the SQL) ----------------------------------

    @abstractmethod
    def retry_candidates(self, batch_id: str) -> list[dict[str, Any]]:
        """The placed rows with their current attempt (``row_no``, ``e164``, ``attempt``,
        ``sent_at``, ``call_sid``) and its final ``outcome`` (None while none arrived)."""

    @abstractmethod
    def claim_retry(
        self,
        batch_id: str,
        row_no: int,
        attempt: int,
        call_sid: str,
        cap: tuple[int, str] | None = None,
        *,
        runner: str = "",
        caller: str | None = None,
    ) -> Claim:
        """Claim attempt ``attempt`` of a placed row whose previous attempt was ``call_sid``:
        that attempt is archived and the row is ``dialing``, durably, in one transaction.
        ``gone`` if the row moved on (the attempt was claimed already), ``capped`` (nothing
        changes) if the 24-hour ``cap`` is reached."""

    @abstractmethod
    def attempts(self, batch_id: str) -> list[dict[str, Any]]:
        """Every attempt of the rows called more than once (retries, --redial-unknown):
        ``row_no``, ``attempt``, ``call_sid``, ``state``, ``sent_at``, ``outcome``; in row, then
        attempt order. A row called once is described by the row itself."""

    # --- moving a batch ------------------------------------------------------------------------

    @abstractmethod
    def dump(self, batch_id: str) -> BatchDump:
        """The batch with all its rows and events (streamed), as stored."""

    @abstractmethod
    def load(self, dump: BatchDump) -> int:
        """Store a batch copied from another ledger in one transaction; refuses (LedgerError) if
        this ledger already holds it. Returns the number of rows copied."""
