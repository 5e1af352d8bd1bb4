"""ISO weeks in the newsletter's time zone: the unit an edition covers."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.errors import BadWeek
from digest.timeutil import as_utc, utcnow

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(text: str) -> tuple[int, int]:
    """'2026-W47' -> (2026, 47); anything else is a BadWeek naming the expected form."""
    match = _WEEK.match(text.strip())
    if not match:
        raise BadWeek(f"a week is written YYYY-Www, such as 2026-W47; got {text!r}")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise BadWeek(f"{year} has no ISO week {week}") from None
    return year, week


def week_label(year: int, week: int) -> str:
    return f"{year}-W{week:02d}"


def week_of(moment: datetime, zone: ZoneInfo) -> str:
    """The ISO week that `moment` falls in, on the newsletter's local calendar."""
    year, week, _ = as_utc(moment).astimezone(zone).isocalendar()
    return week_label(year, week)


def current_week(zone: ZoneInfo, now: datetime | None = None) -> str:
    return week_of(now or utcnow(), zone)


def week_bounds(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the week as aware UTC datetimes: local Monday 00:00 to the next Monday 00:00."""
    year, week = parse_week(text)
    monday = date.fromisocalendar(year, week, 1)
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    return as_utc(start), as_utc(end)


def week_for_day(day: date) -> str:
    """The week a send day on `day` sends: the last complete ISO week before the day's own."""
    year, week, _ = (day - timedelta(days=7)).isocalendar()
    return week_label(year, week)


def send_day_in(week: str, weekday: int) -> date:
    """The send day (on `weekday`, Monday 0) that carries `week`: that weekday of the week after it."""
    year, number = parse_week(week)
    return date.fromisocalendar(year, number, 1) + timedelta(days=7 + weekday)
