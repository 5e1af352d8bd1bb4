"""A gathered letter's window: the editions a fortnightly or monthly reader's letter carries.

A reader's cadence (subscribers.cadence) gives the send day after which their letter begins; the
window holds the editions of the send days after it that went out (froze), this one first. When it
holds no earlier edition, the letter is this week's alone (`window_of` says None): a weekly letter.
The send (digest.delivery.letters) and the plan of a send (digest.delivery.summary) read windows
here, so what the desk says a reader will get is what the send gives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from digest.editions.models import Edition
from digest.editions.service import offered
from digest.editions.variants import Chooser, Offered, key_of
from digest.weeks import week_for_day
from subscribers import cadence as cadences


@dataclass(frozen=True)
class Window:
    """A letter's window that holds earlier editions: its first send day (excluded), the comparisons
    of its editions (this one's first, in the editor's order, then each earlier one's, newest first),
    and what its letters say of it."""

    start: date
    chooser: Chooser
    everything: str  # the key of every comparison in it
    editions: int

    @property
    def period(self) -> str:
        return f"since {self.start:%A} {self.start.day} {self.start:%B}"

    @property
    def opening(self) -> str:
        return (
            f"This letter gathers the comparisons of {self.editions} weekly editions, "
            f"{self.period}; your cadence is set on your preferences page."
        )


def window_of(session: Session, start: date, day: date, current: Sequence[Offered]) -> Window | None:
    """The window (start, day] of the send day `day`, whose edition offers `current`: the editions of
    its send days that went out (frozen), this one's first; None when it holds no earlier one."""
    weeks = [week_for_day(sent) for sent in cadences.send_days_in(start, day)[1:]]
    if not weeks:
        return None
    editions = {
        e.week: e
        for e in session.exec(select(Edition).where(Edition.week.in_(weeks), Edition.frozen_at.is_not(None))).all()
    }
    earlier = [offered(session, editions[week]) for week in weeks if week in editions]
    if not earlier:
        return None
    seen = {c.id for c in current}
    comparisons = list(current)
    for listed in earlier:
        for c in listed:
            if c.id not in seen:
                seen.add(c.id)
                comparisons.append(c)
    return Window(start, Chooser(comparisons), key_of(comparisons), 1 + len(earlier))
