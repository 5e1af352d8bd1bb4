"""Edition stats and subscriber growth: pure figures first, then the queries that feed them.

Per edition, every count is of readers, not events (a reader who opens five
times is one open). Sent comes from the ledger; votes and digest's own
unsubscribes (the one-click POST, the page, an operator) from the store; the
rest from SendGrid's events, tied to the edition by their custom args:

    delivered / sent       delivery rate
    opens / delivered      open rate      (unique opens; unreliable: Apple Mail Privacy Protection
                                           opens every mail it receives, so opens overstate readers)
    clicks / delivered     click rate     (unique clicks: with votes, the engagement figures)
    votes / sent           vote rate      (readers who voted on one of the edition's comparisons)
    bounces / sent         bounce rate    (hard bounces; SendGrid's "blocked" are not counted)
    complaints / sent      complaint rate (spam reports; the figure DIGEST_MAX_COMPLAINT_RATE limits)
    unsubscribes / sent    unsubscribe rate (SendGrid's unsubscribe events and digest's own
                                             unsubscribes, each reader once; digest's own count
                                             for the last edition the reader got before leaving)

Only SendGrid reports deliveries, opens, clicks, bounces and complaints. The
outbox and SMTP hand mail over and hear nothing back, so for an edition they
sent those figures are None, "not reported by this backend", never a 0 that
looks like a failure. Which backend sent an edition is read from its ledger:
digest's own senders record the RFC 5322 Message-ID they wrote (an address
with an @), SendGrid its X-Message-Id (never one).

Growth is per ISO week on the newsletter's calendar: sign-ups, confirmation
clicks, readers who confirmed (by the link, or added as confirmed), readers who
left (unsubscribed, bounced, complained or suppressed), and the active total,
all replayed from the consent log (never from readers' current status), as are
digest's own unsubscribes per edition: a reader who comes back rewrites no
past figure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from digest.content.models import Comparison, Vote
from digest.delivery import kept as kept_figures
from digest.delivery.ledger import Delivery
from digest.delivery.states import DeliveryState
from digest.editions.models import Edition, EditionItem
from digest.editions.service import get_edition, variant_keys
from digest.editions.status import EditionStatus
from digest.editions.variants import ids_of
from digest.events.models import Event
from digest.weeks import week_bounds, week_of
from subscribers import audience, consent, status

COUNTS = (DeliveryState.SENT, "delivered", "opens", "clicks", "votes", "bounces", "complaints", "unsubscribes")
RATES = ("delivery_rate", "open_rate", "click_rate", "vote_rate", "bounce_rate", "complaint_rate", "unsubscribe_rate")
PROVIDER_ONLY = ("delivered", "opens", "clicks", "bounces", "complaints")  # what only SendGrid reports
RATE_OF = {
    "delivered": "delivery_rate",
    "opens": "open_rate",
    "clicks": "click_rate",
    "votes": "vote_rate",
    "bounces": "bounce_rate",
    "complaints": "complaint_rate",
    "unsubscribes": "unsubscribe_rate",
}
SENDGRID, OWN_SENDER = "sendgrid", "outbox or smtp"  # the backends an edition's ledger tells apart
NOT_REPORTED = "not reported by this backend"
OPENS_CAVEAT = (
    "Opens are unreliable: Apple Mail Privacy Protection opens every mail it receives. "
    "Clicks (may include link scanners) and votes are the engagement figures."
)
# The event kinds counted, as stats names them.
_KINDS = {
    "delivered": "delivered",
    "open": "opens",
    "click": "clicks",
    "bounce": "bounces",
    "spamreport": "complaints",
    "unsubscribe": "unsubscribes",
}


# --- the pure core ---------------------------------------------------------------------------


def _rate(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 4) if whole and part is not None else None


@dataclass(frozen=True)
class EditionStats:
    number: int
    week: str
    status: str
    sent: int = 0
    delivered: int | None = 0  # None: the backend that sent it does not report this
    opens: int | None = 0
    clicks: int | None = 0
    bounces: int | None = 0
    complaints: int | None = 0
    unsubscribes: int = 0
    votes: int = 0
    backend: str | None = SENDGRID  # SENDGRID, OWN_SENDER, or None while nothing was sent

    @property
    def reported(self) -> bool:
        """Whether deliveries, opens, clicks, bounces and complaints are known for this edition."""
        return self.delivered is not None

    @property
    def rates(self) -> dict[str, float | None]:
        """Each rate as a fraction (0.25 = 25%); None when its base is zero or the figure is not reported."""
        return {
            "delivery_rate": _rate(self.delivered, self.sent),
            "open_rate": _rate(self.opens, self.delivered),
            "click_rate": _rate(self.clicks, self.delivered),
            "vote_rate": _rate(self.votes, self.sent),
            "bounce_rate": _rate(self.bounces, self.sent),
            "complaint_rate": _rate(self.complaints, self.sent),
            "unsubscribe_rate": _rate(self.unsubscribes, self.sent),
        }

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            **self.rates,
            "reported": self.reported,
            "not_reported": [] if self.reported else list(PROVIDER_ONLY),
        }


def backend_of(own_rows: int, provider_rows: int, events: int) -> str | None:
    """Which kind of backend sent an edition, from its sent ledger rows and the events about it."""
    if provider_rows or events:
        return SENDGRID
    return OWN_SENDER if own_rows else None


def edition_stats(
    number: int,
    week: str,
    status: str,
    sent: int,
    readers_by_kind: dict[str, int],
    *,
    backend: str | None = SENDGRID,
    votes: int = 0,
    unsubscribes: int | None = None,
) -> EditionStats:
    """One edition's figures from its sent count and the readers per event kind (SendGrid's names).

    `unsubscribes`, when given, is the readers who left through any path (it
    already counts the provider's); otherwise the provider's unsubscribe events
    are all there is. Figures only SendGrid reports are None for another backend.
    """
    counts = {name: readers_by_kind.get(kind, 0) for kind, name in _KINDS.items()}
    if unsubscribes is not None:
        counts["unsubscribes"] = unsubscribes
    if backend == OWN_SENDER:
        counts.update(dict.fromkeys(PROVIDER_ONLY))
    return EditionStats(number=number, week=week, status=status, sent=sent, votes=votes, backend=backend, **counts)


@dataclass(frozen=True)
class WeekGrowth:
    week: str
    joined: int  # readers who confirmed that week (by the link, or added as confirmed)
    left: int  # readers who unsubscribed, bounced, complained or were suppressed that week
    total: int  # active readers at the end of the week
    signed_up: int = 0  # requests to join that week (the web form, the API, an operator)
    clicked: int = 0  # confirmation links clicked that week
    lapsed: int = 0  # readers stopped that week for want of an answer to a re-permission mail

    @property
    def net(self) -> int:
        return self.joined - self.left - self.lapsed

    def as_dict(self) -> dict:
        return {**asdict(self), "net": self.net}


def weekly_growth(
    readers: Iterable[tuple[datetime | None, datetime | None] | tuple[datetime | None, datetime | None, bool]],
    zone: ZoneInfo,
    until: datetime | None = None,
    signups: Iterable[tuple[datetime | None, datetime | None]] = (),
) -> list[WeekGrowth]:
    """Every week from the first sign-up or confirmation on, gaps included.

    `readers`: (confirmed at, left at[, lapsed]) per reader; `signups`: (asked to join at,
    clicked the confirmation link at) per reader. A lapsed reader is counted apart from those who left.
    """
    joined: dict[str, int] = defaultdict(int)
    left: dict[str, int] = defaultdict(int)
    lapsed: dict[str, int] = defaultdict(int)
    asked: dict[str, int] = defaultdict(int)
    clicked: dict[str, int] = defaultdict(int)
    moments: list[datetime] = []
    for confirmed_at, left_at, *rest in readers:
        if confirmed_at is None:
            continue  # never confirmed: never a reader
        joined[week_of(confirmed_at, zone)] += 1
        moments.append(confirmed_at)
        if left_at is not None:
            (lapsed if rest and rest[0] else left)[week_of(left_at, zone)] += 1
            moments.append(left_at)
    for asked_at, clicked_at in signups:
        for moment, tally in ((asked_at, asked), (clicked_at, clicked)):
            if moment is not None:
                tally[week_of(moment, zone)] += 1
                moments.append(moment)
    if not moments:
        return []
    last = week_of(max([*moments, until] if until else moments), zone)
    week, out, total = week_of(min(moments), zone), [], 0
    while True:
        total += joined[week] - left[week] - lapsed[week]
        out.append(WeekGrowth(week, joined[week], left[week], total, asked[week], clicked[week], lapsed[week]))
        if week == last:
            return out
        week = week_of(week_bounds(week, zone)[1] + timedelta(hours=12), zone)


def memberships(
    lines: Iterable[tuple[int, datetime, str, str]],
) -> tuple[list[tuple[datetime, datetime | None, bool]], list[tuple[datetime | None, datetime | None]]]:
    """Replay the consent log (reader id, at, kind, status after; each reader's lines in the order
    written) into what `weekly_growth` counts: (joined at, left at, lapsed) for every spell a reader
    was active (lapsed: it ended for want of an answer to a re-permission mail, not by a choice to
    leave), and (asked at, clicked at) for every request to join and confirmation click.

    A reader joins at a confirmation, or at an opt-in that made them active (added or imported as
    confirmed), and leaves at an opt-out while active. A confirmation at the very moment of the
    reader's opt-in is no click: it is an operator's add, as the log's first lines (migration
    0007) recorded readers already stored. Because the log is only ever appended to, a reader who
    leaves and comes back adds a spell and never changes an earlier one.
    """
    spells: list[tuple[datetime, datetime | None, bool]] = []
    signups: list[tuple[datetime | None, datetime | None]] = []
    reader, joined, asked_at = None, None, set()
    for reader_id, at, kind, after in lines:
        if reader_id != reader:
            if joined is not None:
                spells.append((joined, None, False))
            reader, joined, asked_at = reader_id, None, set()
        if kind == consent.OPT_IN:
            signups.append((at, None))
            asked_at.add(at)
        elif kind == consent.CONFIRMATION and at not in asked_at:
            signups.append((None, at))
        if kind == consent.OPT_OUT:
            if joined is not None:
                spells.append((joined, at, after == status.LAPSED))
                joined = None
        elif joined is None and (kind == consent.CONFIRMATION or after == status.ACTIVE):
            joined = at
    if joined is not None:
        spells.append((joined, None, False))
    return spells, signups


@dataclass(frozen=True)
class Report:
    editions: tuple[EditionStats, ...]
    growth: tuple[WeekGrowth, ...]

    def as_dict(self) -> dict:
        return {
            "editions": [e.as_dict() for e in self.editions],
            "growth": [g.as_dict() for g in self.growth],
            "notes": {
                "opens": OPENS_CAVEAT,
                "not_reported": f"null: {NOT_REPORTED} (outbox and SMTP hear "
                "nothing back; SendGrid reports through its "
                "Event Webhook)",
            },
        }


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
    query = (
        sa.select(event.c.edition_number, kind, sa.func.count(sa.distinct(event.c.email)))
        .where(event.c.edition_number.in_(numbers))
        .group_by(event.c.edition_number, kind)
    )
    out: dict[int, dict[str, int]] = {n: {} for n in numbers}
    for number, name, readers in session.execute(query):
        out[number][name] = readers
    return out


def _sent_rows(session: Session, edition_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """edition id -> (sent rows with a Message-ID digest wrote, sent rows with the provider's id)."""
    delivery = Delivery.__table__
    own = delivery.c.provider_message_id.like("%@%")
    rows = session.execute(
        sa.select(
            delivery.c.edition_id,
            sa.func.count().filter(own),
            sa.func.count().filter(sa.or_(~own, delivery.c.provider_message_id.is_(None))),
        )
        .where(delivery.c.edition_id.in_(edition_ids), delivery.c.state == DeliveryState.SENT)
        .group_by(delivery.c.edition_id)
    ).all()
    return {edition_id: (own_rows, provider_rows) for edition_id, own_rows, provider_rows in rows}


def _voters(session: Session, edition_ids: Sequence[int]) -> dict[int, int]:
    """edition id -> readers who voted on one of the comparisons it shows."""
    item, vote = EditionItem.__table__, Vote.__table__
    rows = session.execute(
        sa.select(item.c.edition_id, sa.func.count(sa.distinct(vote.c.subscriber_id)))
        .join(vote, vote.c.comparison_id == item.c.comparison_id)
        .where(item.c.edition_id.in_(edition_ids), item.c.included == sa.true())
        .group_by(item.c.edition_id)
    ).all()
    return dict(rows)


def _unsubscribers(session: Session, editions: Sequence[Edition]) -> dict[int, set[str]]:
    """edition number -> addresses that left after it, by any path, each reader once.

    SendGrid's unsubscribe events name their edition. digest's own unsubscribes
    (the one-click POST, the page, an operator) name none: each, as the consent
    log has it (so a reader who comes back later still counts), counts for the
    last edition the reader was sent before leaving.
    """
    out: dict[int, set[str]] = {e.number: set() for e in editions}
    event = Event.__table__
    for number, email in session.execute(
        sa.select(event.c.edition_number, event.c.email)
        .distinct()
        .where(event.c.edition_number.in_(list(out)), event.c.event.in_(("unsubscribe", "group_unsubscribe")))
    ):
        out[number].add(email)
    delivery, reader, log = Delivery.__table__, audience.readers, consent.log
    later = delivery.alias("later")
    last_before_leaving = ~sa.exists().where(
        later.c.subscriber_id == delivery.c.subscriber_id,
        later.c.state == DeliveryState.SENT,
        later.c.finished_at > delivery.c.finished_at,
        later.c.finished_at <= log.c.at,
    )
    number_of = {e.id: e.number for e in editions}
    for edition_id, email in session.execute(
        sa.select(delivery.c.edition_id, reader.c.email)
        .distinct()
        .join(reader, reader.c.id == delivery.c.subscriber_id)
        .join(log, log.c.subscriber_id == delivery.c.subscriber_id)
        .where(
            delivery.c.edition_id.in_(list(number_of)),
            delivery.c.state == DeliveryState.SENT,
            log.c.kind == consent.OPT_OUT,
            log.c.status == status.UNSUBSCRIBED,
            delivery.c.finished_at <= log.c.at,
            last_before_leaving,
        )
    ):
        out[number_of[edition_id]].add(email)
    return out


def edition_figures(session: Session, number: int | None = None) -> list[EditionStats]:
    """Every edition that has gone out (or `number` alone), oldest first."""

    if number is not None:
        editions = [get_edition(session, number=number)]  # NotFound names the missing edition
    else:
        editions = list(
            session.execute(
                sa.select(Edition).where(Edition.status != EditionStatus.DRAFT).order_by(Edition.number)
            ).scalars()
        )
    if not editions:
        return []
    pruned = kept_figures.kept(session.connection(), [e.id for e in editions])
    if pruned:
        fresh = iter(_counted(session, [e for e in editions if e.id not in pruned]))
        return [kept_stats(pruned[e.id][kept_figures.WHOLE], e) if e.id in pruned else next(fresh) for e in editions]
    return _counted(session, editions)


def kept_stats(figures: dict, edition: Edition) -> EditionStats:
    """A pruned edition's (or variant's) figures as kept (digest.delivery.kept), its status as it is."""
    names = EditionStats.__dataclass_fields__
    stats = {k: v for k, v in figures["stats"].items() if k in names}
    return EditionStats(**{**stats, "number": edition.number, "week": edition.week, "status": edition.status})


def _counted(session: Session, editions: Sequence[Edition]) -> list[EditionStats]:
    """Editions' figures counted from the ledger, the events and the store."""
    if not editions:
        return []
    ids = [e.id for e in editions]
    rows, voters = _sent_rows(session, ids), _voters(session, ids)
    kinds = _readers_by_kind(session, [e.number for e in editions])
    left = _unsubscribers(session, editions)
    out = []
    for e in editions:
        own_rows, provider_rows = rows.get(e.id, (0, 0))
        backend = backend_of(own_rows, provider_rows, sum(kinds[e.number].values()))
        out.append(
            edition_stats(
                e.number,
                e.week,
                e.status,
                own_rows + provider_rows,
                kinds[e.number],
                backend=backend,
                votes=voters.get(e.id, 0),
                unsubscribes=len(left[e.number]),
            )
        )
    return out


@dataclass(frozen=True)
class VariantStats:
    """One variant of an edition (the comparisons it carried) with its figures, as EditionStats counts them."""

    variant: int  # 1, 2, 3 ... in the order the variants were first sent
    comparisons: tuple[str, ...]
    figures: EditionStats

    def as_dict(self) -> dict:
        return {"variant": self.variant, "comparisons": list(self.comparisons), **self.figures.as_dict()}


def variant_figures(session: Session, number: int) -> list[VariantStats]:
    """Edition `number` split by variant, each figure counted as `edition_figures` counts it, among the
    readers the ledger put in that variant: sent from the ledger, votes and digest's own unsubscribes
    from the store, the rest from SendGrid's events. Which backend sent the edition is read as for the
    whole edition, so the outbox or SMTP's variants say "not reported", never 0."""
    edition = get_edition(session, number=number)
    pruned = kept_figures.kept_one(session.connection(), edition.id)
    if pruned is not None:
        return [
            VariantStats(v, tuple(f["line"]["comparisons"]), kept_stats(f, edition))
            for v, f in sorted(pruned.items())
            if v != kept_figures.WHOLE
        ]
    whole = edition_figures(session, number)[0]
    delivery, event, reader = Delivery.__table__, Event.__table__, audience.readers
    keys = variant_keys(session.connection(), edition.id)
    sent = dict(
        session.execute(
            sa.select(delivery.c.variant_id, sa.func.count())
            .where(delivery.c.edition_id == edition.id, delivery.c.state == DeliveryState.SENT)
            .group_by(delivery.c.variant_id)
        ).all()
    )
    kind = sa.case(
        (sa.and_(event.c.event == "bounce", event.c.bounce_type == "blocked"), "blocked"),
        (event.c.event == "group_unsubscribe", "unsubscribe"),
        else_=event.c.event,
    )
    per_variant: dict[int, dict[str, int]] = {variant: {} for variant in keys}
    rows = session.execute(
        sa.select(delivery.c.variant_id, kind, sa.func.count(sa.distinct(event.c.email)))
        .join(delivery, sa.and_(delivery.c.subscriber_id == event.c.reader_id, delivery.c.edition_id == edition.id))
        .where(event.c.edition_number == number, delivery.c.variant_id.is_not(None))
        .group_by(delivery.c.variant_id, kind)
    )
    for variant, name, readers in rows:
        per_variant[variant][name] = readers
    # Votes and unsubscribes: the edition's own, each reader in the variant the ledger gave them.
    item, vote = EditionItem.__table__, Vote.__table__
    votes = dict(
        session.execute(
            sa.select(delivery.c.variant_id, sa.func.count(sa.distinct(vote.c.subscriber_id)))
            .join(vote, vote.c.subscriber_id == delivery.c.subscriber_id)
            .join(item, sa.and_(item.c.comparison_id == vote.c.comparison_id, item.c.edition_id == edition.id))
            .where(
                delivery.c.edition_id == edition.id,
                delivery.c.state == DeliveryState.SENT,
                item.c.included == sa.true(),
            )
            .group_by(delivery.c.variant_id)
        ).all()
    )
    left = sorted(_unsubscribers(session, [edition])[number])
    unsubscribes: dict[int, int] = {}
    for start in range(0, len(left), 500):
        for variant, readers in session.execute(
            sa.select(delivery.c.variant_id, sa.func.count(sa.distinct(reader.c.id)))
            .join(reader, reader.c.id == delivery.c.subscriber_id)
            .where(delivery.c.edition_id == edition.id, reader.c.email.in_(left[start : start + 500]))
            .group_by(delivery.c.variant_id)
        ):
            unsubscribes[variant] = unsubscribes.get(variant, 0) + readers
    titles = dict(session.execute(sa.select(Comparison.id, Comparison.slug)).all())
    return [
        VariantStats(
            position,
            tuple(titles.get(i, "?") for i in ids_of(key)),
            edition_stats(
                number,
                edition.week,
                edition.status,
                sent.get(variant, 0),
                per_variant[variant],
                backend=whole.backend,
                votes=votes.get(variant, 0),
                unsubscribes=unsubscribes.get(variant, 0),
            ),
        )
        for position, (variant, key) in enumerate(keys.items(), start=1)
    ]


def growth_figures(session: Session, zone: ZoneInfo, until: datetime | None = None) -> list[WeekGrowth]:
    """Growth per week, from the consent log (every join and leave, in order), never from readers'
    current status: a past week's figures stay what they were when a reader leaves or comes back."""
    spells, signups = memberships(session.execute(consent.lines()).all())
    return weekly_growth(spells, zone, until, signups)


def load_report(session: Session, zone: ZoneInfo, number: int | None = None, until: datetime | None = None) -> Report:
    return Report(tuple(edition_figures(session, number)), tuple(growth_figures(session, zone, until)))
