"""What a send reports: progress after every batch, a summary at the end, and each edition's ledger counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from digest.content.models import Comparison
from digest.delivery import kept as kept_figures
from digest.delivery.ledger import DELIVERY_STATES, Delivery, in_ledger, state_counts, variant_counts
from digest.delivery.states import HALTED, DeliveryState, SendOutcome
from digest.delivery.windows import Window, window_of
from digest.editions.models import Edition
from digest.editions.service import edition_items, get_edition, offered, variant_keys
from digest.editions.variants import UNMATCHED, UNREADABLE, Offered, group, ids_of
from digest.settings import Settings
from digest.weeks import send_day_in
from schedules import WeeklySchedule
from subscribers import audience, cadence


@dataclass(frozen=True)
class Progress:
    """After each batch: what this run has done so far."""

    sent: int
    failed: int
    uncertain: int
    skipped: int
    total: int | None  # readers this run expects to handle, when known
    elapsed: float  # seconds since the run began

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.uncertain + self.skipped

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class VariantLine:
    """One variant of an edition: the comparisons it carries and the readers it went (or would go) to."""

    variant: int  # 1, 2, 3 ... within the edition
    comparisons: tuple[str, ...]  # slugs, in the edition's order
    readers: int
    loop: str = ""  # the verdict loop it carries: '; votes on 2 of the last edition; 1 changed'

    def describe(self) -> str:
        plural = "comparison" if len(self.comparisons) == 1 else "comparisons"
        return (
            f"  variant {self.variant:<3} {self.readers:>9,} {'reader ' if self.readers == 1 else 'readers'}  "
            f"{len(self.comparisons)} {plural}: "
            f"{', '.join(self.comparisons)}{self.loop}"
        )


def _loop(key: str) -> str:
    """What a variant key says of the verdict loop (digest.delivery.letters): '' for none."""
    parts = {part[:1]: len(ids_of(part[1:])) if part[:1] != "w" else 1 for part in key.split("|")[1:]}
    said = []
    if parts.get("v"):
        said.append(f"votes on {parts['v']} of the last edition")
    if parts.get("c"):
        said.append(f"{parts['c']} changed since read")
    if "w" in parts:
        said.append("with earlier editions' comparisons (a fortnightly or monthly letter)")
    return "".join(f"; {words}" for words in said)


def _slugs(key: str, shown: Sequence[Offered]) -> tuple[str, ...]:
    wanted = set(ids_of(key))
    return tuple(c.slug for c in shown if c.id in wanted)


def send_day_for(settings: Settings, week: str) -> date:
    """The send day that carries `week`'s edition (what readers' cadences are counted against)."""
    return send_day_in(week, WeeklySchedule.named(settings.send_day, settings.send_time, settings.timezone).weekday)


def _due_split(connection: Connection, edition_id: int, day: date) -> tuple[list[tuple[str | None, int]], dict]:
    """(topics text, readers) of the fortnightly and monthly readers not yet mailed who are due on
    `day`, and {cadence: readers} of those who are not."""
    due: list[tuple[str | None, int]] = []
    skipped: dict[str, int] = {}
    for text, every, since, n in connection.execute(audience.cadence_counts(unless=in_ledger(edition_id))):
        if cadence.is_due(every, cadence.since_of(since), day):
            due.append((text, n))
        else:
            skipped[every] = skipped.get(every, 0) + n
    return due, skipped


def not_due(connection: Connection, edition_id: int, day: date) -> dict[str, int]:
    """{cadence: readers} of the active readers not mailed this edition whose cadence skips `day`
    (no mail and no ledger row: never counted as an error)."""
    return _due_split(connection, edition_id, day)[1]


def _by_cadence(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[name]:,} {name}" for name in cadence.ALL if counts.get(name))


def describe_not_due(counts: dict[str, int]) -> str:
    """'120 readers not due this send day (80 fortnightly, 40 monthly)', or '' for none."""
    total = sum(counts.values())
    if not total:
        return ""
    return f"{total:,} {'reader' if total == 1 else 'readers'} not due this send day ({_by_cadence(counts)})"


def describe_gathered(counts: dict[str, int]) -> str:
    """'150 readers get a letter gathering several editions (100 fortnightly, 50 monthly)', or ''."""
    total = sum(counts.values())
    if not total:
        return ""
    return (
        f"{total:,} {'reader gets' if total == 1 else 'readers get'} a letter gathering several editions "
        f"({_by_cadence(counts)})"
    )


def describe_split(weekly: int, gathered: dict[str, int]) -> str:
    """'1,000 get this week's letter, 150 a letter gathering several editions (100 fortnightly, 50
    monthly)', or '' when nobody gets a gathered letter."""
    total = sum(gathered.values())
    if not total:
        return ""
    return (
        f"{weekly:,} {'gets' if weekly == 1 else 'get'} this week's letter, {total:,} a letter gathering "
        f"several editions ({_by_cadence(gathered)})"
    )


@dataclass(frozen=True)
class Planned:
    """Who a send would mail now, per the cadence rules (subscribers.cadence): the readers whose letter is
    this edition alone (every weekly reader, and a fortnightly or monthly one whose window holds no
    earlier edition), by variant; those whose letter gathers several editions; those not due this send
    day; and those whose topics match none of their letter's comparisons."""

    variants: tuple[VariantLine, ...]  # this week's letter, by variant (most readers first)
    unmatched: int
    gathered: dict[str, int]  # {cadence: readers}
    not_due: dict[str, int]  # {cadence: readers}

    @property
    def weekly(self) -> int:
        return sum(line.readers for line in self.variants)


def plan_letters(connection: Connection, edition_id: int, shown: Sequence[Offered], day: date) -> Planned:
    """The readers not yet mailed edition `edition_id` (which offers `shown`, sent on `day`), split as
    its send will mail them (see Planned): one pass over the readers, grouped by topics and cadence."""
    counts = connection.execute(audience.topic_counts(unless=in_ledger(edition_id), weekly_only=True)).all()
    gathered: dict[str, int] = {}
    skipped: dict[str, int] = {}
    unmatched = 0
    windows: dict[date, Window | None] = {}
    with Session(bind=connection) as session:  # the windows read the earlier editions on this connection
        for text, every, since, n in connection.execute(audience.cadence_counts(unless=in_ledger(edition_id))):
            start = cadence.window_start(every, cadence.since_of(since), day)
            if start is None:
                skipped[every] = skipped.get(every, 0) + n
                continue
            if start not in windows:
                windows[start] = window_of(session, start, day, shown)
            window = windows[start]
            if window is None:  # the window holds this edition alone: this week's letter
                counts.append((text, n))
            elif window.chooser.choose(text) is None:
                unmatched += n
            else:
                gathered[every] = gathered.get(every, 0) + n
    grouping = group(counts, shown)
    lines = tuple(VariantLine(n, tuple(v.slugs), v.readers) for n, v in enumerate(grouping.variants, start=1))
    return Planned(lines, grouping.unmatched + unmatched, gathered, skipped)


def planned_variants(
    connection: Connection, edition_id: int, shown: Sequence[Offered], day: date | None = None
) -> tuple[tuple[VariantLine, ...], int]:
    """Who a send would mail now, by variant (most readers first), and how many would get nothing.
    With the edition's send `day`, the variants are those of this week's letter (see `plan_letters`):
    readers whose letter gathers several editions, and readers not due, are left out."""
    if day is not None:
        planned = plan_letters(connection, edition_id, shown, day)
        return planned.variants, planned.unmatched
    grouping = group(connection.execute(audience.topic_counts(unless=in_ledger(edition_id))).all(), shown)
    lines = tuple(VariantLine(n, tuple(v.slugs), v.readers) for n, v in enumerate(grouping.variants, start=1))
    return lines, grouping.unmatched


def sent_variants(
    connection: Connection, edition_id: int, shown: Sequence[Offered]
) -> tuple[tuple[VariantLine, ...], int]:
    """The readers the ledger holds per variant (numbered in the order they were first sent), and how
    many were skipped because their topics match nothing. A pruned edition's are the ones kept."""
    pruned = kept_figures.kept_one(connection, edition_id)
    if pruned is not None:
        lines = tuple(
            VariantLine(v, tuple(f["line"]["comparisons"]), f["line"]["readers"], f["line"]["loop"])
            for v, f in sorted(pruned.items())
            if v != kept_figures.WHOLE
        )
        return lines, pruned[kept_figures.WHOLE]["unmatched"]
    keys = variant_keys(connection, edition_id)
    readers: dict[int, int] = {}
    unmatched = 0
    for variant, state, error, n in variant_counts(connection, edition_id):
        if variant is not None:
            readers[variant] = readers.get(variant, 0) + n
        elif state == DeliveryState.SKIPPED and error in (UNMATCHED, UNREADABLE):
            unmatched += n
    lines = tuple(
        VariantLine(number, _slugs(keys[variant], shown), readers.get(variant, 0), _loop(keys[variant]))
        for number, variant in enumerate(keys, start=1)
    )
    return lines, unmatched


@dataclass(frozen=True)
class SendSummary:
    """The ledger's totals for the edition after a run, and what the run itself did.

    status: a SendOutcome (digest.delivery.states says what each means); a waiting run's
    figures are the wave's own.
    """

    edition: int
    status: SendOutcome
    sent: int  # readers the provider accepted, over every run
    failed: int  # readers the provider refused
    uncertain: int  # readers whose request's outcome is unknown: not re-sent without --resend-uncertain
    skipped: int  # readers who left after the send began, or whose topics match none of its comparisons
    sent_now: int = 0  # of `sent`, by this run
    pending: int = 0  # active readers not yet mailed (for a dry run: who a send would mail)
    reason: str | None = None
    elapsed: float = 0.0
    unmatched: int = 0  # of `skipped` (for a dry run: of the readers left), those whose topics match nothing
    variants: tuple[VariantLine, ...] = ()  # who got (or would get) which variant
    frozen: str | None = None  # what freezing the edition did, when this run froze it
    not_due: int = 0  # active readers whose cadence skips this send day: no mail, no row, not an error

    def as_dict(self) -> dict:
        return asdict(self)

    def as_text(self) -> str:
        lines = [
            f"Edition {self.edition}: {self.status}.",
            f"  sent       {self.sent:>9,}"
            + (f"  ({self.sent_now:,} by this run)" if self.status != SendOutcome.DRY_RUN else ""),
            f"  failed     {self.failed:>9,}",
            f"  uncertain  {self.uncertain:>9,}",
            f"  skipped    {self.skipped:>9,}"
            + (
                f"  ({self.unmatched:,}: their topics match none of its comparisons)"
                if self.unmatched and self.status != SendOutcome.DRY_RUN
                else ""
            ),
        ]
        if self.pending or self.status in (SendOutcome.DRY_RUN, *HALTED):
            label = "would mail" if self.status == SendOutcome.DRY_RUN else "not yet"
            lines.append(f"  {label:<10} {self.pending:>9,}")
        if self.status == SendOutcome.DRY_RUN and self.unmatched:
            lines.append(f"  would skip {self.unmatched:>9,}  (their topics match none of its comparisons)")
        if self.not_due:
            lines.append(f"  not due    {self.not_due:>9,}  (fortnightly or monthly readers: not this send day)")
        if self.variants:
            lines.append(
                "Variants (the comparisons each group of readers "
                + ("would get):" if self.status == SendOutcome.DRY_RUN else "got):")
            )
            lines += [line.describe() for line in self.variants]
        if self.reason:
            lines.append(self.reason)
        if self.uncertain:
            lines.append(
                f"{self.uncertain:,} {'reader' if self.uncertain == 1 else 'readers'} may or may not have been "
                "mailed (the outcome of their request "
                "is unknown); they were not sent again. Check the provider's activity log, then "
                "`digest editions send --resend-uncertain` to mail them."
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class EditionRow:
    number: int
    week: str
    status: str
    sent_at: datetime | None
    counts: dict[str, int]  # ledger state -> readers


def edition_rows(engine: Engine, limit: int) -> list[EditionRow]:
    """The newest `limit` editions with their ledger counts, newest first (two queries in all)."""
    edition, delivery = Edition.__table__, Delivery.__table__
    with engine.connect() as connection:
        editions = connection.execute(
            sa.select(edition.c.id, edition.c.number, edition.c.week, edition.c.status, edition.c.sent_at)
            .order_by(edition.c.number.desc())
            .limit(limit)
        ).all()
        counts: dict[int, dict[str, int]] = {row.id: dict.fromkeys(DELIVERY_STATES, 0) for row in editions}
        if editions:
            for edition_id, state, n in connection.execute(
                sa.select(delivery.c.edition_id, delivery.c.state, sa.func.count())
                .where(delivery.c.edition_id.in_(list(counts)))
                .group_by(delivery.c.edition_id, delivery.c.state)
            ):
                counts[edition_id][state] = n
            for edition_id, figures in kept_figures.kept(connection, list(counts)).items():
                counts[edition_id] = dict(figures[kept_figures.WHOLE]["readers"])
    return [EditionRow(row.number, row.week, row.status, row.sent_at, counts[row.id]) for row in editions]


def describe_edition(session: Session, number: int, *, readers: int = 0, settings: Settings | None = None) -> dict:
    """One edition as plain values: what it carries, in order, what is left out, who got it, and in
    which variant.

    `readers` > 0 adds up to that many readers from its ledger (address, state, when), in ledger order
    (none for a pruned edition: its ledger rows are gone, its figures kept; `pruned_at` says when).
    With `settings`, `not_due` counts the readers (by cadence) not mailed it because their cadence
    skips its send day.
    """
    edition = get_edition(session, number)
    items = edition_items(session, edition, included_only=False)
    found = {
        row.id: row
        for row in session.execute(
            sa.select(Comparison.id, Comparison.slug, Comparison.title).where(
                Comparison.id.in_([item.comparison_id for item in items])
            )
        ).all()
    }
    pruned = kept_figures.kept_one(session.connection(), edition.id)
    counts = dict(pruned[kept_figures.WHOLE]["readers"]) if pruned else state_counts(session.connection(), edition.id)
    lines, unmatched = sent_variants(session.connection(), edition.id, offered(session, edition))
    info = {
        "number": edition.number,
        "week": edition.week,
        "status": edition.status,
        "subject": edition.subject,
        "intro": edition.intro,
        "built_at": edition.built_at.isoformat(),
        "sent_at": edition.sent_at.isoformat() if edition.sent_at else None,
        "comparisons": [
            {
                "position": item.position,
                "slug": found[item.comparison_id].slug,
                "title": found[item.comparison_id].title,
                "included": item.included,
            }
            for item in items
            if item.comparison_id in found
        ],
        "readers": counts,
        "frozen_at": edition.frozen_at.isoformat() if edition.frozen_at else None,
        "variants": [asdict(line) for line in lines],
        "unmatched": unmatched,
        "not_due": not_due(session.connection(), edition.id, send_day_for(settings, edition.week))
        if settings is not None and not pruned
        else {},
        "pruned_at": pruned[kept_figures.WHOLE]["pruned_at"] if pruned else None,
    }
    if readers:
        info["ledger"] = ledger_readers(session, edition.id, readers)
    return info


def ledger_readers(session: Session, edition_id: int, limit: int) -> list[dict]:
    """Who an edition went to: up to `limit` ledger rows with the reader's address, in ledger order."""
    delivery, reader = Delivery.__table__, audience.readers
    rows = session.execute(
        sa.select(reader.c.email, delivery.c.state, delivery.c.finished_at, delivery.c.error)
        .join(reader, reader.c.id == delivery.c.subscriber_id)
        .where(delivery.c.edition_id == edition_id)
        .order_by(delivery.c.id)
        .limit(limit)
    ).all()
    return [
        {"email": email, "state": state, "at": at.isoformat() if at else None, "error": error}
        for email, state, at, error in rows
    ]
