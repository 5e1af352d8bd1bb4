"""Reading what an edition shows from the store: the comparisons as mailed, for an edition that froze
(digest.editions.service.as_mailed), else as they are now (digest.content.votes.as_shown); a handful
of queries whatever the number of comparisons."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from digest.content.models import Comparison
from digest.content.votes import as_shown
from digest.editions.service import as_mailed
from digest.render.context import ComparisonFacts, ToolFacts


def facts_of(shot: dict) -> ComparisonFacts:
    """One comparison's dict (as_shown's, or as an edition froze it) as the values a card shows."""
    return ComparisonFacts(
        slug=shot["slug"],
        title=shot["title"],
        summary=shot["summary"],
        url=shot["url"],
        lang=shot.get("lang"),  # editions frozen before comparisons had a language have none
        tools=tuple(
            ToolFacts(
                slug=tool["slug"],
                name=tool["name"],
                category=tool["category"],
                tagline=tool["tagline"],
                panel_ship=tool["panel_ship"],
                entry_price=tool["entry_price"],
                community=tool["shown"],
                reviews=tuple(tuple(review) for review in tool["reviews"]),
            )
            for tool in shot["tools"]
        ),
    )


def comparison_dicts(
    session: Session, comparisons: Sequence[Comparison], edition_id: int | None = None
) -> dict[int, dict]:
    """comparison id -> its dict: as edition `edition_id` mailed it where it froze them, else as now."""
    mailed = {c: shot for (_, c), shot in as_mailed(session, [edition_id]).items()} if edition_id else {}
    now = as_shown(session, [c for c in comparisons if c.id not in mailed])
    return {c.id: mailed.get(c.id) or now[c.id] for c in comparisons}


def comparison_facts(
    session: Session, comparisons: Sequence[Comparison], edition_id: int | None = None
) -> list[ComparisonFacts]:
    """Each comparison with its two tools and their reviews, in the order given; as edition `edition_id`
    mailed them once it froze (votes and re-imports after that change nothing it shows)."""
    shots = comparison_dicts(session, comparisons, edition_id)
    return [facts_of(shots[c.id]) for c in comparisons]
