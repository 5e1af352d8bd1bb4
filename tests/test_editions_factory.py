"""A small factory for comparisons in the store, shared by the edition, render and preview tests.

It writes the content models directly (Tool, Comparison, Entry, Review), so these
tests do not depend on the importer's file formats. Holds no tests itself.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Session, select

from digest.content.models import Comparison, Entry, Review, Tool


def at(text: str) -> datetime:
    """'2026-11-18 09:00' as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def tool(session: Session, slug: str, **fields) -> Tool:
    found = session.exec(select(Tool).where(Tool.slug == slug)).first()
    if found is not None:
        return found
    values = dict(name=slug.replace("-", " ").title(), category="Developer Tools",
                  tagline=f"The tagline of {slug}", description=f"What {slug} does.", pricing="Paid")
    values.update(fields)
    made = Tool(slug=slug, **values)
    session.add(made)
    session.flush()
    return made


def comparison(session: Session, slug: str, published_at: datetime | str, *, left: str | None = None,
               right: str | None = None, ships: tuple[float, float] = (75, 100),
               community: tuple[float | None, float | None] = (None, 40),
               prices: tuple[str, str] = ("Paid", "Free"), title: str | None = None, summary: str | None = None,
               url: str | None = None, quotes: tuple[str, str] | None = None,
               tool_fields: tuple[dict, dict] = ({}, {})) -> Comparison:
    if isinstance(published_at, str):
        published_at = at(published_at)
    left, right = left or f"{slug}-left", right or f"{slug}-right"
    tools = [tool(session, left, **tool_fields[0]), tool(session, right, **tool_fields[1])]
    made = Comparison(slug=slug, title=title or f"{tools[0].name} vs {tools[1].name}",
                      summary=summary or f"The summary of {slug}.",
                      url=url or f"https://verdicts.example.com/compare/{slug}", published_at=published_at)
    session.add(made)
    session.flush()
    quotes = quotes or (f"Builder quote on {left}. It ships.", f"Builder quote on {right}. It ships too.")
    for position, (side, ship, votes, price, quote) in enumerate(zip(tools, ships, community, prices, quotes)):
        session.add(Entry(comparison_id=made.id, tool_id=side.id, position=position, panel_ship=ship,
                          community=votes, entry_price=price))
        session.add(Review(comparison_id=made.id, tool_id=side.id, lens="builder", position=position,
                           quote=quote, verdict="ship" if ship >= 50 else "skip"))
        session.add(Review(comparison_id=made.id, tool_id=side.id, lens="buyer", position=position + 6,
                           quote=f"Buyer quote on {side.slug}.", verdict="unknown"))
    session.flush()
    return made
