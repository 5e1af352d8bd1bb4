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

from digest.delivery import kept, ledger
from digest.delivery.brake import SendHealth, feedback_counts, judge, sent_count
from digest.delivery.ledger import Delivery
from digest.delivery.states import DeliveryState
from digest.editions.service import variant_keys
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
    pruned = kept.kept_one(connection, edition_id)
    if pruned is not None:
        return _kept_watch(connection, edition_id, pruned, max_complaint_rate, max_bounce_rate)
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


def _kept_watch(
    connection: Connection, edition_id: int, pruned: dict[int, dict], max_complaint_rate: float, max_bounce_rate: float
) -> Watch:
    """A pruned edition as the desk saw it once its send finished: its kept counts (digest.delivery.kept),
    nobody pending, no rate, the brake judged on its kept sent, complaint and bounce counts."""
    whole = pruned[kept.WHOLE]
    ids = dict(enumerate(variant_keys(connection, edition_id), start=1))
    by_variant: dict[int | None, Tally] = {
        ids.get(v): Tally(dict(f.get("states", {}))) for v, f in pruned.items() if v != kept.WHOLE
    }
    if whole.get("no_variant"):
        by_variant[None] = Tally(dict(whole["no_variant"]))
    by_zone = {zone or None: Tally(dict(counts)) for zone, counts in whole.get("zones", {}).items()}
    health = SendHealth(*whole["health"])
    return Watch(
        dict(whole["readers"]), by_variant, by_zone, 0, 0.0, judge(health, max_complaint_rate, max_bounce_rate)
    )


def kept_counts(connection: Connection, edition_id: int, number: int) -> dict:
    """What `_kept_watch` reads back, from the ledger: the counts per variant number, per zone, for the
    rows without a variant, and what the brake judges."""
    seen = watch(connection, edition_id, number, max_complaint_rate=1.0, max_bounce_rate=1.0)
    numbers = {variant: n for n, variant in enumerate(variant_keys(connection, edition_id), start=1)}
    by_number = {numbers[v]: t.counts for v, t in seen.by_variant.items() if v is not None and v in numbers}
    zones = {zone or "": t.counts for zone, t in seen.by_zone.items()}
    none = seen.by_variant[None].counts if None in seen.by_variant else {}
    health = [sent_count(connection, edition_id), *feedback_counts(connection, number)]
    return {"states": by_number, "zones": zones, "no_variant": none, "health": health}


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
