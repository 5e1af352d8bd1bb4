"""Sends confirmation mails after responses: one small thread per process, woken by each sign-up.

A subscribe response's background task only sets an event (`nudge`), so no
request waits on the mail provider and no request pays for a thread. The
thread waits a moment to gather the sign-ups arriving together, then runs one
`send_pending` pass for all of them: under load that is one claim and one
provider request for dozens of readers instead of one per request.
Each pass sends at most one provider batch and goes round again at once when
the batch was full. `send_pending` itself is safe across processes; anything
left behind (a crash, a provider outage) is picked up by the next pass or by the
scheduler's timer.
The thread exits after a minute with nothing to do and starts again on demand.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from digest.mail import Sender

log = logging.getLogger(__name__)

GATHER = 0.5  # seconds to wait for more sign-ups before a pass
IDLE = 60.0  # seconds without work before the thread exits


class ConfirmationPump:
    """`send(sender)` sends up to `sender.max_batch` waiting mails and returns how many left.
    `make_sender()` is called on first use and the sender is kept: one pooled connection to the
    provider for the life of the process."""

    def __init__(self, send: Callable[[Sender], int], make_sender: Callable[[], Sender],
                 gather: float = GATHER, idle: float = IDLE):
        self._send, self._make_sender = send, make_sender
        self.gather, self.idle = gather, idle
        self._sender: Sender | None = None
        self._wake = threading.Event()
        self._guard = threading.Lock()  # around starting and retiring the thread
        self._thread: threading.Thread | None = None

    async def nudge(self) -> None:
        """For a response's background task: costs one Event.set() on the event loop."""
        self.wake()

    def wake(self) -> None:
        self._wake.set()
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="confirmation-mails", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._wake.wait(timeout=self.idle):
                with self._guard:
                    if not self._wake.is_set():  # a wake() now would see no thread and start one
                        self._thread = None
                        return
                continue
            time.sleep(self.gather)
            self._wake.clear()  # before the pass: a sign-up during it wakes the next one
            self._pass()

    def _pass(self) -> None:
        try:
            if self._sender is None:
                self._sender = self._make_sender()
            if self._send(self._sender) >= self._sender.max_batch:
                self._wake.set()  # a full batch: more may be waiting
        except Exception:  # noqa: BLE001  a background thread has no one to report to but the log
            log.exception("sending confirmation mails failed; they stay queued for the next pass")
