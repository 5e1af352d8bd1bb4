"""Storing a verified batch of events once, and stopping mail to readers who asked for it.

`stop_status` is the pure rule (which event ends which reader's mail); `ingest`
is one transaction: a bulk insert that skips events already stored (ON
CONFLICT DO NOTHING on `sg_event_id`, so a retried batch changes nothing), then
one UPDATE per outcome for the readers of the events that were new. The send
loop reads each reader's status when it claims a batch (digest.delivery.ledger),
so a reader suppressed here gets nothing from the next batch on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.events.models import Event
from digest.store import insert_into
from digest.timeutil import utcnow
from subscribers.models import Subscriber

# The order matters when one batch holds two of them for a reader: the strongest wins.
STOP_ORDER = ("complained", "bounced", "unsubscribed")
MAILED = ("active", "pending")  # only these are changed: a reader who already left keeps their reason
# SendGrid drops mail to an address on its own suppression lists; the reason says which.
_DROPPED = {"Bounced Address": "bounced", "Spam Reporting Address": "complained",
            "Unsubscribed Address": "unsubscribed"}


def stop_status(event: str, bounce_type: str | None, raw: dict) -> str | None:
    """The status an event gives its reader, or None when it changes nothing.

    A bounce is hard unless SendGrid classed it `blocked` (a temporary refusal,
    often the receiving server's reputation filter, worth trying again).
    """
    if event == "bounce":
        return None if bounce_type == "blocked" else "bounced"
    if event == "spamreport":
        return "complained"
    if event in ("unsubscribe", "group_unsubscribe"):
        return "unsubscribed"
    if event == "dropped":
        return _DROPPED.get(raw.get("reason")) if isinstance(raw.get("reason"), str) else None
    return None


@dataclass(frozen=True)
class Ingested:
    stored: int  # events new to the store
    duplicates: int  # events already stored (a retried batch)
    suppressed: int  # readers whose mail this batch stopped



def store_events(connection: Connection, rows: Sequence[dict]) -> set[str]:
    """Insert the rows not stored yet; return the sg_event_ids that were new."""
    if not rows:
        return set()
    table = Event.__table__
    statement = (insert_into(connection, table).on_conflict_do_nothing(index_elements=["sg_event_id"])
                 .returning(table.c.sg_event_id))
    return {row[0] for row in connection.execute(statement, list(rows))}


def suppress_readers(connection: Connection, rows: Sequence[dict], now: datetime) -> int:
    """Give each row's reader the status its event calls for. Readers are found by address.

    The address, not the reader_id custom arg, identifies the reader: it is
    unique and what the mail went to, while an id could be reused on SQLite
    after a reader is erased.
    """

    wanted: dict[str, set[str]] = {status: set() for status in STOP_ORDER}
    for row in rows:
        status = stop_status(row["event"], row.get("bounce_type"), row.get("raw") or {})
        if status is not None:
            wanted[status].add(row["email"])
    subscriber = Subscriber.__table__
    changed = 0
    for status in STOP_ORDER:
        emails = sorted(wanted[status])
        for start in range(0, len(emails), 500):  # well under every driver's parameter limit
            values = {"status": status, "updated_at": now}
            if status == "unsubscribed":
                values["unsubscribed_at"] = now
            statement = (sa.update(subscriber)
                         .where(subscriber.c.email.in_(emails[start:start + 500]),
                                subscriber.c.status.in_(MAILED))
                         .values(**values))
            changed += connection.execute(statement).rowcount
    return changed


def ingest(connection: Connection, rows: Sequence[dict], now: datetime | None = None) -> Ingested:
    """Store a batch once and apply it; call inside one transaction (engine.begin())."""
    now = now or utcnow()
    new_ids = store_events(connection, rows)
    new_rows = [row for row in rows if row["sg_event_id"] in new_ids]
    suppressed = suppress_readers(connection, new_rows, now)
    return Ingested(stored=len(new_ids), duplicates=len(rows) - len(new_ids), suppressed=suppressed)
