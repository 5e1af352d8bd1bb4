"""What a send is about to do, said before it starts: the edition, its week, its comparisons, its readers.

The reader count is exact: readers who have not had the edition, less those whose
topics match none of its comparisons (they get no mail and are counted apart). For
an edition not frozen yet, the comparisons that would join it as the send begins
(imported since it was built) are named and counted in.

`digest editions send` prints the plan and, in a terminal, asks for a yes. A
comparison dated in the future holds the send back until its date unless the
caller says otherwise (`include_future`): `too_early` is the one check, used
by the plan and by the send itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from digest.content.models import Comparison
from digest.delivery.ledger import pending_count, state_counts
from digest.delivery.states import DeliveryState
from digest.delivery.summary import describe_not_due, describe_split, plan_letters, send_day_for
from digest.editions.service import (
    after_first_wave,
    dated_after,
    edition_comparisons,
    get_edition,
    late_comparisons,
    left_out,
    offered,
)
from digest.editions.status import EditionStatus
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.words import agreeing, counted


def too_early(number: int, comparisons: Sequence[Comparison], now: datetime) -> str | None:
    """Why edition `number` may not go out yet (a comparison dated after `now`), or None."""
    early = dated_after(comparisons, now)
    if not early:
        return None
    named = "; ".join(f"{c.slug} (dated {c.published_at:%Y-%m-%d %H:%M} UTC)" for c in early)
    first = early[0].slug
    return (
        f"edition {number} carries {'a comparison' if len(early) == 1 else 'comparisons'} dated in the "
        f"future: {named}. It is not sent before then: wait, leave it out "
        f"(digest editions edit {number} --exclude {first}) or pass --include-future"
    )


@dataclass(frozen=True)
class SendPlan:
    number: int
    week: str
    status: str
    comparisons: tuple[tuple[str, str], ...]  # (slug, title) in the edition's order
    left_out: tuple[str, ...]  # slugs
    readers: int  # who a send would mail now
    early: str | None  # why it may not go out yet, if it may not
    joining: tuple[tuple[str, str], ...] = ()  # (slug, title): imported since it was built, join as it freezes
    unmatched: int = 0  # readers not yet sent whose topics match none of its comparisons: no mail
    first_wave: datetime | None = None  # when the scheduled send's first wave leaves, when known
    carried: tuple[tuple[str, datetime], ...] = ()  # (slug, date): dated after the first wave, carried on
    not_due: dict[str, int] | None = None  # {cadence: readers} whose cadence skips its send day: no mail
    gathered: dict[str, int] | None = None  # {cadence: readers} of `readers` whose letter gathers several editions

    @property
    def weekly(self) -> int:
        """Of `readers`, those whose letter is this edition alone."""
        return self.readers - sum((self.gathered or {}).values())

    def as_text(self, backend: str, dry_run: bool = False) -> str:
        plural = "comparison" if len(self.comparisons) == 1 else "comparisons"
        lines = [f"Edition {self.number} for {self.week} ({self.status}), {len(self.comparisons)} {plural}:"]
        lines += [
            f"  {position}. {title}  [{slug}]" for position, (slug, title) in enumerate(self.comparisons, start=1)
        ]
        lines += [
            f"  {position}. {title}  [{slug}]  (imported since it was built; joins as the send begins)"
            for position, (slug, title) in enumerate(self.joining, start=len(self.comparisons) + 1)
        ]
        if self.left_out:
            lines.append(f"Left out: {', '.join(self.left_out)}")
        if self.carried and self.first_wave is not None:
            named = ", ".join(f"{slug} (dated {when:%a %d %b %H:%M} UTC)" for slug, when in self.carried)
            lines.append(
                f"Carried to the next edition by the scheduled send, dated after its first wave "
                f"({self.first_wave:%a %d %b %H:%M} UTC): {named}"
            )
        verb = "would reach" if dry_run else "will reach"
        reach = f"It {verb} {counted(self.readers, 'reader')} through {backend}"
        if self.gathered:
            reach += f": {describe_split(self.weekly, self.gathered)}"
        if self.unmatched:
            reach += (
                f"; {counted(self.unmatched, 'more reader')} chose topics that "
                f"match none of its comparisons and {agreeing(self.unmatched, 'gets', 'get')} no mail"
            )
        if self.not_due:
            reach += f"; {describe_not_due(self.not_due)}"
        lines.append(reach + ".")
        return "\n".join(lines)


def send_plan(
    engine: Engine,
    settings: Settings,
    number: int,
    *,
    resend_uncertain: bool = False,
    include_future: bool = False,
    now: datetime | None = None,
    first_wave: datetime | None = None,
) -> SendPlan:
    """What a send of edition `number` would do now; with `first_wave` (when the scheduled send's first
    wave leaves), which of its comparisons are dated after it, so the scheduled send carries them on."""
    with session_scope(engine) as session:
        edition = get_edition(session, number)
        shown = edition_comparisons(session, edition)
        joining = late_comparisons(session, settings, edition) if edition.frozen_at is None else []
        skipped = [c.slug for c in left_out(session, edition)]
        connection = session.connection()
        readers = unmatched = 0
        skips: dict[str, int] = {}
        gathered: dict[str, int] = {}
        if edition.status != EditionStatus.SENT:
            day = send_day_for(settings, edition.week)
            planned = plan_letters(connection, edition.id, offered(session, edition, shown + joining), day)
            unmatched, skips, gathered = planned.unmatched, planned.not_due, planned.gathered
            readers = pending_count(connection, edition.id) - unmatched - sum(skips.values())
        if resend_uncertain:
            readers += state_counts(connection, edition.id)[DeliveryState.UNCERTAIN]
        early = (
            None
            if include_future or edition.status == EditionStatus.SENT
            else too_early(number, shown, now or utcnow())
        )
        carried = after_first_wave(session, settings, edition, first_wave) if first_wave is not None else []
        return SendPlan(
            edition.number,
            edition.week,
            edition.status,
            tuple((c.slug, c.title) for c in shown),
            tuple(skipped),
            readers,
            early,
            joining=tuple((c.slug, c.title) for c in joining),
            unmatched=unmatched,
            first_wave=first_wave,
            carried=tuple((c.slug, c.published_at) for c in carried),
            not_due=skips,
            gathered=gathered,
        )
