"""Provider click events as engagement, where SendGrid reports them (DIGEST_CLICKS_ENGAGE).

A click says a person read the mail, unless a machine made it: mail security services ("link
scanners": Microsoft Safe Links, Mimecast, Barracuda...) follow every link of a message as it
arrives. So a click counts as engagement only when
  - it is on an edition (the event carries the edition and reader custom args),
  - it is not on a link whose page acts for the reader (unsubscribe, preferences, vote, keep,
    confirm): a person's vote or saved page counts already, as the POST it ends in, and a scanner's
    visit must not keep a reader who never reads, and
  - it comes at least SCANNER_WINDOW after the edition left for that reader (the ledger's `sent`
    row), when scanners have come and gone.
A scanner that clicks later still counts: the figures say "clicks (may include link scanners)".
Opens never count (Apple Mail opens every message itself).

`counted` is the pure rule; `record_clicks` applies it to a batch already stored, with one read
(when the editions left, digest.delivery.ledger.mailed_at, handed in by the caller) and one UPDATE
of the readers (subscribers.engagement.clicked), whatever the batch's size. A batch's readers are
marked engaged at its latest counted click: a batch spans seconds, and engagement is counted in
editions, so that is exact enough, and it keeps the statement one shape that compiles once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.events.models import Event
from subscribers import engagement

SCANNER_WINDOW = timedelta(minutes=10)
# The first path segment of the links that act for a reader (subscribers.links): never engagement here.
ACTING_PATHS = frozenset({"unsubscribe", "preferences", "vote", "keep", "confirm"})
LABEL = "clicks (may include link scanners)"


def acts_for_the_reader(url: object) -> bool:
    """Whether a clicked `url` opens a page that acts for the reader (or is not a link at all)."""
    if not isinstance(url, str):
        return True
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return True
    return path.strip("/").split("/", 1)[0].lower() in ACTING_PATHS


def candidates(rows: Iterable[dict]) -> list[dict]:
    """The click rows that may count: on an edition, for a reader, on a link that does not act."""
    return [
        row
        for row in rows
        if row["event"] == "click"
        and row.get("reader_id")
        and row.get("edition_number")
        and not acts_for_the_reader((row.get("raw") or {}).get("url"))
    ]


def counted(
    clicks: Sequence[dict], mailed: Mapping[tuple[int, int], datetime], window: timedelta = SCANNER_WINDOW
) -> dict[int, datetime]:
    """reader id -> the latest of their clicks that count (pure). `mailed`: (edition number, reader id)
    -> when that edition left for them; a click without one is not counted (nothing says it reached
    them)."""
    found: dict[int, datetime] = {}
    for row in clicks:
        reader, at = row["reader_id"], row["occurred_at"]
        left = mailed.get((row["edition_number"], reader))
        if left is not None and at - left >= window and (reader not in found or found[reader] < at):
            found[reader] = at
    return found


MailedAt = Callable[[Connection, Iterable[tuple[int, int]]], Mapping[tuple[int, int], datetime]]


def record_clicks(connection: Connection, rows: Sequence[dict], mailed_at: MailedAt) -> int:
    """Count the batch's new clicks that pass the rule as their readers' engagement. `mailed_at` is
    digest.delivery.ledger.mailed_at. Returns how many readers. One read and one UPDATE."""
    clicks = candidates(rows)
    if not clicks:
        return 0
    found = counted(clicks, mailed_at(connection, {(row["edition_number"], row["reader_id"]) for row in clicks}))
    if found:  # one time for the batch (SendGrid posts one every few seconds): one UPDATE of one shape
        engagement.clicked(connection, found.keys(), max(found.values()))
    return len(found)


def clicks_of_reader(connection: Connection, reader_id: int) -> int:
    """How many click events SendGrid reported for a reader (`digest subscribers show`: LABEL)."""
    events = Event.__table__
    return connection.execute(
        sa.select(sa.func.count()).where(events.c.reader_id == reader_id, events.c.event == "click")
    ).scalar_one()
