"""The worker side of a batch: for each admitted row, wait for the rate, check the calling
policy again, claim the row durably (within the 24 h cap), POST it, and record Telnyx's answer.

The main thread (``runner.batch.engine``) reads the contacts and hands rows to a few workers
through a small queue; ``Dialer`` holds what they share for one run.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from typing import TYPE_CHECKING, Any

from runner.batch.budget import Budget
from runner.batch.groupwrite import GroupWriter
from runner.batch.journal import Journal, NoJournal
from runner.batch.ledger import Claim, Ledger, LedgerError, LedgerUnavailable
from runner.batch.ledger.base import Pacer
from runner.batch.ledger.groups import Finish
from runner.batch.model import Hooks, Options, Prepared, Progress, RowEvent
from runner.batch.pacing import TokenBucket
from runner.flow.compose import Composed

if TYPE_CHECKING:
    from runner.campaign.guard import Guard
    from runner.send.submit import Result

KILL_HOOK = "CALLPROFILE_TEST_KILL_AFTER"  # tests only: "claim:N", "answer:N" or "group:N"


def _kill_hook() -> tuple[str, int] | None:
    spec = os.environ.get(KILL_HOOK)
    if not spec or ":" not in spec:
        return None
    point, _, count = spec.partition(":")
    return (point, int(count)) if count.isdigit() else None


class Dialer:
    """State shared by the main thread and the workers for one run."""

    def __init__(
        self,
        composed: Composed,
        opts: Options,
        hooks: Hooks,
        batch: str,
        total: int,
        ledger: Ledger,
        runner: str,
        guard: Guard,
        journal: Journal | NoJournal,
    ):
        self.composed = composed
        self.guard = guard
        self.journal = journal  # the repeat guard across ledgers (journal.py)
        self.opts = opts
        self.hooks = hooks
        self.batch = batch
        self.runner = runner  # this process as a runner of the batch (see Ledger.join)
        self.progress = Progress(total)
        self.lock = threading.Lock()
        self.inflight: set[int] = set()
        self.budget = Budget(opts.max_calls)
        # A shared ledger paces every runner of the batch together; otherwise this run paces
        # itself.
        self.limiter: Pacer = (
            ledger.rate_limiter(batch, opts.rate, hooks.sleep or hooks.stopper.hard.wait)
            or hooks.limiter
            or TokenBucket(opts.rate, wait=hooks.stopper.hard.wait)
        )
        # The limiter paces claims; the gate paces the POSTs themselves. A claim is a synced
        # commit, and one slow fsync (100+ ms on a busy disk) holds every worker's claim: without
        # the gate, the rows claimed meanwhile would all be sent at once, a burst above the rate.
        self.gate = hooks.gate or self.limiter.twin()
        self.jobs: queue.Queue[Prepared | None] = queue.Queue(maxsize=max(2, opts.concurrency * 2))
        self.kill = _kill_hook()
        self.claims = 0
        self.answers = 0
        self.error: BaseException | None = None
        self.unrecorded: list[str] = []  # answers the ledger could not take (it was lost)
        # A ledger this process owns writes claims and answers in groups (groupwrite.py); a
        # shared one keeps its own per-row protocol (leases, other runners).
        self.writes: GroupWriter | None = None
        if not ledger.shared and isinstance(journal, Journal):
            self.writes = GroupWriter(
                ledger,
                journal,
                batch=batch,
                profile=opts.profile,
                ledger_spec=opts.ledger_spec,
                min_interval=opts.min_interval,
                now=hooks.now,
                on_unrecorded=self.unrecorded.append,
                on_lost=self.lose,
                on_fault=self._fault,
            )

        if self.writes is not None and self.kill and self.kill[0] == "group":
            self.writes.kill_after_groups = self.kill[1]

    def _fault(self, exc: BaseException) -> None:
        self.error = exc
        self.hooks.stopper.stop("internal error")

    def flush_writes(self) -> None:
        """Put the answers still queued on disk (a pass over the rows has ended)."""
        if self.writes is not None:
            self.writes.flush()

    def close_writes(self) -> None:
        """Write what is still queued and stop the writer (the run is ending)."""
        if self.writes is not None:
            self.writes.close()

    def lose(self, exc: LedgerError) -> None:
        """The ledger's database is gone: claim nothing more; the run exits 6."""
        self.hooks.stopper.stop(f"{exc}; no new calls are claimed", code=6)

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            setattr(self.progress, name, getattr(self.progress, name) + by)

    # --- workers ---------------------------------------------------------------------------

    def worker(self, ledger: Ledger) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                self._dial(ledger, job)
            except LedgerUnavailable as exc:
                self.lose(exc)  # the rows still queued are dropped: the run is stopping
            except BaseException as exc:
                self.error = exc
                self.hooks.stopper.stop("internal error")
                return

    def _dial(self, ledger: Ledger, job: Prepared) -> None:
        stopper = self.hooks.stopper
        if stopper.stopping or not self.limiter.acquire(cancelled=lambda: stopper.stopping):
            self.budget.release()
            return
        if not self._still_allowed(ledger, job):
            self.budget.release()
            return
        cap = self.guard.cap(job.facts) if job.facts is not None else None
        try:
            claim = self._claim(ledger, job, (cap.limit, cap.rule) if cap is not None else None)
        except LedgerUnavailable as exc:
            # The claim may have committed: the row is not sent, and is handed back if the
            # ledger can still be told.
            self.budget.release()
            self.lose(exc)
            self._unclaim(ledger, job.row)
            return
        if claim.outcome != "claimed":
            self.budget.release()
            if claim.outcome == "lapsed":
                self.hooks.stopper.stop(f"{claim.reason}; no new calls are claimed", code=6)
            if claim.outcome in ("repeat", "capped"):
                self.count("skipped" if claim.outcome == "repeat" else "deferred")
                self.count("done")
                kind = "repeat" if claim.outcome == "repeat" else "deferred"
                self.hooks.on_row(RowEvent(job.row, kind, claim.reason))
            return
        if not self.gate.acquire(cancelled=lambda: stopper.stopping) or stopper.stopping:
            # Stopped while this row was being claimed: it was not sent, so it may wait.
            ledger.finish(self.batch, job.row, "pending", reason="stopped before sending")
            self._settle(job.row, "pending")
            self.budget.release()
            return
        with self.lock:
            self.inflight.add(job.row)
            self.claims += 1
            claims = self.claims
        self._maybe_die("claim", claims)
        result = self._send(job)
        with self.lock:
            self.answers += 1
            answers = self.answers
        self._maybe_die("answer", answers)
        try:
            self._settle(job.row, result.status)
            if self._record(ledger, job, result):
                self.count("done")
        except LedgerError as exc:
            self.unrecorded.append(_answer(job.row, result))
            if not isinstance(exc, LedgerUnavailable):
                raise
            self.lose(exc)
        finally:
            with self.lock:
                self.inflight.discard(job.row)

    def _claim(self, ledger: Ledger, job: Prepared, cap: tuple[int, str] | None) -> Claim:
        """Reserve the number in the journal of recent calls (the repeat guard across ledgers),
        then claim the row in the ledger; both durable before the POST."""
        caller = job.request.body.get("From")
        sender = caller if isinstance(caller, str) else None
        if self.writes is not None:
            if job.retry is None:
                claim = self.writes.claim(job.row, job.e164, cap, sender)
                if claim.outcome != "claimed":
                    self._settle(job.row, "pending")
                return claim
            # A retry claims on its own, below: first the answers queued before it go to disk
            # (and the writer lets go of the journal).
            self.writes.flush()
        repeat = self.journal.reserve(
            profile=self.opts.profile,
            e164=job.e164,
            batch_id=self.batch,
            row_no=job.row,
            ledger=self.opts.ledger_spec,
            now=self.hooks.now(),
            min_interval=self.opts.min_interval,
        )
        if repeat is not None:
            skipped = ledger.skip(self.batch, job.row, "repeat", repeat)
            return Claim("repeat", repeat) if skipped else Claim("gone")
        # If the claim fails, it may have committed: the reservation stays (the stricter way).
        if job.retry is not None:  # a retry claims its own attempt (runner.batch.retries)
            attempt, previous = job.retry
            claim = ledger.claim_retry(
                self.batch, job.row, attempt, previous, cap, runner=self.runner, caller=sender
            )
        else:
            claim = ledger.claim(
                self.batch, job.row, self.opts.min_interval, cap, runner=self.runner, caller=sender
            )
        if claim.outcome != "claimed":
            # A retry not claimed leaves the row's earlier call placed: the journal keeps it.
            self._settle(job.row, "placed" if job.retry is not None else "pending")
        return claim

    def _settle(self, row: int, status: str) -> None:
        """Tell the journal how the row ended (a call not placed leaves no reservation)."""
        # If the journal cannot be written, the reservation stays "dialing": stricter, never
        # looser.
        if self.writes is not None:
            self.writes.settle(row, status)
            return
        with contextlib.suppress(LedgerError):
            self.journal.settle(self.opts.ledger_spec, self.batch, row, status)

    def _unclaim(self, ledger: Ledger, row: int) -> None:
        try:
            ledger.finish(self.batch, row, "pending", reason="claimed, then not sent")
        except LedgerError:
            self.unrecorded.append(
                f"row {row}: claimed but not sent; the ledger will show it as unknown "
                "(it was not called)"
            )

    def _still_allowed(self, ledger: Ledger, job: Prepared) -> bool:
        """The policy again, now that the row's turn has come: the clock may have left its
        calling hours (or reached a quiet day) since the row was read."""
        if job.facts is None:
            return True
        verdict = self.guard.judge(job.facts, self.hooks.now())
        if verdict.callable:
            return True
        if verdict.action == "skip":
            ledger.skip(self.batch, job.row, self.guard.skip_kind(verdict), verdict.reason())
            self.count("skipped")
        else:
            ledger.defer(self.batch, job.row, verdict.reason())
            self.count("deferred")
        self.count("done")
        self.hooks.on_row(RowEvent(job.row, verdict.action, verdict.reason()))
        return False

    def _send(self, job: Prepared) -> Result:
        from runner.send import submit

        hard = self.hooks.stopper.hard

        def pause_everyone(seconds: float) -> None:
            self.limiter.pause(seconds)
            self.gate.pause(seconds)  # rows already claimed wait too
            self.hooks.on_notice(f"Telnyx answered 429: pausing every worker for {seconds:.1f}s")
            self.limiter.acquire(cancelled=hard.is_set)
            self.gate.acquire(cancelled=hard.is_set)

        prepared = job.http or submit.prepare(
            job.request.connection_id,
            job.request.body,
            base_url=self.opts.base_url,
            api_key=self.opts.api_key,
        )
        return submit.send(
            prepared,
            client=self.hooks.client,
            max_retries=self.opts.max_retries,
            sleep=self.hooks.sleep or hard.wait,
            wait_for_rate_limit=pause_everyone,
        )

    def _record(self, ledger: Ledger, job: Prepared, result: Result) -> bool:
        """Write the answer for a claimed row; True if the row is settled (not pending again)."""
        from runner.secrets import scrub

        row = job.row
        # Scrubbing reads the environment: only for the answers whose message is kept.
        message = "" if result.status == "placed" else scrub(result.message)

        def finish(state: str, **detail: Any) -> None:
            if self.writes is None:
                ledger.finish(self.batch, row, state, **detail)
            else:  # on disk before this worker's next claim is
                self.writes.finish(Finish(row, state, **detail), _answer(row, result))

        self.count("sent")
        if result.status == "placed":
            finish("placed", call_sid=result.call_sid, http_status=result.http_status)
            self.budget.spent()
            self.count("placed")
            return True
        elif result.status == "unknown":
            finish("unknown", reason=message, http_status=result.http_status)
            self.budget.spent()
            self.count("unknown")
            self.hooks.on_row(RowEvent(row, "unknown", message))
            return True
        elif result.status == "rejected" and result.http_status == 401:
            # A bad API key fails every row alike: nothing was placed, so keep the row.
            finish("pending", reason=message, http_status=result.http_status)
            self.budget.release()
            self.hooks.stopper.stop("Telnyx refused the API key (401); nothing was placed", code=4)
            return False
        elif result.status == "rejected":
            code = result.errors[0].code if result.errors else None
            detail = "; ".join(
                f"{e.code or '?'} {e.title or ''}: {e.detail or ''}".strip(": ")
                for e in result.errors
            )
            reason = scrub(f"{message}: {detail}" if detail else message)
            finish(
                "failed",
                reason=reason,
                http_status=result.http_status,
                error_code=code,
            )
            self.budget.release()
            self.count("failed")
            self.hooks.on_row(RowEvent(row, "failed", reason))
            return True
        elif result.status == "invalid":
            # The request could not be sent at all (nothing left): keep the row, stop the batch.
            finish("pending", reason=message)
            self.budget.release()
            self.hooks.stopper.stop(f"{message}; the row stays pending", code=1)
            return False
        else:  # unreachable: provably never reached Telnyx, so the row may be sent later
            finish("pending", reason=message, http_status=result.http_status)
            self.budget.release()
            self.hooks.stopper.stop(f"{message}; the row stays pending")
            return False

    def _maybe_die(self, point: str, count: int) -> None:
        # Test hook: end the process the hard way at an exact point of the protocol.
        if self.kill and self.kill[0] == point and count >= self.kill[1]:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


def _answer(row: int, result: Result) -> str:
    """What Telnyx said about a row, for when the ledger cannot take it."""
    if result.status == "placed":
        return f"row {row}: placed, call sid {result.call_sid}"
    return f"row {row}: {result.status} (HTTP {result.http_status or '-'})"
