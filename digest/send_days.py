"""The weekly send's calendar: which week a send day carries, in whose zone, and when a reader's
next edition comes.

Pure arithmetic over the settings (DIGEST_SEND_DAY, DIGEST_SEND_TIME, DIGEST_TIMEZONE) and
schedules' calendar (`WeeklySchedule`, `WaveSchedule`), plus one ledger read for "next edition".
Nothing here loads APScheduler or the send loop: the web app shows a reader's next edition with
it, the scheduler (digest.jobs) runs the waves with it.

A send day (say Monday 08:00) sends the edition of the last complete ISO week before it, on the
local calendar of the wave's zone.

Late readers: a reader who confirms, comes back or moves to another zone after their zone's slot
of the send day, and has no ledger row for its edition, is owed it: the scheduler mails them at its
next beat (every minute), until the next send day's first wave (then the next edition is theirs).
A reader with a row for it is never mailed it again: the ledger decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import Engine
from sqlmodel import select

from digest.delivery import ledger
from digest.editions.models import Edition
from digest.editions.service import offered
from digest.editions.status import EditionStatus
from digest.editions.variants import variant_key
from digest.settings import Settings
from digest.store import session_scope
from digest.weeks import send_day_in, week_for_day
from schedules import WaveSchedule, WeeklySchedule
from subscribers import audience
from subscribers import cadence as cadences

log = logging.getLogger("digest.jobs")  # the scheduler's log, where these warnings always went


def schedule_of(settings: Settings) -> WeeklySchedule:
    """DIGEST_SEND_DAY at DIGEST_SEND_TIME in DIGEST_TIMEZONE (the zone of readers who gave none)."""
    return WeeklySchedule.named(settings.send_day, settings.send_time, settings.timezone)


def waves_of(settings: Settings) -> WaveSchedule:
    return WaveSchedule.of(schedule_of(settings))


@lru_cache(maxsize=1024)
def _known_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("a reader's time zone %r is unknown here; they get the edition at the newsletter's time", name)
        return None


def zone_of(stored: str | None, settings: Settings) -> ZoneInfo:
    """The zone a reader's edition follows: theirs, or the newsletter's when they gave none (or one
    this machine does not know: one reader's odd value must not stop a wave)."""
    return (_known_zone(stored) if stored else None) or settings.timezone


def week_for_slot(slot: datetime, settings: Settings, zone: ZoneInfo | None = None) -> str:
    """The ISO week a slot sends: the last complete one before the slot's own, on the local calendar of
    the slot's zone (default: the newsletter's)."""
    local_day = slot.astimezone(zone or settings.timezone).date()
    return week_for_day(local_day)


def describe_schedule(settings: Settings) -> str:
    return (
        f"{waves_of(settings).describe()} in each reader's own time zone "
        f"({settings.timezone.key} for readers who gave none)"
    )


LATE_READERS_EVERY = timedelta(minutes=1)  # how often the scheduler looks for late readers


@dataclass(frozen=True)
class SendDay:
    """The send day whose waves began most recently: its edition is owed to late readers until the
    next send day's first wave."""

    day: date
    week: str
    first: datetime  # its first wave
    next_first: datetime  # the next send day's first wave


def send_day_at(connection, settings: Settings, now: datetime) -> SendDay:
    waves = waves_of(settings)
    found = {settings.timezone.key: settings.timezone}
    for name in audience.zones_in_use(connection):
        zone = zone_of(name, settings)
        found.setdefault(zone.key, zone)
    zones = list(found.values())
    day = waves.current_day(zones, now)
    following = day + timedelta(days=7)
    return SendDay(day, week_for_day(day), waves.cycle(zones, day)[0].slot, waves.cycle(zones, following)[0].slot)


def slot_of(day: date, stored_zone: str | None, settings: Settings) -> datetime:
    """A reader's slot on the send day `day`: the send time there, in their zone."""
    return waves_of(settings).in_zone(zone_of(stored_zone, settings)).slot_on(day)


def _owed_edition(connection, week: str) -> tuple[int, int] | None:
    """(id, number) of the week's edition when its send has begun and goes on (frozen, not paused)."""
    table = Edition.__table__
    row = connection.execute(
        table.select()
        .with_only_columns(table.c.id, table.c.number, table.c.status, table.c.frozen_at)
        .where(table.c.week == week)
    ).first()
    if row is None or row.frozen_at is None or row.status not in (EditionStatus.SENDING, EditionStatus.SENT):
        return None
    return row.id, row.number


def is_late(slot: datetime, changed_at: datetime, now: datetime) -> bool:
    """Whether a reader whose slot is `slot` and who last changed at `changed_at` joined or moved
    after their wave (and it is now past)."""
    return slot <= now and changed_at >= slot


@dataclass(frozen=True)
class LateReaders:
    edition: int  # its number
    edition_id: int
    readers: tuple[int, ...]  # ids


def late_readers(engine: Engine, settings: Settings, now: datetime) -> LateReaders | None:
    """The readers owed the current send day's edition who joined or moved after their zone's slot
    (None when there are none, or no edition is going out)."""
    with engine.connect() as connection:
        day = send_day_at(connection, settings, now)
        owed = _owed_edition(connection, day.week)
        if owed is None:
            return None
        rows = connection.execute(audience.changed_between(day.first, now, unless=ledger.in_ledger(owed[0]))).all()
    late = tuple(
        reader
        for reader, zone, changed, cadence, since in rows
        if cadences.is_due(cadence, cadences.since_of(since), day.day)  # a reader not due is not late
        and is_late(slot_of(day.day, zone, settings), changed, now)
    )
    return LateReaders(owed[1], owed[0], late) if late else None


@dataclass(frozen=True)
class NextMail:
    at: datetime  # when it arrives (for a late reader: by then, at the latest)
    soon: bool  # a late reader's edition, at the scheduler's next beat
    week: str  # the week of the edition it carries
    after: datetime  # when the one after it arrives


def next_mail_for(
    engine: Engine,
    settings: Settings,
    reader_id: int,
    stored_zone: str | None,
    changed_at: datetime,
    now: datetime,
    cadence: str = cadences.DEFAULT,
    since: date | str | None = None,
) -> NextMail:
    """When a reader gets their next edition: their slot of the current send day if it is still to
    come and their cadence makes them due; within a beat or two of the scheduler if they joined or
    moved after it and the edition is going out (late readers); otherwise their slot of their next
    due send day. A reader who has had the send day's edition waits for their next due one."""
    since = cadences.since_of(since)
    with engine.connect() as connection:
        day = send_day_at(connection, settings, now)
        slot = slot_of(day.day, stored_zone, settings)
        following = cadences.next_due(cadence, since, day.day + timedelta(days=7))
        later = slot_of(following, stored_zone, settings)
        next_one = NextMail(
            later,
            False,
            week_for_day(following),
            slot_of(cadences.next_due(cadence, since, following + timedelta(days=7)), stored_zone, settings),
        )
        if not cadences.is_due(cadence, since, day.day):
            return next_one
        if ledger.has_edition_of_week(connection, reader_id, day.week):
            return next_one
        if slot > now:
            return NextMail(slot, False, day.week, later)
        if is_late(slot, changed_at, now) and _owed_edition(connection, day.week) is not None:
            beat = now.replace(second=0, microsecond=0) + 2 * LATE_READERS_EVERY
            return NextMail(beat, True, day.week, later)
    return next_one


def had_current_edition(engine: Engine, settings: Settings, reader_id: int, now: datetime) -> bool:
    """Whether the reader has a ledger row for the current send day's edition (a cadence chosen then
    counts from the next day: that edition closed their last window)."""
    with engine.connect() as connection:
        return ledger.has_edition_of_week(connection, reader_id, send_day_at(connection, settings, now).week)


@dataclass(frozen=True)
class NoMatch:
    """An edition whose comparisons match none of a reader's topics."""

    number: int
    week: str
    comparisons: int
    topics: tuple[str, ...]  # the topics its comparisons are about, sorted


def topics_miss(engine: Engine, week: str, topics: Sequence[str]) -> NoMatch | None:
    """The week's edition (built, or frozen) when a reader with `topics` would get none of its
    comparisons; None when it matches, carries every comparison to them (no topics) or is not built."""
    if not topics:
        return None
    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.week == week)).first()
        if edition is None:
            return None
        shown = offered(session, edition)
    if not shown or variant_key(topics, shown) is not None:
        return None
    about = sorted({category for c in shown for category in c.categories})
    return NoMatch(edition.number, week, len(shown), tuple(about))


def describe_next_mail(mail: NextMail, stored_zone: str | None, settings: Settings) -> str:
    """'Monday 7 December at 08:00, your time (Asia/Tokyo)', or for a late reader 'within a few
    minutes, by 19:07 your time (Asia/Tokyo): this week's edition, which you have not had yet'."""
    if not mail.soon:
        return describe_next_edition(mail.at, stored_zone, settings)
    zone = zone_of(stored_zone, settings)
    local = mail.at.astimezone(zone)
    whose = f"your time ({zone.key})" if stored_zone and zone.key == stored_zone else f"{zone.key} time"
    return f"within a few minutes, by {local:%H:%M} {whose}: this week's edition, which you have not had yet"


def describe_next_edition(moment: datetime, stored_zone: str | None, settings: Settings, *, hint: bool = True) -> str:
    """'Monday 7 December at 08:00, your time (Asia/Tokyo)', for the preferences page (`hint`: with
    a word on picking a zone, for a reader who gave none)."""
    zone = zone_of(stored_zone, settings)
    local = moment.astimezone(zone)
    when = f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"
    if stored_zone and zone.key == stored_zone:
        return f"{when}, your time ({zone.key})"
    if not hint:
        return f"{when}, {zone.key} time"
    return f"{when}, {zone.key} time (pick your time zone below to get it at {local:%H:%M} yours)"


def send_day_of(settings: Settings, week: str) -> date:
    """The send day that carries `week`: its weekday in the week after it (see week_for_day)."""
    return send_day_in(week, schedule_of(settings).weekday)


def first_wave(engine: Engine, settings: Settings, week: str) -> datetime:
    """When the edition of `week` begins to go out: the first wave of its send day, over the zones of the
    readers who receive editions and the newsletter's (what digest.jobs runs)."""
    with engine.connect() as connection:
        stored = audience.zones_in_use(connection)
    zones = {settings.timezone.key: settings.timezone}
    for name in stored:
        zone = zone_of(name, settings)
        zones.setdefault(zone.key, zone)
    return waves_of(settings).cycle(list(zones.values()), send_day_of(settings, week))[0].slot


def reader_schedule(settings: Settings, cadence: str = cadences.DEFAULT) -> str:
    """When a reader of `cadence` gets their letter, for the welcome mail: 'every Monday at 08:00 in
    your time zone', 'every second Monday ...', 'on the first Monday of each month ...'."""
    waves = waves_of(settings)
    day, at = waves.day_name.capitalize(), f"at {waves.at:%H:%M} in your time zone"
    return {
        cadences.WEEKLY: f"every {day} {at}",
        cadences.FORTNIGHTLY: f"every second {day} {at}",
        cadences.MONTHLY: f"on the first {day} of each month {at}",
    }[cadences.parse(cadence)]


def welcome_timing(engine: Engine, settings: Settings, now: Callable[[], datetime]):
    """For digest.delivery.welcomes: a reader -> (when their first edition arrives, in words; whether
    it goes out within minutes, carrying the welcome instead of a mail of its own)."""

    def timing(reader) -> tuple[str, bool]:
        mail = next_mail_for(
            engine,
            settings,
            reader.reader_id,
            reader.timezone,
            reader.changed_at,
            now(),
            reader.cadence,
            reader.cadence_since,
        )
        return describe_next_edition(mail.at, reader.timezone, settings, hint=False), mail.soon

    return timing
