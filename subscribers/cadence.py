"""A reader's cadence: how often they get a letter, and which send days' editions it carries (pure).

    weekly       every send day: that week's edition (the default)
    fortnightly  every second send day, counted from the first send day on or after the day they
                 chose it (`cadence_since`)
    monthly      the first send day of each month (a send day whose date is the 1st to the 7th)

A letter of a send day `day` carries the comparisons of the editions of the send days in its
window, (start, day]. `start` is the reader's previous due send day, one cadence back, but never
before the send day preceding the one their cadence counts from: that edition was theirs under
their earlier cadence, or came before they joined. So a weekly reader's window is always that
week's edition; a monthly reader's holds the four or five editions since the last first send day;
a reader's first letter after joining or choosing holds the editions since then, at most one
cadence back.

Everything here is a function of (cadence, since, send day): no ledger read. Readers with equal
windows and topics share one letter, rendered once. Only this library names cadences; the
application reads them from here.
"""

from __future__ import annotations

from datetime import date, timedelta

WEEKLY = "weekly"
FORTNIGHTLY = "fortnightly"
MONTHLY = "monthly"

ALL = (WEEKLY, FORTNIGHTLY, MONTHLY)
DEFAULT = WEEKLY
LABELS = {WEEKLY: "Weekly", FORTNIGHTLY: "Every two weeks", MONTHLY: "Monthly (first send day of the month)"}

WEEK = timedelta(days=7)


SINCE_UNKNOWN = date(2000, 1, 3)  # a reader row from before cadences (a weekly reader's day is never read)


def since_of(value: date | str | None) -> date:
    """A cadence's day as a driver returned it (SQLite: ISO text; None: a row from before cadences)."""
    if value is None:
        return SINCE_UNKNOWN
    return date.fromisoformat(value) if isinstance(value, str) else value


def parse(word: str | None) -> str:
    """A cadence from what a form, a JSON body or an import gave (empty: the default); ValueError
    naming the cadences when it is none of them."""
    key = (word or "").strip().lower()
    if not key:
        return DEFAULT
    if key in ALL:
        return key
    raise ValueError(f"{word.strip()[:40]!r} is not a cadence (choose {', '.join(ALL)})")


def anchor(since: date, day: date) -> date:
    """The first send day on or after `since`; `day` is any send day (they share a weekday)."""
    return since + timedelta(days=(day - since).days % 7)


def is_first_of_month(day: date) -> bool:
    return day.day <= 7


def is_due(cadence: str, since: date, day: date) -> bool:
    """Whether a reader with `cadence`, counted from `since`, gets a letter on the send day `day`."""
    if cadence == FORTNIGHTLY:
        first = anchor(since, day)
        return day >= first and (day - first).days % 14 == 0
    if cadence == MONTHLY:
        return is_first_of_month(day)
    return True  # weekly, and any word this version does not know: never lose a reader's mail


def one_back(cadence: str, day: date) -> date:
    """The due send day one cadence before `day` (a due send day)."""
    if cadence == FORTNIGHTLY:
        return day - 2 * WEEK
    if cadence == MONTHLY:
        back = day - 4 * WEEK
        return back if is_first_of_month(back) and back.month != day.month else day - 5 * WEEK
    return day - WEEK


def window_start(cadence: str, since: date, day: date) -> date | None:
    """The send day after which the letter of `day` begins (its window is (start, day]), or None
    when the reader is not due that day."""
    if not is_due(cadence, since, day):
        return None
    if cadence not in (FORTNIGHTLY, MONTHLY):
        return day - WEEK
    return max(one_back(cadence, day), anchor(since, day) - WEEK)


def send_days_in(start: date, day: date) -> list[date]:
    """The send days of a window (start, day], newest first."""
    found, at = [], day
    while at > start:
        found.append(at)
        at -= WEEK
    return found


def next_due(cadence: str, since: date, day: date) -> date:
    """The first send day on or after `day` (a send day) when the reader is due."""
    while not is_due(cadence, since, day):
        day += WEEK
    return day
