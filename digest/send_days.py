"""The weekly send's calendar: which week a send day carries, in whose zone, and when a reader's
next edition comes.

Pure arithmetic over the settings (DIGEST_SEND_DAY, DIGEST_SEND_TIME, DIGEST_TIMEZONE) and
schedules' calendar (`WeeklySchedule`, `WaveSchedule`), plus one ledger read for "next edition".
Nothing here loads APScheduler or the send loop: the web app shows a reader's next edition with
it, the scheduler (digest.jobs) runs the waves with it.

A send day (say Monday 08:00) sends the edition of the last complete ISO week before it, on the
local calendar of the wave's zone.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import Engine

from digest.delivery import ledger
from digest.settings import Settings
from digest.weeks import parse_week, week_label
from schedules import WaveSchedule, WeeklySchedule
from subscribers import audience

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


def week_for_day(day: date) -> str:
    year, week, _ = (day - timedelta(days=7)).isocalendar()
    return week_label(year, week)


def describe_schedule(settings: Settings) -> str:
    return (
        f"{waves_of(settings).describe()} in each reader's own time zone "
        f"({settings.timezone.key} for readers who gave none)"
    )


def next_edition_for(
    engine: Engine, settings: Settings, reader_id: int, stored_zone: str | None, now: datetime
) -> datetime:
    """When a reader gets their next edition: the next send-day slot in their zone, or the one after when
    they already have that send day's edition (say, they moved to a zone whose wave is still to come)."""
    zone = zone_of(stored_zone, settings)
    schedule = waves_of(settings).in_zone(zone)
    slot = schedule.next_after(now)
    with engine.connect() as connection:
        if ledger.has_edition_of_week(connection, reader_id, week_for_slot(slot, settings, zone)):
            slot = schedule.next_after(slot)
    return slot


def describe_next_edition(moment: datetime, stored_zone: str | None, settings: Settings) -> str:
    """'Monday 7 December at 08:00, your time (Asia/Tokyo)', for the preferences page."""
    zone = zone_of(stored_zone, settings)
    local = moment.astimezone(zone)
    when = f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"
    if stored_zone and zone.key == stored_zone:
        return f"{when}, your time ({zone.key})"
    return f"{when}, {zone.key} time (pick your time zone below to get it at {local:%H:%M} yours)"


def send_day_of(settings: Settings, week: str) -> date:
    """The send day that carries `week`: its weekday in the week after it (see week_for_day)."""
    year, number = parse_week(week)
    return date.fromisocalendar(year, number, 1) + timedelta(days=7 + schedule_of(settings).weekday)


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
