"""Sending the welcome mails that subscribers.welcomes queues: at least once, like confirmation mails.

A welcome is owed from the moment a reader confirms (with DIGEST_WELCOME on). The web app's
pump sends it right after the confirmation (and as it starts), the scheduler's timer every
minute, each batch claimed in the name of the process sending it; the claims of a process that
died are taken over (digest.delivery.presence) and sent again. A reader whose first edition is
about to go out to them (they joined after their wave: `timing` says so) is left in the queue:
the scheduler's late-reader job sends them the edition with the welcome in it instead
(digest.jobs.send_late_readers), and then nothing is owed.

`timing(reader)` is the caller's (the calendar lives above this package, in digest.send_days):
(when their first edition arrives, in words; whether an edition carries the welcome instead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from typing import NamedTuple

from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.delivery.confirmations import ClaimingQueue
from digest.mail import Recipient, Sender, make_sender
from digest.render.welcome import render_welcome, welcome_values
from digest.settings import Settings
from subscribers import welcomes
from subscribers.welcomes import PendingWelcome

log = logging.getLogger(__name__)

Timing = Callable[[PendingWelcome], tuple[str, bool]]
Schedule = Callable[[str], str]  # a reader's cadence -> when their letters come, in words


class WelcomesSent(NamedTuple):
    claimed: int  # readers taken from the queue
    accepted: int  # welcomes the provider accepted
    unsent: int  # did not leave, or may not have: back in the queue
    refused: int = 0  # the provider refused the address: not retried
    deferred: int = 0  # their first edition goes out within minutes and carries the welcome


class WelcomeQueue(ClaimingQueue):
    """One process's sender of welcome mails (digest.delivery.confirmations.ClaimingQueue)."""

    what = "welcome mails"

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        timing: Timing,
        schedule: Schedule,
        transaction: Callable[[], ContextManager[Session]] | None = None,
        recover_every: float = 30.0,
    ):
        super().__init__(engine, settings, transaction, recover_every)
        self.timing, self.schedule = timing, schedule

    def claimants(self, session: Session) -> set[str]:
        return welcomes.claimants(session)

    def send_batch(self, sender: Sender, *, size: int) -> WelcomesSent:
        """Claim up to `size` readers owed a welcome and send theirs in one provider request."""
        if not self.settings.welcome:
            return WelcomesSent(0, 0, 0)
        with self.transaction() as session:
            batch = welcomes.claim(session, size, self.presence.id, self._gone(session))
        if not batch:
            return WelcomesSent(0, 0, 0)
        recipients, ids, deferred = [], {}, []
        for reader in batch:
            first, carried = self.timing(reader)
            if carried:
                deferred.append(reader.reader_id)
                continue
            values = welcome_values(self.settings, reader.token, reader.topics, first, self.schedule(reader.cadence))
            recipients.append(
                Recipient(
                    address=reader.email,
                    custom_args={"purpose": "welcome", "reader_id": str(reader.reader_id)},
                    **values,
                )
            )
            ids[reader.email] = reader.reader_id
        accepted, again, refused = [], list(deferred), []
        if recipients:
            letter = render_welcome(self.settings)
            try:
                result = sender.send(letter, recipients)
            except Exception:
                with self.transaction() as session:
                    welcomes.settle(session, self.presence.id, released=[r.reader_id for r in batch])
                raise
            accepted = [ids[a] for a in result.accepted]
            refused = [ids[a] for a in result.rejected]
            again += [ids[a] for a in (*result.unsent, *result.uncertain)]  # at least once
            for address, reason in result.rejected.items():
                log.warning("welcome mail to reader %d refused: %s", ids[address], reason)
        with self.transaction() as session:
            welcomes.settle(session, self.presence.id, done=accepted + refused, released=again)
        return WelcomesSent(len(batch), len(accepted), len(again) - len(deferred), len(refused), len(deferred))

    def close(self) -> None:
        if self._presence is not None:
            self._presence.close()
            self._presence = None


def send_welcomes(
    engine: Engine, settings: Settings, timing: Timing, schedule: Schedule, *, sender: Sender | None = None
) -> int:
    """Send every welcome owed now (those a dead process had claimed included); returns how many left."""
    if not settings.welcome:
        return 0
    own_sender = sender is None
    sender = sender or make_sender(settings)
    queue = WelcomeQueue(engine, settings, timing, schedule)
    sent = 0
    try:
        while True:
            batch = queue.send_batch(sender, size=sender.max_batch)
            sent += batch.accepted
            if batch.claimed < sender.max_batch or not batch.accepted:
                break  # the queue is empty, or only deferred readers and failures are left: the next run retries
    finally:
        queue.close()
        if own_sender:
            sender.close()
    return sent
