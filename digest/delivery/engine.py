"""The send loop: keyset walks, readers grouped by variant, the ledger around every request, retries,
pause and resume.

A run walks the readers it is for (every reader, or those of a wave's time zones)
in id order, in keyset batches. Each batch read (one committed transaction) gives
the next active readers with no row for the edition, status and topics as they
are now; readers who left since the send began, and readers whose topics match
none of the edition's comparisons, get `skipped` rows there and then. The rest
wait in memory, one queue per variant (nothing is written for them yet). When the
queues hold `hold` readers (AHEAD full requests' worth), their full requests go
out (on PostgreSQL, also at the end of each part of the walk); when none is full
(hundreds of letters, as fortnightly and monthly readers bring: a wave of 100,000
readers in 300 letters), they wait up to twice the hold, since everything sent
before the wave's end means two requests a letter instead of one; at the end of the
walk, everything left:
  1. claim ahead (one committed transaction): rows written `sent` ahead, with the
     variant, each request in flight (ledger.DeliveryRequest: the module's docstring
     says how it lands or settles), for up to AHEAD requests' readers still active,
     written in reader order
     (a variant's readers lie all over the ledger's index: one pass in order
     costs half as much as one per request);
  2. then each request in turn: one request to the sender with its variant's
     letter, and its outcome (one committed transaction): sent / failed /
     uncertain, with the provider's message id. Readers the request certainly did
     not deliver (5xx, no connection) are retried with backoff, then released for
     a later run; readers it may have delivered are never retried silently.
A request's outcome is committed before the next one leaves, so after a crash only
the lowest of a worker's claimed requests may have gone out: the next run turns
its readers into `uncertain` and lets the others go (lock.left_behind). A crash
loses nothing else: queued readers have no row, so the next run reads them again.
(On SQLite a pipeline that claimed the next batch while a request was in flight, in
a second thread, was measured: it was slower, its two threads contending for the GIL
and for SQLite's one writer. On PostgreSQL, where a claim is mostly the server's work,
the next chunk of CLAIM_CHUNK requests is claimed on a second connection while the
current chunk's requests leave: `_send_pipelined`.) The keyset position lives only in memory: the ledger,
not a checkpoint, says who is done (listmonk's resume bug is a moved checkpoint).

On PostgreSQL several senders may share a run: the id space is cut in parts, a
sender reads a part only while it holds that part's advisory lock (others skip to
the next), and the unique ledger row decides who mails a reader both have read.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from digest.delivery import ledger
from digest.delivery.hooks import Letters, PauseCheck, ProgressHook, StopRequested
from digest.delivery.letters import NOT_DUE, OneLetter
from digest.delivery.lock import SendGuard, left_behind, request_id, worker_of
from digest.delivery.readers import recipients_for
from digest.delivery.retry import RetryPolicy
from digest.delivery.states import DeliveryState, SendOutcome
from digest.delivery.summary import Progress, SendSummary
from digest.editions.models import Edition
from digest.editions.service import change_status
from digest.editions.status import EditionStatus
from digest.errors import RateLimited, RequestRefused, SenderRefused
from digest.mail.base import Sender, SendResult
from digest.mail.message import Letter, ReaderBatch
from digest.timeutil import REAL_CLOCK, Clock
from subscribers import audience

GONE = "the sending process ended before the outcome of its request was known"
RESUME = "Run `digest editions send` again to resume."


def _custom_plans(connection: sa.engine.Connection) -> None:
    """PostgreSQL: plan every statement for its own values. psycopg prepares a statement run five times,
    and PostgreSQL then may keep one generic plan for it, made while the edition had no rows: a walk
    re-reading a part another sender finished took 8 s a batch with it (0.02 s planned each time, for
    0.3 ms of planning)."""
    connection.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
    connection.commit()


def _runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) runs of consecutive ids: one walk segment each."""
    runs: list[tuple[int, int]] = []
    for reader in ids:
        if runs and runs[-1][1] == reader - 1:
            runs[-1] = (runs[-1][0], reader)
        else:
            runs.append((reader, reader))
    return runs


class _Halt(Exception):
    """Leave the loop: the run ends as `status` (paused or stopped)."""

    def __init__(self, status: SendOutcome, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class SendRun:
    """One run of one worker over one edition: every reader (`zones` None), or the readers whose stored
    zone is one of `zones` (a wave), or the readers named by id in `readers` (late readers: those who
    joined or moved after their wave; an edition already sent is walked for them too, and stays
    sent). `final` says whether the edition is sent once this run is done."""

    SEGMENTS = 8  # how many parts of the id space PostgreSQL senders share out
    # Requests claimed ahead in one transaction; the queues go out when they hold this many full
    # requests' worth of readers (64,000 readers of SendGrid's: some 20 MB).
    AHEAD = 64
    CLAIM_CHUNK = 4  # PostgreSQL: requests per claim made aside while the previous chunk's leave
    WAL_CHECKPOINT_PAGES = 10_000

    def __init__(
        self,
        engine: Engine,
        *,
        edition_id: int,
        edition_number: int,
        letters: Letters | Letter,
        sender: Sender,
        base_url: str,
        max_errors: int,
        batch_size: int | None = None,
        retry: RetryPolicy | None = None,
        resend_uncertain: bool = False,
        progress: ProgressHook | None = None,
        should_stop: StopRequested | None = None,
        pause_check: PauseCheck | None = None,
        zones: Sequence[audience.Zone] | None = None,
        final: bool = True,
        clock: Clock = REAL_CLOCK,
        readers: Sequence[int] | None = None,
    ):
        self.engine = engine
        self.clock = clock  # every wait and timestamp of the run: a test's ManualClock waits no real time
        self.pause_check = pause_check  # digest.delivery.brake.RateGuard: complaint and bounce rates (issue 7)
        self.edition_id, self.edition_number = edition_id, edition_number
        self.letters: Letters = OneLetter(letters) if isinstance(letters, Letter) else letters
        self.sender, self.base_url = sender, base_url
        self.zones, self.final = (None if zones is None else list(zones)), final
        self.readers = None if readers is None else sorted(set(readers))
        self.max_errors = max_errors
        self.batch_size = max(1, min(batch_size or sender.max_batch, sender.max_batch))
        self.retry = retry or RetryPolicy()
        self.resend_uncertain = resend_uncertain
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.sent = self.failed = self.uncertain = self.skipped = 0
        self.not_due = 0  # readers whose cadence skips this send day (read, not mailed, no row)
        self.total: int | None = None
        self._queues: dict[str, list] = {}  # variant key -> read readers waiting for a full request
        self._queued = 0  # readers in all the queues
        self.hold = self.AHEAD * self.batch_size
        self._sequence = 0
        self._began = clock.monotonic()
        self._checked_at = float("-inf")
        self._status_read_at = float("-inf")
        self._connection: sa.engine.Connection | None = None
        self._aside: sa.engine.Connection | None = None  # PostgreSQL: where claims are made ahead, aside
        self._single: sa.engine.Connection | None = None  # PostgreSQL: single statements, in autocommit
        self._claims_aside: ThreadPoolExecutor | None = None  # PostgreSQL: the thread that claims ahead
        self._pending: tuple[Future, list] | None = None  # PostgreSQL: a chunk being claimed, or claimed, not sent

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
            if self.engine.dialect.name == "sqlite":
                # A send rewrites ledger pages many times over (a wave's readers are spread across the
                # ledger's index): checkpoint the WAL every 40 MB instead of every 4, each page once.
                self._connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={self.WAL_CHECKPOINT_PAGES}")
                self._connection.commit()
            else:
                _custom_plans(self._connection)
        with self._connection.begin():
            yield self._connection

    def _one_statement(self) -> sa.engine.Connection | None:
        """PostgreSQL: a connection in autocommit mode, for what one statement does alone (a read, the
        look for leavers, a request's landing): one round trip each, where a transaction on psycopg costs
        three (BEGIN, the statement, COMMIT). A landing is committed, durably, when it returns, as in its
        own transaction. None on SQLite, where a transaction costs no round trip."""
        if self.engine.dialect.name == "sqlite":
            return None
        if self._single is None:
            self._single = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._single.exec_driver_sql("SET plan_cache_mode = force_custom_plan")  # see _custom_plans
        return self._single

    def _status_check_due(self) -> bool:
        now = self.clock.monotonic()
        if now - self._status_read_at >= self.STATUS_CHECK_INTERVAL:
            self._status_read_at = now
            return True
        return False

    def _rate_check_due(self) -> bool:
        if self.pause_check is None:
            return False
        now = self.clock.monotonic()
        # A wave's guard judges the whole edition (brake.RateGuard): no need to look before every batch of
        # a wave's first readers, who are not the edition's first.
        every_batch_until = (
            0 if getattr(self.pause_check, "whole_edition", False) else self.RATE_CHECK_EVERY_BATCH_UNTIL
        )
        if self.sent < every_batch_until or now - self._checked_at >= self.RATE_CHECK_INTERVAL:
            self._checked_at = now
            return True
        return False

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> SendSummary:
        guard = SendGuard(self.engine)
        try:
            self.guard = guard
            already_sent = self._begin()
            try:
                if self.resend_uncertain:
                    self._resend_uncertain()
                if not already_sent or self.readers is not None:
                    self._walk()
                halted, reason = None, None
            except _Halt as halt:
                halted, reason = halt.status, halt.reason
            except SenderRefused:
                self._set_status(EditionStatus.PAUSED)
                raise
            return self._finish(halted, reason)
        finally:
            self._queues.clear()  # readers read and not claimed have no row: the next run reads them again
            if self._connection is not None:
                self._connection.close()
            if self._aside is not None:
                self._aside.close()
            if self._single is not None:
                self._single.close()
            if self._claims_aside is not None:
                self._claims_aside.shutdown(wait=True)
            guard.close()

    def _begin(self) -> bool:
        """Claims left by dead workers become uncertain; the edition is marked sending."""
        with self._transaction() as connection:
            status, frozen_at = self._edition_state(connection)
            may_have_left, did_not = left_behind(
                r for r in ledger.claimed_requests(connection, self.edition_id) if self.guard.is_gone(worker_of(r))
            )
            ledger.claims_to_uncertain(connection, self.edition_id, may_have_left, GONE, now=self.clock.now())
            ledger.let_go(connection, self.edition_id, did_not)
            # The send began when the edition froze (send_edition freezes it first).
            self.started_at = frozen_at or ledger.started_at(connection, self.edition_id) or self.clock.now()
            if status != EditionStatus.SENT:
                self._set_status(EditionStatus.SENDING, connection)
            if self.progress is not None:
                counts = ledger.state_counts(connection, self.edition_id)
                self.total = (
                    0 if status == EditionStatus.SENT else ledger.pending_count(connection, self.edition_id, self.zones)
                ) + (counts[DeliveryState.UNCERTAIN] if self.resend_uncertain else 0)
        return status == EditionStatus.SENT

    def _next_request_id(self, *, queued: bool = False) -> str:
        self._sequence += 1
        return request_id(self.guard.worker, self._sequence, queued=queued)

    def _checks(self) -> None:
        """Before requests are claimed and before each leaves: another worker's pause (looked for every
        STATUS_CHECK_INTERVAL), complaint and bounce rates over their limits (every RATE_CHECK_INTERVAL)."""
        status_due, rate_due = self._status_check_due(), self._rate_check_due()
        if not (status_due or rate_due):
            return
        with self._transaction() as connection:
            if status_due and self._edition_status(connection) == EditionStatus.PAUSED:
                raise _Halt(SendOutcome.PAUSED, f"Another sender paused this edition. {RESUME}")
            if rate_due and (why := self.pause_check(connection, self.edition_id)):
                raise _Halt(SendOutcome.PAUSED, f"Paused: {why}. {RESUME}")

    def _stop_requested(self) -> None:
        if self.should_stop():
            raise _Halt(
                SendOutcome.STOPPED, f"Stopped on request; every request that went out is in the ledger. {RESUME}"
            )

    def _check_errors(self) -> None:
        if self.failed + self.uncertain > self.max_errors:
            raise _Halt(
                SendOutcome.PAUSED,
                f"Paused: {self.failed + self.uncertain:,} readers failed or are uncertain "
                f"in this run, more than DIGEST_MAX_ERRORS={self.max_errors}. "
                f"Check the errors in the ledger, then {RESUME[0].lower()}{RESUME[1:]}",
            )

    # -- the walk: fresh readers, queued by variant --------------------------------------------

    def _segments(self) -> list[tuple[audience.Zone, int, int]]:
        """(zone, after, upto) ranges of the walk, in id order. On PostgreSQL the id space is cut in
        parts that several senders share out (see `_walk`); on SQLite one sender walks it whole."""
        if self.readers is not None:
            return [(audience.EVERY_ZONE, low - 1, high) for low, high in _runs(self.readers)]
        zones = [audience.EVERY_ZONE] if self.zones is None else self.zones
        if not self.guard.shared:
            return [(zone, 0, ledger.NO_LIMIT) for zone in zones]
        parts = []
        with self._transaction() as connection:
            for zone in zones:
                span = audience.id_range(connection, zone)
                if span is None:
                    continue
                low, high = span[0] - 1, span[1]
                step = max(1, -(-(high - low) // self.SEGMENTS))
                cuts = [0] + list(range(low + step, high, step)) + [ledger.NO_LIMIT]
                # The first part starts at 0 and the last one runs on: readers who left since the send began
                # (outside the active readers' range) still get their skipped rows.
                parts += [(zone, after, upto) for after, upto in zip(cuts, cuts[1:])]
        return parts

    def _part_key(self, segment: tuple[audience.Zone, int, int]) -> int:
        """A 32-bit name for (edition, segment), for the advisory lock that marks a part taken."""
        digest = zlib.crc32(repr((self.edition_id, *segment)).encode())
        return digest - 2**32 if digest >= 2**31 else digest

    def _walk(self) -> None:
        """Every segment, in order. On PostgreSQL a segment another sender is reading is left for
        later; once this sender is through the rest it waits for those (the other may have died
        half way) and reads them too, finding what is still owed."""
        try:
            later = []
            for segment in self._segments():
                if self.guard.take_part(self._part_key(segment)):
                    self._walk_part(segment)
                else:
                    later.append(segment)
            for segment in later:
                while not self.guard.take_part(self._part_key(segment)):
                    self._stop_requested()
                    self.clock.sleep(0.1)
                self._walk_part(segment)
            self._flush()
        finally:
            self._let_pending_go()

    def _walk_part(self, segment: tuple[audience.Zone, int, int]) -> None:
        try:
            self._read_segment(*segment)
            if self.guard.shared:  # a part's full requests are claimed while this sender holds it
                self._flush(full_only=True)
        finally:
            self.guard.drop_part(self._part_key(segment))

    def _read_segment(self, zone: audience.Zone, after: int, upto: int) -> None:
        single = self._one_statement()
        while True:
            self._stop_requested()
            # PostgreSQL reads outside a transaction (each statement sees what is committed as it starts,
            # as in a transaction at READ COMMITTED) and writes its skipped rows in one; SQLite does both
            # in one transaction.
            with self._transaction() if single is None else contextlib.nullcontext(single) as connection:
                read = ledger.read_fresh(
                    connection,
                    self.edition_id,
                    after_id=after,
                    limit=self.batch_size,
                    started_at=self.started_at,
                    zone=zone,
                    upto=upto,
                )
                if read.scanned == 0:
                    return
                after = read.last_id
                skipped = [(reader, None) for reader in read.gone] + self._queue(read.rows)
                if skipped and single is None:
                    self._skip(connection, skipped)
            if skipped and single is not None:
                with self._transaction() as connection:
                    self._skip(connection, skipped)
            if skipped:
                self._report()
            if self._queued >= self.hold:  # full requests out; if there are none, everything, at twice the hold
                full = any(len(queue) >= self.batch_size for queue in self._queues.values())
                if full or self._queued >= 2 * self.hold:
                    self._flush(full_only=full)

    def _queue(self, rows) -> list[tuple[int, str]]:
        """Each read reader into their variant's queue; returns (reader, why) for those who get nothing."""
        choose, queues = self.letters.choose, self._queues
        unmatched = []
        not_due = 0
        for row in rows:
            key = choose(row[3], row[0], row[4], row[5])  # topics, reader, cadence and its day
            if key is None:
                unmatched.append((row[0], self.letters.why(row[3])))
                continue
            if key is NOT_DUE:  # their cadence skips this send day: no mail, no row
                not_due += 1
                continue
            queue = queues.get(key)
            if queue is None:
                queue = queues[key] = []
            queue.append(row[:3])
        self._queued += len(rows) - len(unmatched) - not_due
        self.not_due += not_due
        return unmatched

    def _skip(self, connection, readers: list[tuple[int, str | None]]) -> None:
        by_reason: dict[str | None, list[int]] = {}
        for reader, reason in readers:
            by_reason.setdefault(reason, []).append(reader)
        for reason, ids in by_reason.items():
            self.skipped += ledger.skip(
                connection,
                self.edition_id,
                ids,
                request_id=self._next_request_id(),
                reason=reason,
                now=self.clock.now(),
            )

    def _take(self, full_only: bool) -> tuple[str, list] | None:
        """The next request's worth of a queue (only a full one, with `full_only`), or None."""
        for key, queue in self._queues.items():
            if len(queue) >= self.batch_size or not full_only:
                rows, queue[: self.batch_size] = queue[: self.batch_size], []
                if not queue:
                    del self._queues[key]
                self._queued -= len(rows)
                return key, rows
        return None

    def _flush(self, full_only: bool = False) -> None:
        """Queued readers out (only full requests, with `full_only`): up to AHEAD requests claimed ahead
        at a time, then sent one by one. On PostgreSQL the claims are made in chunks of CLAIM_CHUNK
        requests, the next chunk's on a second connection while this one's requests leave (see
        `_send_pipelined`)."""
        while True:
            self._stop_requested()
            self._checks()
            ahead: list[tuple[str, ledger.Ahead]] = []
            while len(ahead) < self.AHEAD and (taken := self._take(full_only)) is not None:
                key, rows = taken
                self.letters.letter(key)  # rendered first: a template that fails claims nobody
                ahead.append((key, ledger.Ahead(self._next_request_id(queued=True), None, rows)))
            if not ahead:
                if not full_only:
                    self._send_pending()
                return
            seen = self._others_writes()  # before the claim: a change the claim may not have seen counts
            if self.guard.shared:
                with self._transaction() as connection:  # variant ids here: one thread touches the letters
                    planned = [
                        (key, ledger.Ahead(r.request_id, self.letters.variant_id(connection, key), r.rows))
                        for key, r in ahead
                    ]
                chunks = [planned[i : i + self.CLAIM_CHUNK] for i in range(0, len(planned), self.CLAIM_CHUNK)]
                self._send_pipelined(chunks, keep_last=full_only)
                continue
            with self._transaction() as connection:
                requests = [
                    ledger.Ahead(r.request_id, self.letters.variant_id(connection, key), r.rows) for key, r in ahead
                ]
                claims = ledger.claim_ahead(connection, self.edition_id, requests, now=self.clock.now())
            self._send_claims([key for key, _ in ahead], claims, seen)

    def _send_claims(self, keys: list[str], claims: list[ledger.Claim], seen: int | None) -> None:
        """Requests claimed ahead, one by one; on a halt, those that did not leave are let go."""
        sent = 0
        changed = False
        try:
            for key, claim in zip(keys, claims):
                self._stop_requested()
                self._checks()
                # Readers who left since the claim are not mailed: looked for once anyone else wrote.
                changed = changed or seen is None or self._others_writes() != seen
                single = self._one_statement()
                if changed and (single is None or not ledger.nobody_left(single, claim)):
                    with self._transaction() as connection:
                        claim = ledger.drop_leavers(connection, self.edition_id, claim, now=self.clock.now())
                sent += 1
                self._send_claim(key, claim)
        finally:
            if sent < len(claims):  # halted: the requests claimed ahead that did not leave let go
                with self._transaction() as connection:
                    ledger.let_go(connection, self.edition_id, [c.request_id for c in claims[sent:]])

    def _send_pipelined(self, chunks: list[list[tuple[str, ledger.Ahead]]], *, keep_last: bool) -> None:
        """PostgreSQL: while one chunk's requests leave (each checked for leavers, sent, its outcome
        committed), the next chunk is claimed on a second connection by a helper thread, so the
        database writes the claims on one core while this process posts and records on the other (a
        claim is the send's one write per reader: a row and three index entries). With `keep_last`
        (the walk goes on) the last chunk stays pending: it is claimed while the walk reads the next
        readers, and leaves first at the next flush. The crash rule still holds: requests leave in the
        order of their ids, each after the one before landed, and a chunk's request ids are all higher
        than those of every chunk before it, so only the lowest claimed request of a worker may have
        left. A halt lets the pending chunk go (`_let_pending_go`)."""
        if self._claims_aside is None:
            self._claims_aside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claim-ahead")
        for chunk in chunks:
            future = self._claims_aside.submit(self._claim_aside, chunk)
            previous, self._pending = self._pending, (future, chunk)
            if previous is not None:
                self._send_chunk(*previous)
        if not keep_last:
            self._send_pending()

    def _send_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._send_chunk(*pending)

    def _send_chunk(self, future: Future, chunk: list[tuple[str, ledger.Ahead]]) -> None:
        claims = future.result()  # a claim that failed rolled back: nothing of it was claimed
        self._send_claims([key for key, _ in chunk], claims, None)  # None: leavers looked for always

    def _let_pending_go(self) -> None:
        """A chunk claimed (or being claimed) that will not leave: its requests are let go."""
        if self._pending is None:
            return
        (future, _), self._pending = self._pending, None
        try:
            claims = future.result()
        except Exception:  # its transaction rolled back: nothing of it was claimed
            return
        with self._transaction() as connection:
            ledger.let_go(connection, self.edition_id, [c.request_id for c in claims])

    def _claim_aside(self, chunk: list[tuple[str, ledger.Ahead]]) -> list[ledger.Claim]:
        """One chunk's claims, committed on the run's second connection (the helper thread's own)."""
        if self._aside is None:
            self._aside = self.engine.connect()
            _custom_plans(self._aside)
        with self._aside.begin():
            return ledger.claim_ahead(self._aside, self.edition_id, [r for _, r in chunk], now=self.clock.now())

    def _others_writes(self) -> int | None:
        """What changes in the store when another connection commits: SQLite's data_version (one look,
        no I/O). On PostgreSQL, where other senders and the web app write all the time, None: unknown,
        so every request is looked at."""
        if self.engine.dialect.name != "sqlite":
            return None
        with self._transaction() as connection:
            return connection.connection.cursor().execute("PRAGMA data_version").fetchone()[0]

    def _send_claim(self, key: str, claim: ledger.Claim) -> None:
        self.skipped += claim.skipped
        if claim.readers:
            recipients = recipients_for(claim.readers, self.edition_number, self.base_url)
            self._deliver(claim, recipients, self.letters.letter(key), were_uncertain=False)
        self._report()
        self._check_errors()

    # -- `--resend-uncertain` ----------------------------------------------------------------------

    def _resend_uncertain(self) -> None:
        """Uncertain readers again, each with the variant the ledger says they were due."""
        after = 0
        while True:
            self._stop_requested()
            self._checks()
            with self._transaction() as connection:
                claim = ledger.claim_uncertain(
                    connection,
                    self.edition_id,
                    after_id=after,
                    limit=self.batch_size,
                    request_id=self._next_request_id(),
                    now=self.clock.now(),
                )
                keys = [
                    self.letters.due_key(connection, variant, topics)
                    for variant, topics in zip(claim.variants, claim.topics)
                ]
                for key in set(keys) - {None}:
                    self.letters.letter(key)  # rendered before the claim commits: a failure claims nobody
            if claim.scanned == 0:
                return
            after = claim.last_id
            self.skipped += claim.skipped
            groups: dict[str | None, list] = {}
            for reader, key in zip(claim.readers, keys):
                groups.setdefault(key, []).append(reader)
            # Each variant goes in a request of its own: all but the first get request ids of their own,
            # before any request leaves (an outcome is written for a request's claimed rows).
            parts = [
                (key, ledger.Claim(claim.request_id if index == 0 else self._next_request_id(), tuple(readers), 0))
                for index, (key, readers) in enumerate(groups.items())
            ]
            with self._transaction() as connection:
                for _key, part in parts[1:]:
                    ledger.move_to_request(
                        connection, self.edition_id, claim.request_id, [r[0] for r in part.readers], part.request_id
                    )
                for key, part in parts:
                    if key is None:  # no variant on record, and their topics match nothing now
                        self.skipped += ledger.mark_all(
                            connection,
                            self.edition_id,
                            part.request_id,
                            [r[0] for r in part.readers],
                            DeliveryState.SKIPPED,
                            error=self.letters.why(None),
                            now=self.clock.now(),
                        )
            for key, part in parts:
                if key is None:
                    continue
                recipients = recipients_for(part.readers, self.edition_number, self.base_url)
                self._deliver(part, recipients, self.letters.letter(key), were_uncertain=True)
            self._report()
            self._check_errors()

    # -- one batch ------------------------------------------------------------------------------

    def _deliver(self, claim: ledger.Claim, recipients: ReaderBatch, letter: Letter, *, were_uncertain: bool) -> None:
        pending = recipients
        failures = rate_waits = 0
        while pending:
            try:
                result = self.sender.send(letter, pending)
            except RateLimited as exc:
                rate_waits += 1
                wait = exc.retry_at - self.clock.now().timestamp()
                if wait > self.retry.max_rate_wait or rate_waits > self.retry.rate_waits:
                    self._release(claim, pending, were_uncertain)
                    raise _Halt(
                        SendOutcome.PAUSED, f"Paused: rate limited ({exc}); the limit resets in {wait:,.0f} s. {RESUME}"
                    ) from exc
                self._wait(wait, claim, pending, were_uncertain)
                continue
            except SenderRefused:
                self._release(claim, pending, were_uncertain)
                raise
            except RequestRefused as exc:
                self._release(claim, pending, were_uncertain)
                raise _Halt(SendOutcome.PAUSED, f"Paused: {exc}. {RESUME}") from exc
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
                    raise _Halt(SendOutcome.PAUSED, f"Paused: {result.error} ({failures} tries). {RESUME}")
                self._wait(self.retry.backoff(failures), claim, pending, were_uncertain)

    def _record(self, claim: ledger.Claim, result: SendResult, sent_to: ReaderBatch) -> None:
        """The outcome of one request to `sent_to`, in one committed transaction."""
        now = self.clock.now()
        whole = len(result.accepted) == len(sent_to) and not result.message_ids  # all taken: the hot path
        single = self._one_statement()
        if whole and single is not None:
            args = (self.edition_id, claim.request_id, sent_to.reader_ids)
            if ledger.land(single, *args, message_id=result.message_id, now=now):  # committed as it returns
                self.sent += len(result.accepted)
                return
        with self._transaction() as connection:
            if whole:
                ledger.mark_all(
                    connection,
                    self.edition_id,
                    claim.request_id,
                    sent_to.reader_ids,
                    DeliveryState.SENT,
                    message_id=result.message_id,
                    now=now,
                )
            else:
                ids = {email: reader_id for reader_id, email, _ in sent_to.rows}
                outcomes = [
                    (ids[a], DeliveryState.SENT, result.message_ids.get(a, result.message_id), None)
                    for a in result.accepted
                ]
                outcomes += [(ids[a], DeliveryState.FAILED, None, why) for a, why in result.rejected.items()]
                outcomes += [(ids[a], DeliveryState.UNCERTAIN, None, result.error) for a in result.uncertain]
                ledger.mark_each(connection, self.edition_id, claim.request_id, outcomes, now=now)
        self.sent += len(result.accepted)
        self.failed += len(result.rejected)
        self.uncertain += len(result.uncertain)

    def _release(self, claim: ledger.Claim, pending: ReaderBatch, were_uncertain: bool) -> None:
        with self._transaction() as connection:
            ledger.release(
                connection, self.edition_id, claim.request_id, pending.reader_ids, were_uncertain=were_uncertain
            )

    def _wait(self, seconds: float, claim: ledger.Claim, pending: ReaderBatch, were_uncertain: bool) -> None:
        """Sleep, but let a stop request end the run at once (nothing is in flight while waiting)."""
        deadline = self.clock.monotonic() + max(0.0, seconds)
        while True:
            if self.should_stop():
                self._release(claim, pending, were_uncertain)
                raise _Halt(SendOutcome.STOPPED, f"Stopped on request while waiting to retry. {RESUME}")
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, 0.1))

    # -- the edition ----------------------------------------------------------------------------

    def _edition_status(self, connection) -> str:
        return self._edition_state(connection)[0]

    def _edition_state(self, connection):
        table = Edition.__table__
        return connection.execute(
            sa.select(table.c.status, table.c.frozen_at).where(table.c.id == self.edition_id)
        ).one()

    def _set_status(self, status: EditionStatus, connection=None) -> None:
        """The edition's status, through the one function that changes it (digest.editions)."""
        if connection is not None:
            change_status(connection, self.edition_id, status, now=self.clock.now())
        else:
            with self._transaction() as own:
                change_status(own, self.edition_id, status, now=self.clock.now())

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(
                Progress(
                    self.sent,
                    self.failed,
                    self.uncertain,
                    self.skipped,
                    self.total,
                    self.clock.monotonic() - self._began,
                )
            )

    def _finish(self, halted: SendOutcome | None, reason: str | None) -> SendSummary:
        """The run's summary; `halted` says how it ended early (None: it went through every reader)."""
        with self._transaction() as connection:
            if halted is None and not self.final:
                # A wave with more to come: the edition stays sending. Its figures are this run's own
                # (counting the whole ledger at every wave would cost a pass over a growing edition).
                in_flight = bool(ledger.claimed_requests(connection, self.edition_id))
                sent_already = self._edition_status(connection) == EditionStatus.SENT
                if not in_flight and not sent_already:
                    return SendSummary(
                        edition=self.edition_number,
                        status=SendOutcome.WAITING,
                        sent=self.sent,
                        failed=self.failed,
                        uncertain=self.uncertain,
                        skipped=self.skipped,
                        sent_now=self.sent,
                        reason="Every reader due so far was handled; readers in later time zones wait for their wave.",
                        elapsed=self.clock.monotonic() - self._began,
                    )
            counts = ledger.state_counts(connection, self.edition_id)
            if halted is None:
                if not ledger.claimed_requests(connection, self.edition_id):
                    self._set_status(EditionStatus.SENT, connection)  # no change if another worker did it first
                    status = SendOutcome.SENT
                else:
                    status = SendOutcome.SENDING
                    reason = "This worker is done; another is still sending this edition."
            else:
                status = halted
                self._set_status(EditionStatus.PAUSED, connection)
            pending = 0 if status == SendOutcome.SENT else ledger.pending_count(connection, self.edition_id)
        return SendSummary(
            edition=self.edition_number,
            status=status,
            sent=counts[DeliveryState.SENT],
            failed=counts[DeliveryState.FAILED],
            uncertain=counts[DeliveryState.UNCERTAIN],
            skipped=counts[DeliveryState.SKIPPED],
            sent_now=self.sent,
            pending=pending,
            reason=reason,
            elapsed=self.clock.monotonic() - self._began,
        )
