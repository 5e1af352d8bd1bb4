"""Reading comparisons back: plain dicts that the CLI prints and scripts consume as JSON."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from digest.content.models import Comparison, Entry, Review, Tool
from digest.content.votes import comparison_community, reader_votes
from digest.errors import NotFound
from digest.weeks import week_bounds, week_of


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _tools(session: Session, comparison: Comparison) -> list[dict]:
    rows = session.exec(
        select(Entry, Tool)
        .join(Tool, Tool.id == Entry.tool_id)
        .where(Entry.comparison_id == comparison.id)
        .order_by(Entry.position)
    ).all()
    return [
        {
            "position": entry.position,
            "slug": tool.slug,
            "name": tool.name,
            "category": tool.category,
            "tagline": tool.tagline,
            "description": tool.description,
            "panel_ship": entry.panel_ship,
            "community": entry.community,
            "entry_price": entry.entry_price,
        }
        for entry, tool in rows
    ]


def comparison_dict(session: Session, comparison: Comparison, zone: ZoneInfo, *, reviews: bool = True) -> dict:
    tools = _tools(session, comparison)
    out = {
        "slug": comparison.slug,
        "title": comparison.title,
        "summary": comparison.summary,
        "url": comparison.url,
        "lang": comparison.lang,  # None: the newsletter's language
        "published_at": _iso(comparison.published_at),
        "week": week_of(comparison.published_at, zone),
        "updated_at": _iso(comparison.updated_at),
        "tools": tools,
    }
    if reviews:
        by_id = {
            t.id: t.slug for t in session.exec(select(Tool).where(Tool.slug.in_([t["slug"] for t in tools]))).all()
        }
        rows = session.exec(select(Review).where(Review.comparison_id == comparison.id).order_by(Review.position)).all()
        out["reviews"] = [
            {"tool": by_id[r.tool_id], "lens": r.lens, "quote": r.quote, "verdict": r.verdict} for r in rows
        ]
    return out


def list_comparisons(session: Session, zone: ZoneInfo, week: str | None = None) -> list[dict]:
    """Newest first; only `week` (YYYY-Www in `zone`) when given."""
    query = select(Comparison).order_by(Comparison.published_at.desc(), Comparison.id.desc())
    if week:
        start, end = week_bounds(week, zone)
        query = query.where(Comparison.published_at >= start, Comparison.published_at < end)
    return [comparison_dict(session, c, zone) for c in session.exec(query).all()]


def get_comparison(session: Session, slug: str, zone: ZoneInfo) -> dict:
    comparison = session.exec(select(Comparison).where(Comparison.slug == slug)).first()
    if comparison is None:
        raise NotFound(f"no comparison with the slug {slug!r}; `digest comparisons list` shows them")
    return with_reader_votes(session, comparison, comparison_dict(session, comparison, zone))


def with_reader_votes(session: Session, comparison: Comparison, row: dict) -> dict:
    """Adds each tool's readers' votes from the inbox (issue 7): `votes`, `vote_share` (% or None), and
    `community_now`, the community figure editions show now (digest.content.votes.community), whose
    source is the comparison's `community_source`."""

    shares = reader_votes(session, comparison.id)
    figure = comparison_community(session, comparison.id)
    total = sum(share.votes for share in shares.values())
    for tool in row["tools"]:
        share = shares.get(tool["slug"])
        tool["votes"] = share.votes if share else 0
        tool["vote_share"] = share.percent if share and total else None
        tool["community_now"] = figure.figures.get(tool["slug"])
    row["community_source"] = figure.source
    return row


def topics_in_store(connection) -> frozenset[str]:
    """The distinct tool categories, read through a Connection or a Session."""
    names = connection.execute(sa.select(Tool.category).distinct()).scalars().all()
    return frozenset(name for name in names if name)
