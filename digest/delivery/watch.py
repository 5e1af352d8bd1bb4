"""A send as it goes, read from the ledger: what the desk's live view shows, and a retry of failed readers.

`watch(connection, ...)` counts the edition's rows per variant, per stored zone and per state (claimed,
sent, failed, uncertain, skipped), with the readers not reached yet, the rate of the last minute, the
time left at that rate, and the complaint/bounce brake judged now. `failed_readers` lists who failed and
why. `retry_failed` turns chosen failed rows into uncertain ones, which a send with `resend_uncertain`
mails again in the variant they were due (and only them: it refuses while other readers are uncertain,
whom such a send would mail too). Reads only: this module does not load the send loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.delivery import ledger
from digest.delivery.brake import SendHealth, feedback_counts, judge, sent_count
from digest.delivery.ledger import Delivery
from digest.delivery.states import DeliveryState
from digest.errors import EditionError
from digest.timeutil import utcnow
from subscribers import audience

STATES = tuple(DeliveryState)
RATE_WINDOW = timedelta(seconds=60)
MAX_FAILED_SHOWN = 200
RETRY_NOTE = "a retry was asked for"


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))

    def add(self, state: str, n: int) -> None:
        self.counts[state] = self.counts.get(state, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Watch:
    totals: dict[str, int]
    by_variant: dict[int | None, Tally]  # variant id (None: skipped before one was chosen) -> counts
    by_zone: dict[str | None, Tally]  # stored zone -> counts
    pending: int  # active readers with no row yet (for a whole send: who is still to be mailed)
    rate: float  # readers handled per second over the last minute
    brake: str | None  # why the complaint/bounce brake would pause the send now, or None

    @property
    def seconds_left(self) -> float | None:
        left = self.pending + self.totals.get(DeliveryState.CLAIMED, 0)
        if left == 0:
            return 0.0
        return left / self.rate if self.rate > 0 else None


def watch(
    connection: Connection,
    edition_id: int,
    number: int,
    *,
    max_complaint_rate: float,
    max_bounce_rate: float,
    now: datetime | None = None,
) -> Watch:
    delivery, readers = Delivery.__table__, audience.readers
    rows = connection.execute(
        sa.select(delivery.c.variant_id, readers.c.timezone, delivery.c.state, sa.func.count())
        .select_from(delivery.join(readers, readers.c.id == delivery.c.subscriber_id))
        .where(delivery.c.edition_id == edition_id)
        .group_by(delivery.c.variant_id, readers.c.timezone, delivery.c.state)
    ).all()
    totals = dict.fromkeys(STATES, 0)
    by_variant: dict[int | None, Tally] = {}
    by_zone: dict[str | None, Tally] = {}
    for variant, zone, state, n in rows:
        totals[state] = totals.get(state, 0) + n
        by_variant.setdefault(variant, Tally()).add(state, n)
        by_zone.setdefault(zone, Tally()).add(state, n)
    since = (now or utcnow()) - RATE_WINDOW
    recent = connection.execute(
        sa.select(sa.func.count()).where(
            delivery.c.edition_id == edition_id,
            delivery.c.finished_at >= since,
            delivery.c.state.in_([DeliveryState.SENT.value, DeliveryState.FAILED.value]),
        )
    ).scalar_one()
    health = SendHealth(sent_count(connection, edition_id), *feedback_counts(connection, number))
    return Watch(
        totals,
        by_variant,
        by_zone,
        ledger.pending_count(connection, edition_id),
        recent / RATE_WINDOW.total_seconds(),
        judge(health, max_complaint_rate, max_bounce_rate),
    )


@dataclass(frozen=True)
class FailedReader:
    reader_id: int
    email: str
    error: str
    at: datetime | None


def failed_readers(connection: Connection, edition_id: int, limit: int = MAX_FAILED_SHOWN) -> list[FailedReader]:
    delivery, readers = Delivery.__table__, audience.readers
    rows = connection.execute(
        sa.select(delivery.c.subscriber_id, readers.c.email, delivery.c.error, delivery.c.finished_at)
        .select_from(delivery.join(readers, readers.c.id == delivery.c.subscriber_id))
        .where(delivery.c.edition_id == edition_id, delivery.c.state == DeliveryState.FAILED.value)
        .order_by(delivery.c.subscriber_id)  # the (edition, reader) index's order: no sort of the whole edition
        .limit(limit)
    ).all()
    return [FailedReader(r, e, error or "no reason given", at) for r, e, error, at in rows]


def retry_failed(connection: Connection, edition_id: int, reader_ids: Sequence[int]) -> int:
    """Mark these failed readers uncertain, for a send with `resend_uncertain` to mail again; how many."""
    delivery = Delivery.__table__
    others = connection.execute(
        sa.select(sa.func.count()).where(
            delivery.c.edition_id == edition_id, delivery.c.state == DeliveryState.UNCERTAIN.value
        )
    ).scalar_one()
    if others:
        raise EditionError(
            f"{others:,} readers of this edition are uncertain (their request's outcome is unknown); a retry "
            "would mail them again too. Settle them first with `digest editions send --resend-uncertain` "
            "if you mean to, then retry"
        )
    if not reader_ids:
        return 0
    return connection.execute(
        sa.update(delivery)
        .where(
            delivery.c.edition_id == edition_id,
            delivery.c.state == DeliveryState.FAILED.value,
            delivery.c.subscriber_id.in_(list(reader_ids)),
        )
        .values(state=DeliveryState.UNCERTAIN.value, error=RETRY_NOTE, finished_at=None)
    ).rowcount
