"""Edition stats and subscriber growth: pure figures first, then the queries that feed them.

Per edition, every count is of readers, not events (a reader who opens five
times is one open): sent comes from the ledger, the rest from SendGrid's
events tied to the edition by their custom args. Rates:

    delivered / sent       delivery rate
    opens / delivered      open rate      (unique opens)
    clicks / delivered     click rate     (unique clicks)
    bounces / sent         bounce rate    (hard bounces; SendGrid's "blocked" are not counted)
    complaints / sent      complaint rate (spam reports; the figure DIGEST_MAX_COMPLAINT_RATE limits)
    unsubscribes / sent    unsubscribe rate (unsubscribe and group_unsubscribe events)

Growth is per ISO week on the newsletter's calendar: readers who confirmed,
readers who left (unsubscribed, bounced or complained), and the active total.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from digest.content.models import Comparison
from digest.delivery.ledger import Delivery
from digest.editions.models import Edition
from digest.editions.service import get_edition, variant_keys
from digest.editions.variants import ids_of
from digest.events.models import Event
from digest.weeks import week_bounds, week_of
from subscribers import audience

COUNTS = ("sent", "delivered", "opens", "clicks", "bounces", "complaints", "unsubscribes")
RATES = ("delivery_rate", "open_rate", "click_rate", "bounce_rate", "complaint_rate", "unsubscribe_rate")
# The event kinds counted, as stats names them.
_KINDS = {"delivered": "delivered", "open": "opens", "click": "clicks", "bounce": "bounces",
          "spamreport": "complaints", "unsubscribe": "unsubscribes"}


# --- the pure core ---------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class EditionStats:
    number: int
    week: str
    status: str
    sent: int = 0
    delivered: int = 0
    opens: int = 0
    clicks: int = 0
    bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0

    @property
    def rates(self) -> dict[str, float | None]:
        """Each rate as a fraction (0.25 = 25%); None when its base is zero."""
        return {
            "delivery_rate": _rate(self.delivered, self.sent),
            "open_rate": _rate(self.opens, self.delivered),
            "click_rate": _rate(self.clicks, self.delivered),
            "bounce_rate": _rate(self.bounces, self.sent),
            "complaint_rate": _rate(self.complaints, self.sent),
            "unsubscribe_rate": _rate(self.unsubscribes, self.sent),
        }

    def as_dict(self) -> dict:
        return {**asdict(self), **self.rates}


def edition_stats(number: int, week: str, status: str, sent: int, readers_by_kind: dict[str, int]) -> EditionStats:
    """One edition's figures from its sent count and the readers per event kind (SendGrid's names)."""
    counts = {name: readers_by_kind.get(kind, 0) for kind, name in _KINDS.items()}
    return EditionStats(number=number, week=week, status=status, sent=sent, **counts)


@dataclass(frozen=True)
class WeekGrowth:
    week: str
    joined: int  # readers who confirmed that week
    left: int  # readers who unsubscribed, bounced or complained that week
    total: int  # active readers at the end of the week

    @property
    def net(self) -> int:
        return self.joined - self.left

    def as_dict(self) -> dict:
        return {**asdict(self), "net": self.net}


def weekly_growth(readers: Iterable[tuple[datetime | None, datetime | None]], zone: ZoneInfo,
                  until: datetime | None = None) -> list[WeekGrowth]:
    """(confirmed at, left at) per reader -> every week from the first confirmation on, gaps included."""
    joined: dict[str, int] = {}
    left: dict[str, int] = {}
    moments: list[datetime] = []
    for confirmed_at, left_at in readers:
        if confirmed_at is None:
            continue  # never confirmed: never a reader
        week = week_of(confirmed_at, zone)
        joined[week] = joined.get(week, 0) + 1
        moments.append(confirmed_at)
        if left_at is not None:
            week = week_of(left_at, zone)
            left[week] = left.get(week, 0) + 1
            moments.append(left_at)
    if not moments:
        return []
    last = week_of(max([*moments, until] if until else moments), zone)
    week, out, total = week_of(min(moments), zone), [], 0
    while True:
        total += joined.get(week, 0) - left.get(week, 0)
        out.append(WeekGrowth(week, joined.get(week, 0), left.get(week, 0), total))
        if week == last:
            return out
        week = week_of(week_bounds(week, zone)[1] + timedelta(hours=12), zone)


@dataclass(frozen=True)
class Report:
    editions: tuple[EditionStats, ...]
    growth: tuple[WeekGrowth, ...]

    def as_dict(self) -> dict:
        return {"editions": [e.as_dict() for e in self.editions], "growth": [g.as_dict() for g in self.growth]}


def percent(rate: float | None) -> str:
    """0.2534 -> '25.3%'; None -> '—'."""
    if rate is None:
        return "—"
    return f"{rate * 100:.1f}".rstrip("0").rstrip(".") + "%"


# --- reading the store -----------------------------------------------------------------------


def _readers_by_kind(session: Session, numbers: Sequence[int]) -> dict[int, dict[str, int]]:
    event = Event.__table__
    kind = sa.case(
        (sa.and_(event.c.event == "bounce", event.c.bounce_type == "blocked"), "blocked"),
        (event.c.event == "group_unsubscribe", "unsubscribe"),
        else_=event.c.event,
    ).label("kind")
    query = (sa.select(event.c.edition_number, kind, sa.func.count(sa.distinct(event.c.email)))
             .where(event.c.edition_number.in_(numbers))
             .group_by(event.c.edition_number, kind))
    out: dict[int, dict[str, int]] = {n: {} for n in numbers}
    for number, name, readers in session.execute(query):
        out[number][name] = readers
    return out


def edition_figures(session: Session, number: int | None = None) -> list[EditionStats]:
    """Every edition that has gone out (or `number` alone), oldest first."""

    if number is not None:
        editions = [get_edition(session, number=number)]  # NotFound names the missing edition
    else:
        editions = list(session.execute(sa.select(Edition).where(Edition.status != "draft")
                                        .order_by(Edition.number)).scalars())
    if not editions:
        return []
    delivery = Delivery.__table__
    sent = dict(session.execute(sa.select(delivery.c.edition_id, sa.func.count())
                                .where(delivery.c.edition_id.in_([e.id for e in editions]),
                                       delivery.c.state == "sent")
                                .group_by(delivery.c.edition_id)).all())
    kinds = _readers_by_kind(session, [e.number for e in editions])
    return [edition_stats(e.number, e.week, e.status, sent.get(e.id, 0), kinds[e.number]) for e in editions]


@dataclass(frozen=True)
class VariantStats:
    """One variant of an edition (the comparisons it carried) with its figures, as EditionStats counts them."""

    variant: int  # 1, 2, 3 ... in the order the variants were first sent
    comparisons: tuple[str, ...]
    figures: EditionStats

    def as_dict(self) -> dict:
        return {"variant": self.variant, "comparisons": list(self.comparisons), **self.figures.as_dict()}


def variant_figures(session: Session, number: int) -> list[VariantStats]:
    """Edition `number` split by variant: sent from the ledger (which records each reader's variant), the
    rest from the events of the readers the ledger put in each variant."""
    edition = get_edition(session, number=number)
    delivery, event = Delivery.__table__, Event.__table__
    keys = variant_keys(session.connection(), edition.id)
    sent = dict(session.execute(sa.select(delivery.c.variant_id, sa.func.count())
                                .where(delivery.c.edition_id == edition.id, delivery.c.state == "sent")
                                .group_by(delivery.c.variant_id)).all())
    kind = sa.case((sa.and_(event.c.event == "bounce", event.c.bounce_type == "blocked"), "blocked"),
                   (event.c.event == "group_unsubscribe", "unsubscribe"), else_=event.c.event)
    per_variant: dict[int, dict[str, int]] = {variant: {} for variant in keys}
    rows = session.execute(
        sa.select(delivery.c.variant_id, kind, sa.func.count(sa.distinct(event.c.email)))
        .join(delivery, sa.and_(delivery.c.subscriber_id == event.c.reader_id, delivery.c.edition_id == edition.id))
        .where(event.c.edition_number == number, delivery.c.variant_id.is_not(None))
        .group_by(delivery.c.variant_id, kind))
    for variant, name, readers in rows:
        per_variant[variant][name] = readers
    titles = dict(session.execute(sa.select(Comparison.id, Comparison.slug)).all())
    return [VariantStats(position, tuple(titles.get(i, "?") for i in ids_of(key)),
                         edition_stats(number, edition.week, edition.status, sent.get(variant, 0),
                                       per_variant[variant]))
            for position, (variant, key) in enumerate(keys.items(), start=1)]


def growth_figures(session: Session, zone: ZoneInfo, until: datetime | None = None) -> list[WeekGrowth]:
    rows = session.execute(audience.membership_dates()).all()
    return weekly_growth(rows, zone, until)


def load_report(session: Session, zone: ZoneInfo, number: int | None = None,
                until: datetime | None = None) -> Report:
    return Report(tuple(edition_figures(session, number)), tuple(growth_figures(session, zone, until)))
