"""Waves: one weekly local time kept in many time zones, as pure functions of their arguments.

A WaveSchedule is a weekday and a local time ("monday", 08:00) with no zone of
its own. In each zone it is a WeeklySchedule (daylight-saving rules included:
08:00 stays 08:00 in that zone). Zones whose slot falls at the same moment
(Paris and Berlin, or Tokyo and Seoul) form one wave; a wave is run once, and
recorded under its moment like any weekly slot, so the catch-up rule applies to
each wave on its own.

The waves of one send day (a cycle) are that weekday's slots in every zone: for
Monday 08:00 they span from Sunday 18:00 UTC (Kiritimati, UTC+14) to Monday
20:00 UTC (UTC-12).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schedules.weekly import WEEKDAYS, WeeklySchedule, _aware


@dataclass(frozen=True)
class Wave:
    slot: datetime  # aware UTC: the moment the wave is due
    zones: tuple[str, ...]  # the zones whose local slot is that moment, by name

    @property
    def day(self) -> date:
        """The local date of the slot in its zones: the send day it belongs to."""
        return self.slot.astimezone(ZoneInfo(self.zones[0])).date()


def _zones(zones: Iterable[ZoneInfo | str]) -> list[ZoneInfo]:
    seen: dict[str, ZoneInfo] = {}
    for zone in zones:
        found = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        seen.setdefault(found.key, found)
    return list(seen.values())


def _grouped(slots: Iterable[tuple[datetime, ZoneInfo]]) -> list[Wave]:
    by_slot: dict[datetime, list[str]] = {}
    for slot, zone in slots:
        by_slot.setdefault(slot, []).append(zone.key)
    return [Wave(slot, tuple(sorted(names))) for slot, names in sorted(by_slot.items())]


@dataclass(frozen=True)
class WaveSchedule:
    """Once a week on `weekday` (0 = Monday) at the local time `at`, in every zone it is asked about."""

    weekday: int
    at: time

    @classmethod
    def of(cls, schedule: WeeklySchedule) -> WaveSchedule:
        return cls(schedule.weekday, schedule.at)

    @property
    def day_name(self) -> str:
        return WEEKDAYS[self.weekday]

    def in_zone(self, zone: ZoneInfo) -> WeeklySchedule:
        return WeeklySchedule(self.weekday, self.at, zone)

    def latest_waves(self, zones: Iterable[ZoneInfo | str], moment: datetime) -> list[Wave]:
        """Each zone's most recent slot at or before `moment`, grouped into waves, oldest first."""
        moment = _aware(moment)
        return _grouped((self.in_zone(z).latest_at_or_before(moment), z) for z in _zones(zones))

    def next_wave(self, zones: Iterable[ZoneInfo | str], moment: datetime) -> Wave | None:
        """The first wave strictly after `moment` (None when there are no zones)."""
        moment = _aware(moment)
        waves = _grouped((self.in_zone(z).next_after(moment), z) for z in _zones(zones))
        return waves[0] if waves else None

    def zones_at(self, zones: Iterable[ZoneInfo | str], slot: datetime) -> tuple[str, ...]:
        """The zones whose slot is exactly `slot` (the zones of that wave)."""
        slot = _aware(slot)
        return tuple(sorted(z.key for z in _zones(zones) if self.in_zone(z).latest_at_or_before(slot) == slot))

    def cycle(self, zones: Iterable[ZoneInfo | str], day: date) -> list[Wave]:
        """The waves of the send day `day` (which must be the schedule's weekday), oldest first."""
        return _grouped((self.in_zone(z).slot_on(day), z) for z in _zones(zones))

    def current_day(self, zones: Iterable[ZoneInfo | str], moment: datetime) -> date:
        """The send day whose waves have begun most recently at `moment` (or, before any, the next one)."""
        moment = _aware(moment)
        zones = _zones(zones) or [ZoneInfo("UTC")]
        day = moment.astimezone(UTC).date() + timedelta(days=2)
        day -= timedelta(days=(day.weekday() - self.weekday) % 7)
        if self.cycle(zones, day)[0].slot > moment:
            day -= timedelta(days=7)  # that one has not begun: the week before has
        return day

    def describe(self) -> str:
        return f"every {self.day_name} at {self.at.strftime('%H:%M')}"
