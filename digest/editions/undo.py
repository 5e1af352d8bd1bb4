"""Undoing an editor's mistakes without a database shell: a draft deleted, a comparison removed.

Both refuse once readers may have the thing in their inbox: only a draft is
deleted (a send marks its edition `sending` before its first ledger row); a
comparison is removed only while no edition that has begun going out shows it.
Each says why when it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from digest.content.models import Comparison, Entry, Tool
from digest.editions.models import Edition, EditionItem
from digest.editions.service import edition_items, get_edition
from digest.editions.status import EditionStatus
from digest.errors import EditionError, NotFound


@dataclass(frozen=True)
class Deleted:
    number: int
    week: str
    freed: int  # comparisons a later build may pick up again


def delete_draft(session: Session, number: int) -> Deleted:
    """Delete a draft edition; its comparisons become free for the next build of their week."""
    edition = get_edition(session, number=number)
    if edition.status != EditionStatus.DRAFT:
        raise EditionError(
            f"edition {number} is {edition.status}: it has begun going out, so it stays (only a draft can be deleted)"
        )
    freed = len(edition_items(session, edition, included_only=False))
    session.execute(sa.delete(EditionItem).where(EditionItem.edition_id == edition.id))
    session.execute(sa.delete(Edition).where(Edition.id == edition.id))
    session.expunge(edition)
    session.flush()
    return Deleted(number, edition.week, freed)


@dataclass(frozen=True)
class Removed:
    slug: str
    title: str
    drafts: tuple[int, ...]  # draft editions it was taken out of
    emptied: tuple[int, ...]  # of those, drafts left with no comparison to show
    tools: tuple[str, ...]  # tools no other comparison has, removed with it


def remove_comparison(session: Session, slug: str) -> Removed:
    """Remove a comparison imported by mistake, with its entries, reviews and votes.

    Refused once an edition that has begun going out shows it: readers have it,
    and the archive keeps it. A draft that holds it lets it go; a tool that no
    other comparison has goes with it (so its category stops being offered as a topic).
    """
    comparison = session.exec(select(Comparison).where(Comparison.slug == slug)).first()
    if comparison is None:
        raise NotFound(f"no comparison with the slug {slug!r}; `digest comparisons list` shows them")
    carried = session.exec(
        select(Edition, EditionItem)
        .join(EditionItem, EditionItem.edition_id == Edition.id)
        .where(EditionItem.comparison_id == comparison.id)
    ).all()
    gone_out = sorted(
        edition.number for edition, item in carried if edition.status != EditionStatus.DRAFT and item.included
    )
    if gone_out:
        editions = ", ".join(str(n) for n in gone_out)
        raise EditionError(
            f"{slug} went out in edition {editions}: readers have it and the archive shows it, "
            "so it stays (leave it out of a draft with: digest editions edit N --exclude SLUG)"
        )
    drafts = tuple(sorted(edition.number for edition, item in carried if edition.status == EditionStatus.DRAFT))
    tool_ids = list(session.exec(select(Entry.tool_id).where(Entry.comparison_id == comparison.id)).all())
    session.execute(sa.delete(EditionItem).where(EditionItem.comparison_id == comparison.id))
    session.execute(sa.delete(Comparison).where(Comparison.id == comparison.id))  # entries, reviews, votes cascade
    session.expunge(comparison)
    session.flush()
    still_used = set(session.exec(select(Entry.tool_id).where(Entry.tool_id.in_(tool_ids))).all())
    orphans = [tool_id for tool_id in tool_ids if tool_id not in still_used]
    names = tuple(session.exec(select(Tool.slug).where(Tool.id.in_(orphans))).all()) if orphans else ()
    if orphans:
        session.execute(sa.delete(Tool).where(Tool.id.in_(orphans)))
    emptied = tuple(number for number in drafts if not edition_items(session, get_edition(session, number=number)))
    session.flush()
    return Removed(slug, comparison.title, drafts, emptied, names)
