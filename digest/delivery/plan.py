"""What a send is about to do, said before it starts: the edition, its week, its comparisons, its readers.

`digest editions send` prints the plan and, in a terminal, asks for a yes. A
comparison dated in the future holds the send back until its date unless the
caller says otherwise (`include_future`): `too_early` is the one check, used
by the plan and by the send itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy.engine import Engine

from digest.content.models import Comparison
from digest.delivery.ledger import pending_count, state_counts
from digest.editions.service import dated_after, edition_comparisons, get_edition, left_out
from digest.errors import EditionError
from digest.store import session_scope
from digest.timeutil import utcnow


def too_early(number: int, comparisons: Sequence[Comparison], now: datetime) -> str | None:
    """Why edition `number` may not go out yet (a comparison dated after `now`), or None."""
    early = dated_after(comparisons, now)
    if not early:
        return None
    named = "; ".join(f"{c.slug} (dated {c.published_at:%Y-%m-%d %H:%M} UTC)" for c in early)
    first = early[0].slug
    return (f"edition {number} carries {'a comparison' if len(early) == 1 else 'comparisons'} dated in the "
            f"future: {named}. It is not sent before then: wait, leave it out "
            f"(digest editions edit {number} --exclude {first}) or pass --include-future")


def check_not_early(number: int, comparisons: Sequence[Comparison], now: datetime | None = None) -> None:
    reason = too_early(number, comparisons, now or utcnow())
    if reason is not None:
        raise EditionError(reason)


@dataclass(frozen=True)
class SendPlan:
    number: int
    week: str
    status: str
    comparisons: tuple[tuple[str, str], ...]  # (slug, title) in the edition's order
    left_out: tuple[str, ...]  # slugs
    readers: int  # who a send would mail now
    early: str | None  # why it may not go out yet, if it may not

    def as_text(self, backend: str, dry_run: bool = False) -> str:
        plural = "comparison" if len(self.comparisons) == 1 else "comparisons"
        lines = [f"Edition {self.number} for {self.week} ({self.status}), {len(self.comparisons)} {plural}:"]
        lines += [f"  {position}. {title}  [{slug}]"
                  for position, (slug, title) in enumerate(self.comparisons, start=1)]
        if self.left_out:
            lines.append(f"Left out: {', '.join(self.left_out)}")
        verb = "would reach" if dry_run else "will reach"
        lines.append(f"It {verb} {self.readers:,} reader{'s' if self.readers != 1 else ''} through {backend}.")
        return "\n".join(lines)


def send_plan(engine: Engine, number: int, *, resend_uncertain: bool = False, include_future: bool = False,
              now: datetime | None = None) -> SendPlan:
    with session_scope(engine) as session:
        edition = get_edition(session, number)
        shown = edition_comparisons(session, edition)
        skipped = [c.slug for c in left_out(session, edition)]
        connection = session.connection()
        readers = 0 if edition.status == "sent" else pending_count(connection, edition.id)
        if resend_uncertain:
            readers += state_counts(connection, edition.id)["uncertain"]
        early = None if include_future or edition.status == "sent" else too_early(number, shown, now or utcnow())
        return SendPlan(edition.number, edition.week, edition.status, tuple((c.slug, c.title) for c in shown),
                        tuple(skipped), readers, early)
