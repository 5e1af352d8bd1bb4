"""Group commit for sign-ups: the requests arriving together are stored in one transaction.

    POST /subscribe ── SignupBook.file(request, consent) ──(await)──> 202
                              │ a queue
                              ▼
                    the sign-up writer (one thread per app): takes every sign-up
                    waiting, writes them in one transaction through the WriteGate
                    (one INSERT for every new address), commits, answers each request

A request is answered only once the transaction holding its sign-up has
committed, so an accepted sign-up is always in the database. While one batch is
being written the next one gathers in the queue; the writer takes it as soon
as it has committed, without waiting to be woken. Under load a batch holds the
sign-ups that arrived during the previous commit; at rest a batch is one
sign-up that waits for nobody.

One request's failure costs the others nothing: when a batch's transaction
fails it is rolled back whole and each sign-up is written again in a
transaction of its own, so every other one is stored and answered as usual
and only the request whose sign-up cannot be stored gets the error.

The thread exits after a minute with nothing to do and starts again on demand.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager as ContextManager
from typing import NamedTuple

from sqlmodel import Session

from subscribers import rules, service
from subscribers.validation import SubscribeRequest

log = logging.getLogger(__name__)

MAX_BATCH = 256  # sign-ups in one transaction
IDLE = 60.0  # seconds without sign-ups before the writer thread exits

Transaction = Callable[[], ContextManager[Session]]  # e.g. WriteGate.session: committed when the block succeeds
Outcome = rules.OnSubscribe | Exception


class _Waiting(NamedTuple):
    request: SubscribeRequest
    consent: service.Consent
    loop: asyncio.AbstractEventLoop
    stored: asyncio.Future  # set to the Outcome once committed (or failed)


class SignupBook:
    """`await file(request, consent)` returns once the sign-up is committed (its rules.OnSubscribe,
    for logs and tests), or raises the error that kept it from being stored."""

    def __init__(self, transaction: Transaction, max_batch: int = MAX_BATCH, idle: float = IDLE):
        self.transaction = transaction
        self.max_batch, self.idle = max_batch, idle
        self._queue: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._guard = threading.Lock()  # around starting and retiring the thread
        self._thread: threading.Thread | None = None

    async def file(self, request: SubscribeRequest, consent: service.Consent) -> rules.OnSubscribe:
        loop = asyncio.get_running_loop()
        stored = loop.create_future()
        self._queue.put(_Waiting(request, consent, loop, stored))
        if self._thread is None:
            self._start()
        return await stored

    def _start(self) -> None:
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="signup-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=self.idle)]
            except queue.Empty:
                with self._guard:
                    self._thread = None  # from here on, file() starts a new writer
                if not self._queue.empty():  # a sign-up that came in while this one was retiring
                    self._start()
                return
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            outcomes = self.write([(w.request, w.consent) for w in batch])
            self._answer(batch, outcomes)

    @staticmethod
    def _answer(batch: list[_Waiting], outcomes: list[Outcome]) -> None:
        """Hand each outcome to its request, on the request's own event loop (one call per loop)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Outcome]]] = {}
        for waiting, outcome in zip(batch, outcomes):
            by_loop.setdefault(waiting.loop, []).append((waiting.stored, outcome))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, answers)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                pass

    def write(self, signups: Sequence[tuple[SubscribeRequest, service.Consent]]) -> list[Outcome]:
        """Store a batch in one transaction; if that fails, each sign-up in a transaction of its own.
        Returns each sign-up's outcome, or the exception that kept it out of the database."""
        try:
            with self.transaction() as session:
                return service.subscribe_many(session, signups)
        except Exception as exc:
            if len(signups) == 1:
                return [exc]
            log.warning("a batch of %d sign-ups failed (%s); storing them one by one", len(signups), exc)
        return [self._write_one(signup) for signup in signups]

    def _write_one(self, signup: tuple[SubscribeRequest, service.Consent]) -> Outcome:
        try:
            with self.transaction() as session:
                return service.subscribe_many(session, [signup])[0]
        except Exception as exc:
            return exc


def _settle(answers: list[tuple[asyncio.Future, Outcome]]) -> None:
    for stored, outcome in answers:
        if stored.done():  # its request was cancelled (the client left); the sign-up stands all the same
            continue
        if isinstance(outcome, Exception):
            stored.set_exception(outcome)
        else:
            stored.set_result(outcome)
