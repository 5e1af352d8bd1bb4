"""The send loop: keyset batches, the ledger around every request, retries, pause and resume.

For each batch:
  1. claim (one committed transaction): the next readers after the last id seen,
     status re-read now, get `claimed` rows (or `skipped`, if they left since the
     send began). Fresh batches are claimed one ahead as `queued` while the
     previous request is in flight, and promoted to `claimed` (status re-read
     again) in a committed transaction just before their request leaves;
  2. one request to the sender;
  3. the outcome (one committed transaction): sent / failed / uncertain, with
     the provider's message id. Readers the request certainly did not deliver
     (5xx, no connection) are retried with backoff, then released for a later
     run; readers it may have delivered are never retried silently.

A crash between 1 and 3 leaves `claimed` rows; the next run turns them into
`uncertain`. The keyset position lives only in memory: the ledger, not a
checkpoint, says who is done (listmonk's resume bug is a moved checkpoint).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager, nullcontext
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.delivery import ledger
from digest.delivery.guard import SendGuard, request_id, worker_of
from digest.delivery.readers import recipients_for
from digest.delivery.retry import RetryPolicy
from digest.delivery.summary import Progress, SendSummary
from digest.editions_model import Edition
from digest.mail.base import RateLimited, RequestRefused, Sender, SenderRefused, SendResult
from digest.mail.message import Letter, ReaderBatch
from digest.timeutil import utcnow

GONE = "the sending process ended before the outcome of its request was known"
RESUME = "Run `digest send` again to resume."


class _Halt(Exception):
    """Leave the loop: the run ends as `status` (paused or stopped)."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class SendRun:
    """One run of one worker over one edition."""

    def __init__(self, engine: Engine, *, edition_id: int, edition_number: int, letter: Letter, sender: Sender,
                 base_url: str, max_errors: int, batch_size: int | None = None, retry: RetryPolicy | None = None,
                 resend_uncertain: bool = False, progress: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 pause_check: Callable[[sa.engine.Connection, int], str | None] | None = None):
        self.engine = engine
        self.pause_check = pause_check  # digest.feedback.guard.RateGuard: complaint and bounce rates (issue 7)
        self.edition_id, self.edition_number = edition_id, edition_number
        self.letter, self.sender, self.base_url = letter, sender, base_url
        self.max_errors = max_errors
        self.batch_size = max(1, min(batch_size or sender.max_batch, sender.max_batch))
        self.retry = retry or RetryPolicy()
        self.resend_uncertain = resend_uncertain
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.sent = self.failed = self.uncertain = self.skipped = self.skipped_late = 0
        self.total: int | None = None
        self._sequence = 0
        self._began = time.monotonic()
        self._checked_at = float("-inf")
        self._one_writer = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        self._connections = threading.local()
        self._opened: list[sa.engine.Connection] = []

    # The complaint/bounce check counts the edition's ledger rows: before every batch while a run
    # is small, then every couple of seconds (complaints arrive by webhook over minutes anyway).
    RATE_CHECK_EVERY_BATCH_UNTIL = 10_000
    RATE_CHECK_INTERVAL = 2.0

    @contextmanager
    def _transaction(self):
        """One transaction on this thread's connection, one at a time on SQLite: the claim ahead
        (main thread) and the outcome (worker thread) would otherwise meet in SQLite's busy
        handler, which sleeps milliseconds. Each thread keeps its connection for the whole run
        (a pool checkout and reset per transaction cost more than a small claim)."""
        connection = getattr(self._connections, "mine", None)
        if connection is None:
            connection = self._connections.mine = self.engine.connect()
            self._opened.append(connection)
        with self._one_writer, connection.begin():
            yield connection

    def _close_connections(self) -> None:
        for connection in self._opened:
            connection.close()
        self._opened.clear()

    def _rate_check_due(self) -> bool:
        if self.pause_check is None:
            return False
        now = time.monotonic()
        if self.sent < self.RATE_CHECK_EVERY_BATCH_UNTIL or now - self._checked_at >= self.RATE_CHECK_INTERVAL:
            self._checked_at = now
            return True
        return False

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> SendSummary:
        guard = SendGuard(self.engine)
        try:
            self.guard = guard
            already_sent = self._begin()
            modes = (["uncertain"] if self.resend_uncertain else []) + ([] if already_sent else ["fresh"])
            try:
                for mode in modes:
                    self._each_batch(mode)
                status, reason = "done", None
            except _Halt as halt:
                status, reason = halt.status, halt.reason
            except SenderRefused:
                self._set_status("paused")
                raise
            return self._finish(status, reason)
        finally:
            self._close_connections()
            guard.close()

    def _begin(self) -> bool:
        """Claims left by dead workers become uncertain; the edition is marked sending."""
        with self._transaction() as connection:
            status = self._edition_status(connection)
            gone = [r for r in ledger.claimed_requests(connection, self.edition_id)
                    if self.guard.is_gone(worker_of(r))]
            ledger.unqueue(connection, self.edition_id, gone)  # claimed ahead, never sent
            ledger.claims_to_uncertain(connection, self.edition_id, gone, GONE)
            self.started_at = ledger.started_at(connection, self.edition_id) or utcnow()
            if status != "sent":
                self._set_status("sending", connection)
            if self.progress is not None:
                counts = ledger.state_counts(connection, self.edition_id)
                self.total = ((0 if status == "sent" else ledger.pending_count(connection, self.edition_id))
                              + (counts["uncertain"] if self.resend_uncertain else 0))
        return status == "sent"

    def _each_batch(self, mode: str) -> None:
        if mode == "fresh":
            self._fresh_batches()
        else:
            self._uncertain_batches()

    def _claim(self, mode: str, after: int) -> ledger.Claim:
        """One committed claim transaction, after the pause checks."""
        self._sequence += 1
        rid = request_id(self.guard.worker, self._sequence)
        with self._transaction() as connection:
            if mode == "uncertain":
                return ledger.claim_uncertain(connection, self.edition_id, after_id=after, limit=self.batch_size,
                                              request_id=rid)
            return ledger.claim_fresh(connection, self.edition_id, after_id=after, limit=self.batch_size,
                                      request_id=rid, started_at=self.started_at, state="queued")

    def _check_stop(self) -> None:
        """Before each request leaves: a stop request, another worker's pause, the complaint rate."""
        if self.should_stop():
            raise _Halt("stopped", f"Stopped on request; every request that went out is in the ledger. {RESUME}")
        with self._transaction() as connection:
            if self._edition_status(connection) == "paused":
                raise _Halt("paused", f"Another sender paused this edition. {RESUME}")
            if self._rate_check_due() and (why := self.pause_check(connection, self.edition_id)):
                raise _Halt("paused", f"Paused: {why}. {RESUME}")

    def _check_errors(self) -> None:
        if self.failed + self.uncertain > self.max_errors:
            raise _Halt("paused", f"Paused: {self.failed + self.uncertain:,} readers failed or are uncertain "
                                  f"in this run, more than DIGEST_MAX_ERRORS={self.max_errors}. "
                                  f"Check the errors in the ledger, then {RESUME[0].lower()}{RESUME[1:]}")

    def _fresh_batches(self) -> None:
        """A pipeline one batch deep: while a request is in flight (in a worker thread), the next
        batch is claimed as `queued` and its recipients built. A queued row is promoted to
        `claimed` (reader status re-read) just before its request leaves, so at any moment only
        the request in flight is `claimed`: a crash leaves exactly its readers uncertain."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-send")
        flight: Future | None = None
        ahead: ledger.Claim | None = None
        after = 0
        try:
            while True:
                ahead = self._claim("fresh", after)
                if flight is not None:
                    done, flight = flight, None
                    done.result()  # raises what the worker raised: a pause, a stop, refused credentials
                    self._report()
                    self._check_errors()
                if ahead.scanned == 0:
                    return
                self._check_stop()
                after = ahead.last_id
                self.skipped += ahead.skipped
                if ahead.readers:
                    flight = pool.submit(self._fly, ahead)
                ahead = None
        finally:
            if flight is not None:
                wait_for([flight])  # the request in flight finishes and its outcome is written
            if ahead is not None and ahead.readers:
                with self._transaction() as connection:
                    ledger.unqueue(connection, self.edition_id, [ahead.request_id])
            pool.shutdown(wait=True)

    def _fly(self, claim: ledger.Claim) -> None:
        with self._transaction() as connection:
            still = ledger.promote(connection, self.edition_id, claim.request_id, [r[0] for r in claim.readers])
        readers = claim.readers
        if len(still) < len(readers):  # some left since the claim: they are skipped, not mailed
            self.skipped_late += len(readers) - len(still)  # this thread's own counter: no race
            readers = [r for r in readers if r[0] in still]
        if readers:
            self._deliver(claim, recipients_for(readers, self.edition_number, self.base_url), were_uncertain=False)

    def _uncertain_batches(self) -> None:
        after = 0
        while True:
            self._check_stop()
            claim = self._claim("uncertain", after)
            if claim.scanned == 0:
                return
            after = claim.last_id
            self.skipped += claim.skipped
            if claim.readers:
                recipients = recipients_for(claim.readers, self.edition_number, self.base_url)
                self._deliver(claim, recipients, were_uncertain=True)
            self._report()
            self._check_errors()

    # -- one batch ------------------------------------------------------------------------------

    def _deliver(self, claim: ledger.Claim, recipients: ReaderBatch, *, were_uncertain: bool) -> None:
        ids = {email: reader_id for reader_id, email, _ in claim.readers}
        pending = recipients
        failures = rate_waits = 0
        while pending:
            try:
                result = self.sender.send(self.letter, pending)
            except RateLimited as exc:
                rate_waits += 1
                wait = exc.retry_at - time.time()
                if wait > self.retry.max_rate_wait or rate_waits > self.retry.rate_waits:
                    self._release(claim, pending, were_uncertain)
                    raise _Halt("paused", f"Paused: rate limited ({exc}); the limit resets in {wait:,.0f} s. "
                                          f"{RESUME}") from exc
                self._wait(wait, claim, pending, were_uncertain)
                continue
            except SenderRefused:
                self._release(claim, pending, were_uncertain)
                raise
            except RequestRefused as exc:
                self._release(claim, pending, were_uncertain)
                raise _Halt("paused", f"Paused: {exc}. {RESUME}") from exc
            except BaseException:
                # Interrupted inside the request (a second Ctrl-C, a bug): it may have gone out.
                self._record(claim, SendResult.all_uncertain(pending, "interrupted during the request"), ids)
                raise
            self._record(claim, result, ids)
            unsent = set(result.unsent)
            moved = result.accepted or result.rejected or result.uncertain
            pending = pending.only(unsent)
            if pending and not moved:
                failures += 1
                if failures >= self.retry.attempts:
                    self._release(claim, pending, were_uncertain)
                    raise _Halt("paused", f"Paused: {result.error} ({failures} tries). {RESUME}")
                self._wait(self.retry.backoff(failures), claim, pending, were_uncertain)

    def _record(self, claim: ledger.Claim, result: SendResult, ids: dict[str, int]) -> None:
        now = utcnow()
        with self._transaction() as connection:
            if result.accepted and not (result.rejected or result.uncertain or result.unsent or result.message_ids):
                ledger.mark_all(connection, self.edition_id, claim.request_id, [ids[a] for a in result.accepted],
                                "sent", message_id=result.message_id, now=now)
            else:
                outcomes = [(ids[a], "sent", result.message_ids.get(a, result.message_id), None)
                            for a in result.accepted]
                outcomes += [(ids[a], "failed", None, why) for a, why in result.rejected.items()]
                outcomes += [(ids[a], "uncertain", None, result.error) for a in result.uncertain]
                ledger.mark_each(connection, self.edition_id, claim.request_id, outcomes, now=now)
        self.sent += len(result.accepted)
        self.failed += len(result.rejected)
        self.uncertain += len(result.uncertain)

    def _release(self, claim: ledger.Claim, pending: ReaderBatch, were_uncertain: bool) -> None:
        with self._transaction() as connection:
            ledger.release(connection, self.edition_id, claim.request_id, pending.reader_ids,
                           were_uncertain=were_uncertain)

    def _wait(self, seconds: float, claim: ledger.Claim, pending: ReaderBatch, were_uncertain: bool) -> None:
        """Sleep, but let a stop request end the run at once (nothing is in flight while waiting)."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            if self.should_stop():
                self._release(claim, pending, were_uncertain)
                raise _Halt("stopped", f"Stopped on request while waiting to retry. {RESUME}")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1))

    # -- the edition ----------------------------------------------------------------------------

    def _edition_status(self, connection) -> str:
        table = Edition.__table__
        return connection.execute(sa.select(table.c.status).where(table.c.id == self.edition_id)).scalar_one()

    def _set_status(self, status: str, connection=None) -> None:
        table = Edition.__table__
        values = {"status": status, **({"sent_at": utcnow()} if status == "sent" else {})}
        statement = sa.update(table).where(table.c.id == self.edition_id).values(**values)
        if connection is not None:
            connection.execute(statement)
        else:
            with self._transaction() as own:
                own.execute(statement)

    def _report(self) -> None:
        if self.progress is not None:
            skipped = self.skipped + self.skipped_late
            self.progress(Progress(self.sent, self.failed, self.uncertain, skipped, self.total,
                                   time.monotonic() - self._began))

    def _finish(self, status: str, reason: str | None) -> SendSummary:
        with self._transaction() as connection:
            counts = ledger.state_counts(connection, self.edition_id)
            if status == "done":
                if counts["claimed"] + counts["queued"] == 0:
                    if self._edition_status(connection) != "sent":
                        self._set_status("sent", connection)
                    status = "sent"
                else:
                    status = "sending"
                    reason = "This worker is done; another is still sending this edition."
            else:
                self._set_status("paused", connection)
            pending = 0 if status == "sent" else ledger.pending_count(connection, self.edition_id)
        return SendSummary(edition=self.edition_number, status=status, sent=counts["sent"], failed=counts["failed"],
                           uncertain=counts["uncertain"], skipped=counts["skipped"], sent_now=self.sent,
                           pending=pending, reason=reason, elapsed=time.monotonic() - self._began)
