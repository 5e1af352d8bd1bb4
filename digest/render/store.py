"""Reading what an edition shows from the store: five queries, whatever the number of comparisons."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import Session, select

from digest.content.models import LENSES, Comparison, Entry, Review, Tool
from digest.content.votes import community_figure, community_shares
from digest.render.context import ComparisonFacts, ToolFacts


def comparison_facts(session: Session, comparisons: Sequence[Comparison]) -> list[ComparisonFacts]:
    """Each comparison with its two tools and their reviews, in the order given."""
    ids = [c.id for c in comparisons]
    if not ids:
        return []
    entries = session.exec(
        select(Entry, Tool)
        .join(Tool, Tool.id == Entry.tool_id)
        .where(Entry.comparison_id.in_(ids))
        .order_by(Entry.comparison_id, Entry.position)
    ).all()
    reviews = session.exec(select(Review).where(Review.comparison_id.in_(ids))).all()
    votes = community_shares(session, ids)  # readers' votes fill "Community" where the page had "—" (issue 7)
    lens_rank = {lens: rank for rank, lens in enumerate(LENSES)}
    said: dict[tuple[int, int], list[Review]] = defaultdict(list)
    for review in reviews:
        said[(review.comparison_id, review.tool_id)].append(review)
    sides: dict[int, list[ToolFacts]] = defaultdict(list)
    for entry, tool in entries:
        about = sorted(
            said[(entry.comparison_id, tool.id)], key=lambda r: (lens_rank.get(r.lens, len(LENSES)), r.position)
        )
        sides[entry.comparison_id].append(
            ToolFacts(
                slug=tool.slug,
                name=tool.name,
                category=tool.category,
                tagline=tool.tagline,
                panel_ship=entry.panel_ship,
                entry_price=entry.entry_price,
                community=community_figure(entry.community, votes, entry.comparison_id, tool.id),
                reviews=tuple((r.lens, r.quote, r.verdict) for r in about),
            )
        )
    return [
        ComparisonFacts(slug=c.slug, title=c.title, summary=c.summary, url=c.url, tools=tuple(sides[c.id]))
        for c in comparisons
    ]
