"""Group commit for a ledger one process owns: the claims and answers of every worker go to disk
together, from one thread.

A synced commit costs a few milliseconds on an ordinary disk (4 ms measured on the benchmark
machine), and each row needs three of them when written one by one: its reservation in the
journal of recent calls, its claim, its answer. With eight or more workers that is the whole
budget of a call. Here a worker hands its claim to the writer and waits; the writer takes
everything queued since its last commit (claims, and the answers and journal updates the workers
queued without waiting), writes them in one journal transaction and one ledger transaction whose
fsyncs overlap, and wakes the workers whose claims are now on disk. Answers alone do not wake the
writer: they ride with the next claim.

What a crash can leave is unchanged: a worker queues the answer of its last call before it asks
for its next claim, and the writer commits in queue order, so a claim is never on disk before
the answers that came before it. A worker thus has at most one row that is ``dialing`` on disk
(claimed, not yet answered durably); after a crash those rows, the ones in flight, become
``unknown`` and every other row has its answer.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from runner.batch.journal import Journal, Reservation
from runner.batch.ledger import Claim, Ledger, LedgerError, LedgerUnavailable
from runner.batch.ledger.groups import ClaimAsk, Finish

# How long answers wait for a claim to share its commit before they are written alone (the
# last rows of a batch, a slow --rate): they are on disk before their worker's next claim either
# way, and this bounds how stale the ledger looks to batch-status meanwhile.
ANSWER_LINGER = 0.2


@dataclass
class _Ask:
    """A worker's claim, waiting for its group's commit."""

    row_no: int
    e164: str
    cap: tuple[int, str] | None
    caller: str | None
    done: threading.Event = field(default_factory=threading.Event)
    result: Claim | None = None
    error: BaseException | None = None


@dataclass
class Writes:
    """What one group writes."""

    asks: list[_Ask] = field(default_factory=list)
    finishes: list[tuple[Finish, str]] = field(default_factory=list)  # with the answer's text
    settled: list[tuple[str, int, str]] = field(default_factory=list)  # journal: how rows ended
    flushes: list[threading.Event] = field(default_factory=list)  # set once this group is written

    def __bool__(self) -> bool:
        return bool(self.asks or self.finishes or self.settled or self.flushes)

    @property
    def urgent(self) -> bool:
        """Someone waits for this group (a claim, or a flush)."""
        return bool(self.asks or self.flushes)


class GroupWriter:
    """``claim`` blocks until the claim is durable; ``finish`` and ``settle`` only queue (the
    next group, at the latest the one of this worker's next claim, takes them)."""

    def __init__(
        self,
        ledger: Ledger,
        journal: Journal,
        *,
        batch: str,
        profile: str,
        ledger_spec: str,
        min_interval: timedelta | None,
        now: Callable[[], datetime],
        on_unrecorded: Callable[[str], None],
        on_lost: Callable[[LedgerError], None],
        on_fault: Callable[[BaseException], None],
    ):
        self.ledger = ledger
        self.journal = journal
        self.batch = batch
        self.profile = profile
        self.ledger_spec = ledger_spec
        self.min_interval = min_interval
        self.now = now
        self.on_unrecorded = on_unrecorded
        self.on_lost = on_lost
        self.on_fault = on_fault
        self.groups = 0  # groups written
        self.kill_after_groups: int | None = None
        self._queued = Writes()
        self._wake = threading.Condition()
        self._closed = False
        self._helper = ThreadPoolExecutor(1, thread_name_prefix="batch-journal-commit")
        self._thread = threading.Thread(target=self._run, name="batch-ledger-writer", daemon=True)
        self._thread.start()

    # --- the workers' side ---------------------------------------------------------------------

    def claim(
        self, row_no: int, e164: str, cap: tuple[int, str] | None, caller: str | None
    ) -> Claim:
        """Reserve the number in the journal and claim the row, both on disk when this returns
        (raises LedgerError as the single-row operations do)."""
        ask = _Ask(row_no, e164, cap, caller)
        with self._wake:
            if self._closed:
                raise LedgerUnavailable("the ledger writer has stopped; no new calls are claimed")
            self._queued.asks.append(ask)
            self._wake.notify()
        ask.done.wait()
        if ask.error is not None:
            raise ask.error
        assert ask.result is not None
        return ask.result

    def finish(self, finish: Finish, answer: str) -> None:
        """Queue Telnyx's answer for a claimed row; ``answer`` says it in words, for the summary
        if the ledger cannot take it."""
        with self._wake:
            if not self._closed:
                # No wake-up: the answer rides with the next claim's commit (this worker's own
                # next claim at the latest), or goes alone after ANSWER_LINGER.
                self._queued.finishes.append((finish, answer))
                return
        # A worker answered after the run stopped waiting for it (a hard stop): write it now.
        self._write(Writes(finishes=[(finish, answer)]))

    def settle(self, row_no: int, state: str) -> None:
        """Queue how a reserved row ended, for the journal (not synced on its own: a lost update
        leaves the stricter ``dialing``)."""
        with self._wake:
            if not self._closed:
                self._queued.settled.append((self.batch, row_no, state))

    def flush(self) -> None:
        """Return when everything queued before this call is on disk."""
        done = threading.Event()
        with self._wake:
            if self._closed:
                return
            self._queued.flushes.append(done)
            self._wake.notify()
        done.wait()

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout)
        self._helper.shutdown(wait=False)

    # --- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queued.urgent and not self._closed:
                    if not self._queued:
                        self._wake.wait()
                    elif not self._wake.wait(ANSWER_LINGER):
                        break  # answers with no claim to ride with: they go alone
                group, self._queued = self._queued, Writes()
                closing = self._closed
            if group:
                self._write(group)
            if closing:
                with self._wake:
                    if not self._queued:
                        return

    def _write(self, group: Writes) -> None:
        try:
            self._write_group(group)
        finally:
            for done in group.flushes:
                done.set()

    def _write_group(self, group: Writes) -> None:
        self.groups += 1
        try:
            repeats = self._reserve(group)
        except LedgerError as exc:
            # Nothing was reserved, so nothing of this group may be dialled; the answers still
            # go to the ledger.
            self._ledger_write(Writes(finishes=group.finishes), [])
            self._fail(group.asks, exc)
            return
        # The journal's fsync runs beside the ledger's (they are two files; the disk serves
        # both at once): a claim is dialled only when both are on disk.
        journal_done: Future[None] | None = None
        if group.asks or group.settled:
            journal_done = self._helper.submit(self.journal.commit_group)
        asks = [
            ClaimAsk(a.row_no, self.min_interval, a.cap, a.caller, repeat=r)
            for a, r in zip(group.asks, repeats, strict=True)
        ]
        results = self._ledger_write(group, asks)
        if journal_done is not None:
            try:
                journal_done.result()
            except LedgerError as exc:
                # The claims may be on disk and must not be dialled: each worker hands its row
                # back (Dialer._unclaim) on this error.
                self._fail(group.asks, exc)
                return
        if results is None:
            return
        if self.kill_after_groups is not None and self.groups >= self.kill_after_groups:
            # Test hook (tests only, see dialing.KILL_HOOK): end the process the hard way right
            # after a group's commit, before any worker of the group hears of its claim.
            os.kill(os.getpid(), signal.SIGKILL)
        for ask, result in zip(group.asks, results, strict=True):
            ask.result = result
            ask.done.set()

    def _reserve(self, group: Writes) -> list[str | None]:
        if not group.asks and not group.settled:
            return []
        asks = [Reservation(a.e164, self.batch, a.row_no) for a in group.asks]
        return self.journal.open_group(
            self.profile, self.ledger_spec, self.now(), self.min_interval, asks, group.settled
        )

    def _ledger_write(self, group: Writes, asks: list[ClaimAsk]) -> list[Claim] | None:
        if not group.finishes and not asks:
            return []
        try:
            return self.ledger.write_group(self.batch, [f for f, _ in group.finishes], asks)
        except BaseException as exc:
            for _, answer in group.finishes:
                self.on_unrecorded(answer)
            if isinstance(exc, LedgerUnavailable):
                self.on_lost(exc)
            elif group.finishes:
                self.on_fault(exc)
            self._fail(group.asks, exc)
            return None

    @staticmethod
    def _fail(asks: list[_Ask], exc: BaseException) -> None:
        for ask in asks:
            ask.error = exc
            ask.done.set()
