"""`digest db prune`: drop the per-reader ledger rows and raw events of editions sent long ago, keeping
their figures (digest.delivery.kept) and the consent log.

An edition may be pruned once its send finished (status sent) before the date given; one still sending
or paused never is, nor the newest sent edition: the scheduler may still mail it to late readers (a
send needs its ledger to mail each reader once), and the next edition's verdict loop ("How readers
voted", "Changed since you read it") reads who received it. Each edition is pruned in its own
transaction: its figures are counted and kept, then its ledger rows and its events deleted, so a crash
leaves every edition either whole or pruned, and a rerun prunes only what is left. The consent log,
readers, votes and the edition itself are kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.delivery import kept as kept_figures
from digest.delivery.ledger import Delivery, DeliveryRequest, state_counts
from digest.delivery.summary import sent_variants
from digest.delivery.watch import kept_counts
from digest.editions.models import Edition
from digest.editions.service import get_edition, offered
from digest.editions.status import EditionStatus
from digest.errors import EditionError
from digest.events.models import Event
from digest.stats.figures import edition_figures, variant_figures
from digest.store import session_scope
from digest.timeutil import as_utc, utcnow


def parse_before(text: str, zone: ZoneInfo) -> datetime:
    """'2026-01-01' (midnight in the newsletter's zone) or an ISO datetime, as UTC. ValueError names
    the form expected."""
    try:
        if len(text.strip()) == 10:
            moment = datetime.combine(date.fromisoformat(text.strip()), time(), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise ValueError(
            f"--before: expected a date such as 2026-01-01 or 2026-01-01T09:00:00+01:00, got {text!r}"
        ) from None
    return as_utc(moment)


@dataclass(frozen=True)
class Prunable:
    """An edition a prune would touch, and what it would drop."""

    number: int
    week: str
    sent_at: datetime
    ledger_rows: int
    events: int

    def as_dict(self) -> dict:
        return {**asdict(self), "sent_at": self.sent_at.isoformat()}


def _ids(session: Session, before: datetime) -> list[int]:
    edition, summary = Edition.__table__, kept_figures.EditionSummary.__table__
    newest = sa.select(sa.func.max(edition.c.number)).where(edition.c.status == EditionStatus.SENT).scalar_subquery()
    return list(
        session.execute(
            sa.select(edition.c.number)
            .where(
                edition.c.status == EditionStatus.SENT,
                edition.c.sent_at < before,
                edition.c.number < newest,  # late readers may still get it; the next edition's loop reads it
                ~sa.exists().where(summary.c.edition_id == edition.c.id),
            )
            .order_by(edition.c.number)
        ).scalars()
    )


def prunable(engine: Engine, before: datetime) -> list[Prunable]:
    """The editions sent before `before` not pruned yet, oldest first, with the rows each would drop."""
    delivery, event = Delivery.__table__, Event.__table__
    out = []
    with session_scope(engine) as session:
        for number in _ids(session, before):
            edition = get_edition(session, number)
            rows = session.execute(
                sa.select(sa.func.count()).select_from(delivery).where(delivery.c.edition_id == edition.id)
            ).scalar_one()
            events = session.execute(
                sa.select(sa.func.count()).select_from(event).where(event.c.edition_number == number)
            ).scalar_one()
            out.append(Prunable(number, edition.week, as_utc(edition.sent_at), rows, events))
    return out


def refusal(engine: Engine, before: datetime) -> str | None:
    """Why nothing before `before` may be pruned now: an edition begun before it is still sending or
    paused (its ledger is live). None when there is none."""
    edition = Edition.__table__
    with session_scope(engine) as session:
        live = session.execute(
            sa.select(edition.c.number, edition.c.status)
            .where(
                edition.c.status.in_([EditionStatus.SENDING, EditionStatus.PAUSED]),
                sa.or_(edition.c.frozen_at.is_(None), edition.c.frozen_at < before),
            )
            .order_by(edition.c.number)
        ).all()
    if not live:
        return None
    named = ", ".join(f"{number} ({status})" for number, status in live)
    return (
        f"edition {named} is still being sent: prune only editions whose send finished "
        "(finish or resume the send first, or give an earlier --before)"
    )


def keep_figures(session: Session, number: int) -> dict[int, dict]:
    """An edition's figures as `stats`, `stats --by-variant` and `editions show` count them now."""
    edition = get_edition(session, number)
    connection = session.connection()
    whole = edition_figures(session, number)[0]
    lines, unmatched = sent_variants(connection, edition.id, offered(session, edition))
    desk = kept_counts(connection, edition.id, number)
    rows = {
        kept_figures.WHOLE: {
            "stats": asdict(whole),
            "readers": state_counts(connection, edition.id),
            "unmatched": unmatched,
            "zones": desk["zones"],
            "no_variant": desk["no_variant"],
            "health": desk["health"],
            "pruned_at": utcnow().isoformat(),
        }
    }
    by_variant = {v.variant: v for v in variant_figures(session, number)}
    for line in lines:
        stats = by_variant.get(line.variant)
        rows[line.variant] = {
            "stats": asdict(stats.figures) if stats else {},
            "states": desk["states"].get(line.variant, {}),
            "line": {"comparisons": list(line.comparisons), "readers": line.readers, "loop": line.loop},
        }
    return rows


def prune_edition(engine: Engine, number: int) -> Prunable:
    """Keep one sent edition's figures and drop its ledger rows and events, in one transaction."""
    delivery, event = Delivery.__table__, Event.__table__
    with session_scope(engine) as session:
        edition = get_edition(session, number)
        if edition.status != EditionStatus.SENT:
            raise EditionError(f"edition {number} is {edition.status}: only an edition whose send finished is pruned")
        if kept_figures.kept_one(session.connection(), edition.id) is not None:
            return Prunable(number, edition.week, as_utc(edition.sent_at), 0, 0)
        kept_figures.write(session.connection(), edition.id, keep_figures(session, number))
        rows = session.execute(sa.delete(delivery).where(delivery.c.edition_id == edition.id)).rowcount
        requests = DeliveryRequest.__table__  # the requests its rows went out in (their message ids)
        session.execute(sa.delete(requests).where(requests.c.edition_id == edition.id))
        events = session.execute(sa.delete(event).where(event.c.edition_number == number)).rowcount
        return Prunable(number, edition.week, as_utc(edition.sent_at), rows, events)


def prune(engine: Engine, before: datetime) -> list[Prunable]:
    """Prune every edition sent before `before` (each in its own transaction), oldest first. Refuses
    (EditionError) while an edition begun before then is still sending or paused."""
    said = refusal(engine, before)
    if said:
        raise EditionError(said)
    with session_scope(engine) as session:
        numbers = _ids(session, before)
    return [prune_edition(engine, number) for number in numbers]
