"""The pure core of editions: which comparisons a week carries, and in what order. No store in sight.

An edition for ISO week W holds every comparison published before the end of W
(on the newsletter's calendar) that no other edition carried, newest first; an
editor may move some to the front. So a comparison imported after its own week's
edition went out is carried over into the next one, never lost. The look back
starts at the week of the newest earlier edition (the first edition ever looks
at its own week only, so importing a site's history does not flood it).

A comparison dated before that look back (an import with an old date, after the
week it belongs to went out) but not before the first edition's week is the
backlog: no build picks it up, so `digest editions build` names it, and
`digest editions edit N --include SLUG` adds it to a draft.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from digest.errors import EditionError
from digest.settings import Settings
from digest.weeks import current_week, parse_week, week_label


class Dated(Protocol):
    id: int | None
    published_at: datetime


def select_for_week(comparisons: Iterable[Dated], carried: set[int], start: datetime, end: datetime) -> list:
    """The comparisons published in [start, end) that no other edition carried, newest first."""
    picked = [c for c in comparisons if start <= c.published_at < end and c.id not in carried]
    picked.sort(key=lambda c: (c.published_at, c.id or 0), reverse=True)
    return picked


def window_start(week_start: datetime, previous_week_start: datetime | None) -> datetime:
    """Where an edition's selection begins: the newest earlier edition's week, else its own."""
    if previous_week_start is None:
        return week_start
    return min(week_start, previous_week_start)


def backlog(comparisons: Iterable[Dated], carried: set[int], floor: datetime, start: datetime) -> list:
    """The comparisons published in [floor, start) that no edition carried, oldest first: dated before an
    edition's look back (`start`), after the first edition's week began (`floor`)."""
    left = [c for c in comparisons if floor <= c.published_at < start and c.id not in carried]
    left.sort(key=lambda c: (c.published_at, c.id or 0))
    return left


def carried_over(picked: Iterable[Dated], week_start: datetime) -> list:
    """Of the comparisons picked for a week, those published before it: carried over from earlier weeks."""
    return [c for c in picked if c.published_at < week_start]


def arrange(current: Sequence[str], order: Sequence[str]) -> list[str]:
    """`current` slugs with those named in `order` moved to the front, in that order.

    The rest keep their relative places, so an editor can name only the few to lead with.
    """
    seen: set[str] = set()
    for slug in order:
        if slug in seen:
            raise EditionError(f"--order names {slug!r} twice")
        if slug not in current:
            raise EditionError(
                f"--order names {slug!r}, which is not in this edition (it holds: {', '.join(current) or 'nothing'})"
            )
        seen.add(slug)
    return list(order) + [slug for slug in current if slug not in seen]


def shortfall_reason(count: int, week: str, min_items: int) -> str | None:
    """Why `count` new comparisons are not enough for an edition, or None if they are."""
    if count == 0:
        return f"no new comparisons in {week}"
    if count < min_items:
        plural = "comparison" if count == 1 else "comparisons"
        return f"only {count} new {plural} in {week}; DIGEST_MIN_ITEMS is {min_items}"
    return None


def normalize_week(week: str | None, settings: Settings, now: datetime | None = None) -> str:
    """The ISO week label asked for, or the current one on the newsletter's calendar."""
    if week is None:
        return current_week(settings.timezone, now)
    return week_label(*parse_week(week))
