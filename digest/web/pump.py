"""Sends confirmation mails after responses: one small thread per process, woken by each sign-up.

A subscribe response's background task only sets an event (`nudge`), so no
request waits on the mail provider and no request pays for a thread. The
thread waits a moment (GATHER) to gather the sign-ups arriving together, then
runs one pass for all of them: under load that is one claim and one provider
request for hundreds of readers instead of one per request.
Each pass sends at most one provider batch and goes round again at once when
the batch was full. A pass (digest.delivery.confirmations.ConfirmationQueue.send_batch)
is safe across processes; anything left behind (a provider outage, the batch a
killed process had claimed) is picked up by the next pass, by the pass the app
runs as it starts, or by the scheduler's timer.
The thread exits after a minute with nothing to do and starts again on demand;
when the server stops it finishes its pass first (`stop`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from digest.mail import Sender

log = logging.getLogger(__name__)

GATHER = 0.5  # seconds to wait for more sign-ups before a pass (a lone sign-up's mail leaves this much later)
IDLE = 60.0  # seconds without work before the thread exits


class ConfirmationPump:
    """`send(sender)` sends up to `sender.max_batch` waiting mails and returns how many it took
    from the queue.
    `make_sender()` is called on first use and the sender is kept: one pooled connection to the
    provider for the life of the process."""

    def __init__(
        self,
        send: Callable[[Sender], int],
        make_sender: Callable[[], Sender],
        gather: float = GATHER,
        idle: float = IDLE,
    ):
        self._send, self._make_sender = send, make_sender
        self.gather, self.idle = gather, idle
        self._sender: Sender | None = None
        self._wake = threading.Event()
        self._guard = threading.Lock()  # around starting and retiring the thread
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    async def nudge(self) -> None:
        """For a response's background task: costs one Event.set() on the event loop."""
        self.wake()

    def wake(self) -> None:
        self._wake.set()
        with self._guard:
            if self._thread is None and not self._stopping.is_set():
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
            self._stopping.wait(self.gather)  # cut short when the server stops: one last pass, then out
            self._wake.clear()  # before the pass: a sign-up during it wakes the next one
            self._pass()
            if self._stopping.is_set():
                break
        with self._guard:
            self._thread = None

    def stop(self, timeout: float = 30.0) -> None:
        """When the server stops: the pass in progress, or one last pass for the sign-ups being
        gathered, is finished (for up to `timeout` seconds), so the readers it claims from the
        queue get their mail rather than being left marked as mailed; then the thread exits
        and no pass starts again. Mails still queued then wait for the scheduler's timer."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _pass(self) -> None:
        try:
            if self._sender is None:
                self._sender = self._make_sender()
            if self._send(self._sender) >= self._sender.max_batch:
                self._wake.set()  # a full batch: more may be waiting
        except Exception:  # a background thread has no one to report to but the log
            log.exception("sending confirmation mails failed; they stay queued for the next pass")
