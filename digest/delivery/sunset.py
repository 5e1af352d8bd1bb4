"""The respectful goodbye (DIGEST_SUNSET_AFTER, DIGEST_SUNSET_GRACE): one re-permission mail to a
reader mailed that many editions since their last sign of life, and a lapse when it goes
unanswered. Run by the scheduler every hour; `sunset` is safe to run again at any moment.

A reader counts as asked once the provider took the mail. A request whose outcome is unknown asks
again at the next run (a second question is better than a lapse without one). Lapsed readers get
no mail of any kind until they subscribe again (subscribers.engagement).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy.engine import Engine

from digest.delivery import ledger
from digest.mail import Recipient, Sender, make_sender
from digest.mail.message import ONE_CLICK
from digest.mail.placeholders import READER_TOKEN
from digest.render.repermission import render_repermission
from digest.settings import Settings
from digest.store import session_scope
from subscribers import engagement, links


class Sunset(NamedTuple):
    asked: int  # re-permission mails the provider took
    lapsed: int  # readers who did not answer within the grace days


def sunset(engine: Engine, settings: Settings, now: datetime, *, sender: Sender | None = None) -> Sunset:
    """Lapse the readers whose question went unanswered for DIGEST_SUNSET_GRACE days, then ask those
    now due (nothing when DIGEST_SUNSET_AFTER is off)."""
    if settings.sunset_after is None:
        return Sunset(0, 0)
    with session_scope(engine) as session:
        lapsed = engagement.lapse_unanswered(session, now - timedelta(days=settings.sunset_grace), now)
    own_sender = sender is None
    sender = sender or make_sender(settings)
    asked = 0
    try:
        while True:
            with engine.connect() as connection:
                due = ledger.silent_readers(connection, settings.sunset_after, sender.max_batch)
            if not due:
                break
            letter = render_repermission(settings)
            unsubscribe = links.unsubscribe_url(settings.base_url, "")
            ids = {reader.email: reader.id for reader in due}
            recipients = [
                Recipient(
                    reader.email,
                    {READER_TOKEN: reader.token},
                    {"List-Unsubscribe": f"<{unsubscribe}{reader.token}>", "List-Unsubscribe-Post": ONE_CLICK},
                    {"purpose": "repermission", "reader_id": str(reader.id)},
                )
                for reader in due
            ]
            result = sender.send(letter, recipients)
            done = [ids[a] for a in (*result.accepted, *result.rejected)]  # a refused address: asked as well
            with engine.begin() as connection:
                engagement.asked(connection, done, now)
            asked += len(result.accepted)
            if len(done) < len(due):
                break  # the provider is not taking mail now: the next run asks the rest
    finally:
        if own_sender:
            sender.close()
    return Sunset(asked, lapsed)
