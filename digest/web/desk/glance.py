"""The week at a glance: what /desk shows about the edition at hand, read through the library's own
functions (the same edition the CLI means: digest.editions.service.edition_at_hand).

Its comparisons in order (date, topics), what is left out and why (by an editor, dated in the future,
the backlog a build leaves), its state, its HTML size against the clip limit, its readers per variant
and per wave (local send times), its approvals, and what happens next.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from digest.delivery.summary import (
    VariantLine,
    describe_gathered,
    describe_not_due,
    describe_split,
    not_due,
    plan_letters,
    sent_variants,
)
from digest.editions.models import Edition
from digest.editions.service import (
    dated_after,
    edition_at_hand,
    edition_comparisons,
    get_edition,
    left_behind,
    left_out,
    offered,
)
from digest.editions.status import EditionStatus
from digest.editors.approvals import Approvals, approvals_of
from digest.editors.audit import edition_log
from digest.editors.models import AuditEntry
from digest.render import render_edition
from digest.render.clip import CLIP_LIMIT, size_figures
from digest.send_days import waves_of, zone_of
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.desk.figures import Figures
from digest.weeks import week_bounds
from digest.words import counted
from subscribers import audience


@dataclass(frozen=True)
class Shown:
    position: int
    slug: str
    title: str
    published: datetime
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Held:
    slug: str
    title: str
    published: datetime
    why: str
    back: bool = False  # an editor may bring it back (left out by an editor, or the backlog) into a draft


@dataclass(frozen=True)
class WaveRow:
    slot: datetime  # UTC
    local: str  # "Monday 08:00" in the wave's zones
    zones: tuple[str, ...]
    readers: int


@dataclass(frozen=True)
class Week:
    week: str
    edition: Edition | None
    comparisons: tuple[Shown, ...] = ()
    held: tuple[Held, ...] = ()
    state: str = ""
    html_bytes: int | None = None
    clip_limit: int = CLIP_LIMIT
    variants: tuple[VariantLine, ...] = ()
    unmatched: int = 0
    not_due: str = ""  # "120 readers not due this send day (80 fortnightly, 40 monthly)": not an error
    # a plan's "150 readers get a letter gathering several editions (100 fortnightly, 50 monthly)", and how many
    gathered: str = ""
    gathered_readers: int = 0
    split: str = ""  # "1,000 get this week's letter, 150 a letter gathering several editions (...)"
    waves: tuple[WaveRow, ...] = ()
    approvals: Approvals | None = None
    log: tuple[AuditEntry, ...] = field(default_factory=tuple)
    next: str = ""
    counted_at: datetime | None = None  # when its reader figures were counted (digest.web.desk.figures)

    @property
    def weekly(self) -> int:
        """Readers of this week's letter (for a plan; a sent edition's variants count every reader)."""
        return sum(line.readers for line in self.variants)

    @property
    def readers(self) -> int:
        return self.weekly + self.gathered_readers

    @property
    def size_share(self) -> int:
        return round(100 * (self.html_bytes or 0) / self.clip_limit)


def send_day(week: str, settings: Settings) -> date:
    """The send day that carries `week`'s edition: the schedule's weekday in the week after it."""
    monday = week_bounds(week, settings.timezone)[0].astimezone(settings.timezone).date()
    return monday + timedelta(days=7 + waves_of(settings).weekday)


def waves_for(engine: Engine, settings: Settings, week: str) -> tuple[WaveRow, ...]:
    """The waves of the send day carrying `week`'s edition, over the zones readers are in now."""
    with engine.connect() as connection:
        stored = audience.zones_in_use(connection)
        counts = connection.execute(audience.zone_counts()).all()
    zones = {settings.timezone.key: settings.timezone}
    for name in stored:
        zone = zone_of(name, settings)
        zones.setdefault(zone.key, zone)
    readers: dict[str, int] = {}
    for name, n in counts:
        key = zone_of(name, settings).key
        readers[key] = readers.get(key, 0) + n
    schedule = waves_of(settings)
    rows = []
    for wave in schedule.cycle(list(zones.values()), send_day(week, settings)):
        local = wave.slot.astimezone(zones[wave.zones[0]])
        rows.append(WaveRow(wave.slot, f"{local:%A %H:%M}", wave.zones, sum(readers.get(z, 0) for z in wave.zones)))
    return tuple(rows)


def _state(edition: Edition) -> str:
    if edition.status == EditionStatus.DRAFT and edition.frozen_at is not None:
        return f"frozen, its send began {edition.frozen_at:%Y-%m-%d %H:%M} UTC"
    if edition.status == EditionStatus.SENT and edition.sent_at is not None:
        return f"{edition.status} {edition.sent_at:%Y-%m-%d %H:%M} UTC"
    return str(edition.status)


def _next(week: Week, settings: Settings) -> str:
    edition = week.edition
    if edition is None:
        return f"Nothing yet: the edition of {week.week} is built at its first wave, or by an editor earlier."
    if edition.status == EditionStatus.SENT:
        return f"Nothing: edition {edition.number} has gone out."
    if edition.status == EditionStatus.PAUSED:
        return f"Edition {edition.number} is paused: an owner resumes it here or with `digest editions send`."
    if edition.status == EditionStatus.SENDING:
        return f"Edition {edition.number} is going out now: watch it on its send page."
    said = ""
    if week.waves:
        first, day = week.waves[0], send_day(week.week, settings)
        schedule = waves_of(settings)
        said = (
            f"Goes out {day:%A %d %B} at {schedule.at:%H:%M} in each reader's time zone, in "
            f"{counted(len(week.waves), 'wave')}, the first at {first.slot:%A %H:%M} UTC"
        )
    if week.approvals is not None and week.approvals.needed and not week.approvals.met:
        wanting = week.approvals.wanting()
        return f"{said}, once approved: {wanting}." if said else f"It waits for approval: {wanting}."
    return said + "."


def week_at_glance(
    engine: Engine,
    settings: Settings,
    number: int | None = None,
    now: datetime | None = None,
    figures: Figures | None = None,
) -> Week:
    """The edition at hand (or edition `number`), as /desk shows it; its costly reader counts through
    `figures` (default: counted now)."""
    figures = figures or Figures()
    with session_scope(engine) as session:
        if number is None:
            hand = edition_at_hand(session, settings, now)
            edition, week = hand.edition, hand.week
        else:
            edition = get_edition(session, number=number)
            week = edition.week
        if edition is None:
            return Week(week, None, waves=waves_for(engine, settings, week), next=_next(Week(week, None), settings))
        shown = edition_comparisons(session, edition)
        offer = offered(session, edition, shown)
        topics = {o.id: tuple(sorted(o.categories)) for o in offer}
        comparisons = tuple(
            Shown(i, c.slug, c.title, c.published_at, topics.get(c.id, ())) for i, c in enumerate(shown, start=1)
        )
        future = {c.id for c in dated_after(shown, now or utcnow())}
        held = [
            Held(
                c.slug, c.title, c.published_at, f"dated in the future: held until {c.published_at:%Y-%m-%d %H:%M} UTC"
            )
            for c in shown
            if c.id in future
        ]
        held += [
            Held(c.slug, c.title, c.published_at, "left out by an editor", True) for c in left_out(session, edition)
        ]
        if edition.status == EditionStatus.DRAFT and edition.frozen_at is None:
            held += [
                Held(
                    c.slug,
                    c.title,
                    c.published_at,
                    "backlog: dated before the previous edition's week, never sent",
                    True,
                )
                for c in left_behind(session, settings, week)
            ]
        html_bytes = None
        if shown:
            rendered = render_edition(session, edition, settings)
            html_bytes = size_figures(rendered.letter.html, click_tracking=settings.click_tracking)["html_bytes"]
        planned = edition.status == EditionStatus.DRAFT and edition.frozen_at is None
        approvals = approvals_of(session, settings, edition)
        log = tuple(edition_log(session, edition.number))

    day = send_day(week, settings)

    def count_variants():
        with engine.connect() as connection:
            if planned:  # per the cadence rules: this week's letter, gathered letters, not due
                plan = plan_letters(connection, edition.id, offer, day)
                return plan.variants, plan.unmatched, plan.not_due, plan.gathered
            return (*sent_variants(connection, edition.id, offer), not_due(connection, edition.id, day), {})

    key = (edition.id, planned, tuple(o.id for o in offer))
    (variants, unmatched, skips, gathered), counted_at = figures.get(("variants", *key), count_variants)
    waves, waves_at = figures.get(("waves", week), lambda: waves_for(engine, settings, week))
    result = Week(
        week,
        edition,
        comparisons,
        tuple(held),
        _state(edition),
        html_bytes,
        variants=variants,
        unmatched=unmatched,
        not_due=describe_not_due(skips),
        gathered=describe_gathered(gathered),
        gathered_readers=sum(gathered.values()),
        split=describe_split(sum(line.readers for line in variants), gathered),
        waves=waves,
        approvals=approvals,
        log=log,
        counted_at=min(counted_at, waves_at),
    )
    return replace(result, next=_next(result, settings))
