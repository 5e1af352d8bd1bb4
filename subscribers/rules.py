"""What happens to a reader on each event: the pure rules, with no database in sight."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

from subscribers.status import MAY_COME_BACK, PENDING

# A pending reader who submits the form again gets another confirmation mail,
# but not more often than this: the form must not become a way to flood a mailbox.
RESEND_AFTER = timedelta(minutes=10)


class OnSubscribe(Enum):
    CREATE = "create"  # a new address: store it pending, queue a confirmation
    REQUEUE = "requeue"  # pending, last mail long ago: queue another confirmation
    REOPEN = "reopen"  # left earlier (unsubscribed, lapsed): pending again, new consent, queue a confirmation
    NOTHING = "nothing"  # active, just mailed, bounced, complained or suppressed: change nothing


def resend_due(confirmation_sent_at: datetime | None, now: datetime, after: timedelta = RESEND_AFTER) -> datetime:
    """When a pending reader may be sent their confirmation mail again: `after` (never less than
    RESEND_AFTER) once the last one left; now if none has left yet."""
    if confirmation_sent_at is None:
        return now
    return confirmation_sent_at + max(after, RESEND_AFTER)


def on_subscribe(status: str | None, confirmation_sent_at: datetime | None, now: datetime) -> OnSubscribe:
    """The response to the subscriber is the same whatever this returns."""
    if status is None:
        return OnSubscribe.CREATE
    if status == PENDING:
        if confirmation_sent_at is not None and now - confirmation_sent_at >= RESEND_AFTER:
            return OnSubscribe.REQUEUE
        return OnSubscribe.NOTHING
    if status in MAY_COME_BACK:
        return OnSubscribe.REOPEN
    # active: already in; bounced/complained: the mailbox refused us, so we stay away;
    # suppressed: an operator said never to mail this address again.
    return OnSubscribe.NOTHING
