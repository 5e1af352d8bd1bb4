"""Sending the double opt-in mails that subscribers.confirmations queues.

`send_pending` is called by `digest subscribers add|import` and on a timer by
the scheduler, to catch anything left over; the web app's confirmation pump
calls `send_batch` (one claim, one provider request) after subscribe
responses have gone. It is idempotent and safe to run in several processes
at once: each reader is claimed by one UPDATE before the mail leaves (see
subscribers.confirmations), and a batch that certainly did not leave is put
back in the queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable, ContextManager, NamedTuple

from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.mail import Letter, Recipient, Sender, make_sender
from digest.render.compile import compile_mjml
from digest.render.templates import environment, template_file
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import utcnow
from subscribers import confirmations, links
from subscribers.tokens import ConfirmationTokens

log = logging.getLogger(__name__)

CONFIRM_URL = "%%confirm_url%%"  # filled per recipient, like digest.mail.placeholders.READER_TOKEN
HTML_TEMPLATE = "email/confirm.mjml.j2"
TEXT_TEMPLATE = "email/confirm.txt.j2"


@dataclass(frozen=True)
class ConfirmationView:
    newsletter_name: str
    postal_address: str
    confirm_url: str
    expires_days: int


@lru_cache(maxsize=8)
def render_confirmation(settings: Settings, root: Path | None = None) -> Letter:
    """The confirmation mail, rendered once per process; CONFIRM_URL marks where each reader's link goes."""
    view = ConfirmationView(settings.newsletter_name, settings.postal_address, CONFIRM_URL,
                            ConfirmationTokens(settings.secret_key).max_age.days)
    override = settings.templates  # DIGEST_TEMPLATES: the publisher's templates come first
    html = compile_mjml(environment("markup", root, override).get_template(HTML_TEMPLATE).render(c=view),
                        template_file(HTML_TEMPLATE, root, override))
    text = environment("text", root, override).get_template(TEXT_TEMPLATE).render(c=view)
    return Letter(subject=f"Confirm your subscription to {settings.newsletter_name}", html=html, text=text,
                  from_address=settings.from_address, from_name=settings.newsletter_name,
                  reply_to=settings.reply_to, categories=("confirmation",))


def send_pending(engine: Engine, settings: Settings, *, limit: int | None = None,
                 now: datetime | None = None, sender: Sender | None = None) -> int:
    """Send every waiting confirmation mail (at most `limit`); returns how many left."""
    own_sender = sender is None
    sender = sender or make_sender(settings)
    sent = 0
    try:
        while limit is None or sent < limit:
            size = sender.max_batch if limit is None else min(sender.max_batch, limit - sent)
            batch = send_batch(partial(session_scope, engine), settings, sender, size=size, now=now)
            sent += batch.accepted
            if not batch.claimed or (batch.unsent and not batch.accepted):
                break  # nothing waiting, or the provider is not taking mail now: the next run retries
    finally:
        if own_sender:
            sender.close()
    return sent


class BatchSent(NamedTuple):
    claimed: int  # readers taken from the queue
    accepted: int  # mails the provider accepted
    unsent: int  # mails that did not leave: back in the queue


def send_batch(transaction: Callable[[], ContextManager[Session]], settings: Settings, sender: Sender, *,
               size: int, now: datetime | None = None) -> BatchSent:
    """Claim up to `size` waiting readers and send their mails in one provider request.

    `transaction()` opens each write (the claim, and a release when mail did not leave): the
    web app passes its WriteGate's, so the claim queues with the sign-up writes instead of
    colliding with them in SQLite's busy handler.
    """
    with transaction() as session:
        batch = confirmations.claim(session, now or utcnow(), size)
    if not batch:
        return BatchSent(0, 0, 0)
    signer = ConfirmationTokens(settings.secret_key)
    letter = render_confirmation(settings)
    recipients = [Recipient(address=p.email,
                            substitutions={CONFIRM_URL: links.confirm_url(settings.base_url, signer.make(p.token))},
                            custom_args={"purpose": "confirmation", "reader_id": str(p.reader_id)})
                  for p in batch]
    try:
        result = sender.send(letter, recipients)
    except Exception:
        # Nothing was handed over: back in the queue for the next run.
        with transaction() as session:
            confirmations.release(session, [p.reader_id for p in batch])
        raise
    unsent = set(result.unsent)
    if unsent:
        with transaction() as session:
            confirmations.release(session, [p.reader_id for p in batch if p.email in unsent])
        log.warning("%d confirmation mail(s) not sent, will retry: %s", len(unsent), result.error)
    for address, reason in result.rejected.items():
        log.warning("confirmation mail to %s refused: %s", address, reason)
    return BatchSent(len(batch), len(result.accepted), len(unsent))
