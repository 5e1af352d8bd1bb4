"""Sending the double opt-in mails that subscribers.confirmations queues: at least once.

`send_pending` is called by `digest subscribers add|import` and on a timer by
the scheduler, to catch anything left over; `resend_confirmation(s)` by
`digest subscribers resend-confirmation`, which queues mails again first; the web app's confirmation pump
keeps a ConfirmationQueue and calls `send_batch` (one claim, one provider
request) after subscribe responses have gone, and once when it starts. It is
safe to run in several processes at once: each reader is claimed by one UPDATE
naming the claiming process before the mail leaves (see subscribers.confirmations);
a reader counts as mailed only once the provider took the mail. A mail that did
not leave, or may not have, is put back in the queue; one that cannot be sent
to this reader (the provider refuses the address, the message cannot be built)
is marked with the reason and the queue moves on. The claims of a process that
died are taken over (digest.delivery.presence) and sent again. The mail itself
is rendered by digest.render.confirmation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from datetime import timedelta
from functools import partial
from typing import NamedTuple

from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.delivery.presence import Presence
from digest.mail import Recipient, Sender, make_sender
from digest.render.confirmation import CONFIRM_URL, render_confirmation
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import utcnow
from subscribers import confirmations, links
from subscribers.tokens import ConfirmationTokens

log = logging.getLogger(__name__)


def send_pending(engine: Engine, settings: Settings, *, limit: int | None = None, sender: Sender | None = None) -> int:
    """Send every waiting confirmation mail (at most `limit`), those a dead process had claimed
    included; returns how many left."""
    own_sender = sender is None
    sender = sender or make_sender(settings)
    sent = 0
    queue = ConfirmationQueue(engine, settings)
    try:
        while limit is None or sent < limit:
            size = sender.max_batch if limit is None else min(sender.max_batch, limit - sent)
            batch = queue.send_batch(sender, size=size)
            sent += batch.accepted
            if not batch.claimed or (batch.unsent and not batch.accepted):
                break  # nothing waiting, or the provider is not taking mail now: the next run retries
    finally:
        queue.close()
        if own_sender:
            sender.close()
    return sent


class Resent(NamedTuple):
    queued: int  # readers whose mail was queued again by this call
    sent: int  # confirmation mails that left (theirs, and any others waiting)
    refused: int = 0  # readers left out because the provider refused their mail before


def resend_confirmation(engine: Engine, settings: Settings, email: str) -> Resent:
    """Send the pending reader at `email` their confirmation mail again, now (at most every
    subscribers.rules.RESEND_AFTER). The backend is checked before anything is written."""
    sender = make_sender(settings)
    try:
        with session_scope(engine) as session:
            queued = confirmations.resend(session, email, utcnow())
        return Resent(int(queued), send_pending(engine, settings, sender=sender))
    finally:
        sender.close()


def resend_confirmations(engine: Engine, settings: Settings, older_than: timedelta) -> Resent:
    """Send their confirmation mail again to every pending reader whose last one left more than
    `older_than` ago (at least RESEND_AFTER); readers whose mail the provider refused are left out
    and counted. The backend is checked before anything is written."""
    sender = make_sender(settings)
    try:
        with session_scope(engine) as session:
            queued, refused = confirmations.resend_all(session, older_than, utcnow())
        return Resent(queued, send_pending(engine, settings, sender=sender), refused)
    finally:
        sender.close()


class BatchSent(NamedTuple):
    claimed: int  # readers taken from the queue
    accepted: int  # mails the provider accepted
    unsent: int  # mails that did not leave, or may not have: back in the queue
    refused: int = 0  # readers whose mail cannot be sent: marked with the reason, not retried


class ClaimingQueue:
    """One process's sender of owed mails (confirmations, welcomes): its Presence, so that claims it
    holds when it dies are taken over, and when it last looked for claims of processes that died.

    `transaction()` opens each write (the claim, the outcome): the web app passes its
    WriteGate's, so the claim queues with the sign-up writes instead of colliding with them in
    SQLite's busy handler. Claims of dead processes are looked for on the first batch and then
    every `recover_every` seconds (each look asks the database about every claimant).
    """

    what = "mails"  # in the log line of a takeover

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        transaction: Callable[[], ContextManager[Session]] | None = None,
        recover_every: float = 30.0,
    ):
        self.engine, self.settings = engine, settings
        self.transaction = transaction or partial(session_scope, engine)
        self.recover_every = recover_every
        self._presence: Presence | None = None  # taken on first use: making the queue costs nothing
        self._recovered_at = float("-inf")
        self._dead: set[str] = set()  # claimants whose process ended

    def claimants(self, session: Session) -> set[str]:
        raise NotImplementedError

    @property
    def presence(self) -> Presence:
        if self._presence is None:
            self._presence = Presence(self.engine)
        return self._presence

    def _gone(self, session: Session) -> set[str]:
        """Claimants known to be gone (a process that ended stays ended), looked for again when due."""
        now = time.monotonic()
        if now - self._recovered_at >= self.recover_every:
            self._recovered_at = now
            found = self.presence.gone(self.claimants(session) - self._dead)
            if found:
                log.warning(
                    "taking over the %s claimed by %d process(es) that ended before recording them; "
                    "they are sent again",
                    self.what,
                    len(found),
                )
            self._dead |= found
        return self._dead


class ConfirmationQueue(ClaimingQueue):
    what = "confirmation mails"

    def claimants(self, session: Session) -> set[str]:
        return confirmations.claimants(session)

    def send_batch(self, sender: Sender, *, size: int) -> BatchSent:
        """Claim up to `size` waiting readers and send their mails in one provider request."""
        with self.transaction() as session:
            batch = confirmations.claim(session, size, self.presence.id, self._gone(session))
        if not batch:
            return BatchSent(0, 0, 0)
        signer = ConfirmationTokens(self.settings.secret_key)
        letter = render_confirmation(self.settings)
        recipients = [
            Recipient(
                address=p.email,
                substitutions={CONFIRM_URL: links.confirm_url(self.settings.base_url, signer.make(p.token))},
                custom_args={"purpose": "confirmation", "reader_id": str(p.reader_id)},
            )
            for p in batch
        ]
        ids = {p.email: p.reader_id for p in batch}
        try:
            result = sender.send(letter, recipients)
        except Exception:
            # Nothing was handed over (or nothing is known): back in the queue for the next run.
            with self.transaction() as session:
                confirmations.release(session, list(ids.values()), self.presence.id)
            raise
        again = [*result.unsent, *result.uncertain]  # at least once: a mail that may not have left goes again
        with self.transaction() as session:
            confirmations.settle(
                session,
                self.presence.id,
                utcnow(),
                sent=[ids[a] for a in result.accepted],
                refused={ids[a]: why for a, why in result.rejected.items()},
                released=[ids[a] for a in again],
            )
        if again:
            log.warning("%d confirmation mail(s) not sent, will retry: %s", len(again), result.error)
        for address, reason in result.rejected.items():
            log.warning("confirmation mail to reader %d refused: %s", ids[address], reason)
        return BatchSent(len(batch), len(result.accepted), len(again), len(result.rejected))

    def close(self) -> None:
        """Let go of the Presence: call once no batch of this queue is in flight."""
        if self._presence is not None:
            self._presence.close()
            self._presence = None
