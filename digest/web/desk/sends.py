"""The sends an owner starts from the desk: one background thread per edition, in this process.

A send from the desk is `digest editions send --yes` (or, for a retry, `--resend-uncertain`) run in a
thread of the web server, through the same engine (digest.delivery.send_edition): the ledger records
every reader before and after each request, so the live view reads its progress from there, a reload
loses nothing, and a send cut short by a restart resumes where the ledger says. Pausing is the
engine's own rule: the edition's status set to paused (by anyone: the desk, another worker) stops the
run after the request in flight, whichever process sends it.

The send loop is loaded only when an owner first sends from the desk (the web app otherwise loads
neither it nor the scheduler).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from digest.errors import DigestError
from digest.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ended:
    """How the desk's last send of an edition ended: the engine's summary, or the error that stopped it."""

    ok: bool
    said: str


class DeskSends:
    def __init__(self, engine: Engine, settings: Settings):
        self.engine, self.settings = engine, settings
        self._lock = threading.Lock()
        self._running: dict[int, threading.Thread] = {}
        self._ended: dict[int, Ended] = {}
        self._stopping = threading.Event()

    def running(self, number: int) -> bool:
        with self._lock:
            thread = self._running.get(number)
            return thread is not None and thread.is_alive()

    def ended(self, number: int) -> Ended | None:
        with self._lock:
            return self._ended.get(number)

    def start(self, number: int, *, resend_uncertain: bool = False) -> bool:
        """Start sending edition `number` in the background; False when the desk is sending it already."""
        with self._lock:
            thread = self._running.get(number)
            if thread is not None and thread.is_alive():
                return False
            self._ended.pop(number, None)
            thread = threading.Thread(
                target=self._send, args=(number, resend_uncertain), name=f"desk-send-{number}", daemon=True
            )
            self._running[number] = thread
            thread.start()
            return True

    def _send(self, number: int, resend_uncertain: bool) -> None:
        # An optional part: the send loop loads when an owner first sends from the desk, not with the app.
        from digest.delivery import send_edition

        try:
            summary = send_edition(
                self.engine,
                self.settings,
                number,
                resend_uncertain=resend_uncertain,
                should_stop=self._stopping.is_set,
                refuse_nobody=True,
            )
            said = f"it ended {summary.status}, {summary.sent_now:,} mailed by this run"
            ended = Ended(True, said + (f". {summary.reason}" if summary.reason else "."))
        except DigestError as exc:
            ended = Ended(False, str(exc))
        except Exception as exc:  # a thread's failure is logged and shown, never lost
            log.exception("the desk's send of edition %s failed", number)
            ended = Ended(
                False, f"the send stopped on an unexpected error ({type(exc).__name__}); see the server's log"
            )
        with self._lock:
            self._ended[number] = ended

    def stop(self, timeout: float = 30.0) -> None:
        """The server is stopping: sends stop after the request in flight (and resume on the next send)."""
        self._stopping.set()
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(timeout)
