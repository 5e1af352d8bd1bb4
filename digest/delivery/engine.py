"""The send loop: keyset batches, the ledger around every request, retries, pause and resume.

For each batch:
  1. claim (one committed transaction): the next readers after the last id seen,
     status re-read now, get `claimed` rows (or `skipped`, if they left since the
     send began);
  2. one request to the sender;
  3. the outcome (one committed transaction): sent / failed / uncertain, with
     the provider's message id. Readers the request certainly did not deliver
     (5xx, no connection) are retried with backoff, then released for a later
     run; readers it may have delivered are never retried silently.

One batch at a time: at any moment only the request in flight is `claimed`, so a
crash between 1 and 3 leaves exactly its readers `claimed`; the next run turns
them into `uncertain`. (A pipeline that claimed the next batch while a request
was in flight, in a second thread, was measured: it was slower, its two threads
contending for the GIL and for SQLite's one writer.) The keyset position lives only in memory: the ledger, not a
checkpoint, says who is done (listmonk's resume bug is a moved checkpoint).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.delivery import ledger
from digest.delivery.lock import SendGuard, request_id, worker_of
from digest.delivery.readers import recipients_for
from digest.delivery.retry import RetryPolicy
from digest.delivery.summary import Progress, SendSummary
from digest.editions.models import Edition
from digest.errors import RateLimited, RequestRefused, SenderRefused
from digest.mail.base import Sender, SendResult
from digest.mail.message import Letter, ReaderBatch
from digest.timeutil import utcnow

GONE = "the sending process ended before the outcome of its request was known"
RESUME = "Run `digest editions send` again to resume."


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
        self.pause_check = pause_check  # digest.delivery.brake.RateGuard: complaint and bounce rates (issue 7)
        self.edition_id, self.edition_number = edition_id, edition_number
        self.letter, self.sender, self.base_url = letter, sender, base_url
        self.max_errors = max_errors
        self.batch_size = max(1, min(batch_size or sender.max_batch, sender.max_batch))
        self.retry = retry or RetryPolicy()
        self.resend_uncertain = resend_uncertain
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.sent = self.failed = self.uncertain = self.skipped = 0
        self.total: int | None = None
        self._sequence = 0
        self._began = time.monotonic()
        self._checked_at = float("-inf")
        self._status_read_at = float("-inf")
        self._connection: sa.engine.Connection | None = None

    # The complaint/bounce check counts the edition's ledger rows: before every batch while a run
    # is small, then every couple of seconds (complaints arrive by webhook over minutes anyway).
    RATE_CHECK_EVERY_BATCH_UNTIL = 10_000
    RATE_CHECK_INTERVAL = 2.0
    # Whether another worker paused the edition: read at most this often (seconds), not for every
    # one of a hundred batches a second.
    STATUS_CHECK_INTERVAL = 0.2

    @contextmanager
    def _transaction(self):
        """One committed transaction on the run's own connection, kept for the whole run
        (a pool checkout and reset per transaction cost about as much as a small claim)."""
        if self._connection is None:
            self._connection = self.engine.connect()
        with self._connection.begin():
            yield self._connection

    def _status_check_due(self) -> bool:
        now = time.monotonic()
        if now - self._status_read_at >= self.STATUS_CHECK_INTERVAL:
            self._status_read_at = now
            return True
        return False

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
                    self._batches(mode)
                status, reason = "done", None
            except _Halt as halt:
                status, reason = halt.status, halt.reason
            except SenderRefused:
                self._set_status("paused")
                raise
            return self._finish(status, reason)
        finally:
            if self._connection is not None:
                self._connection.close()
            guard.close()

    def _begin(self) -> bool:
        """Claims left by dead workers become uncertain; the edition is marked sending."""
        with self._transaction() as connection:
            status = self._edition_status(connection)
            gone = [r for r in ledger.claimed_requests(connection, self.edition_id)
                    if self.guard.is_gone(worker_of(r))]
            ledger.claims_to_uncertain(connection, self.edition_id, gone, GONE)
            self.started_at = ledger.started_at(connection, self.edition_id) or utcnow()
            if status != "sent":
                self._set_status("sending", connection)
            if self.progress is not None:
                counts = ledger.state_counts(connection, self.edition_id)
                self.total = ((0 if status == "sent" else ledger.pending_count(connection, self.edition_id))
                              + (counts["uncertain"] if self.resend_uncertain else 0))
        return status == "sent"

    def _claim(self, mode: str, after: int) -> ledger.Claim:
        """The checks before a request leaves, then the claim: one committed transaction.

        Halts on a stop request, another worker's pause (looked for every STATUS_CHECK_INTERVAL),
        or complaint and bounce rates over their limits; nothing is claimed then."""
        if self.should_stop():
            raise _Halt("stopped", f"Stopped on request; every request that went out is in the ledger. {RESUME}")
        self._sequence += 1
        rid = request_id(self.guard.worker, self._sequence)
        with self._transaction() as connection:
            if self._status_check_due() and self._edition_status(connection) == "paused":
                raise _Halt("paused", f"Another sender paused this edition. {RESUME}")
            if self._rate_check_due() and (why := self.pause_check(connection, self.edition_id)):
                raise _Halt("paused", f"Paused: {why}. {RESUME}")
            if mode == "uncertain":
                return ledger.claim_uncertain(connection, self.edition_id, after_id=after, limit=self.batch_size,
                                              request_id=rid)
            return ledger.claim_fresh(connection, self.edition_id, after_id=after, limit=self.batch_size,
                                      request_id=rid, started_at=self.started_at)

    def _check_errors(self) -> None:
        if self.failed + self.uncertain > self.max_errors:
            raise _Halt("paused", f"Paused: {self.failed + self.uncertain:,} readers failed or are uncertain "
                                  f"in this run, more than DIGEST_MAX_ERRORS={self.max_errors}. "
                                  f"Check the errors in the ledger, then {RESUME[0].lower()}{RESUME[1:]}")

    def _batches(self, mode: str) -> None:
        """Check and claim, send, record: one batch at a time, fresh readers or
        (`--resend-uncertain`) uncertain ones."""
        after = 0
        while True:
            claim = self._claim(mode, after)
            if claim.scanned == 0:
                return
            after = claim.last_id
            self.skipped += claim.skipped
            if claim.readers:
                recipients = recipients_for(claim.readers, self.edition_number, self.base_url)
                self._deliver(claim, recipients, were_uncertain=mode == "uncertain")
            self._report()
            self._check_errors()

    # -- one batch ------------------------------------------------------------------------------

    def _deliver(self, claim: ledger.Claim, recipients: ReaderBatch, *, were_uncertain: bool) -> None:
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
                self._record(claim, SendResult.all_uncertain(pending, "interrupted during the request"), pending)
                raise
            self._record(claim, result, pending)
            unsent = set(result.unsent)
            moved = result.accepted or result.rejected or result.uncertain
            pending = pending.only(unsent)
            if pending and not moved:
                failures += 1
                if failures >= self.retry.attempts:
                    self._release(claim, pending, were_uncertain)
                    raise _Halt("paused", f"Paused: {result.error} ({failures} tries). {RESUME}")
                self._wait(self.retry.backoff(failures), claim, pending, were_uncertain)

    def _record(self, claim: ledger.Claim, result: SendResult, sent_to: ReaderBatch) -> None:
        """The outcome of one request to `sent_to`, in one committed transaction."""
        now = utcnow()
        with self._transaction() as connection:
            if len(result.accepted) == len(sent_to) and not result.message_ids:  # all taken: the hot path
                ledger.mark_all(connection, self.edition_id, claim.request_id, sent_to.reader_ids,
                                "sent", message_id=result.message_id, now=now)
            else:
                ids = {email: reader_id for reader_id, email, _ in sent_to.rows}
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
            self.progress(Progress(self.sent, self.failed, self.uncertain, self.skipped, self.total,
                                   time.monotonic() - self._began))

    def _finish(self, status: str, reason: str | None) -> SendSummary:
        with self._transaction() as connection:
            counts = ledger.state_counts(connection, self.edition_id)
            if status == "done":
                if counts["claimed"] == 0:
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
