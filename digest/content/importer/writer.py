"""Upserting comparison records: tools once by slug, comparisons in place by slug.

Importing the same files again changes nothing (not even updated_at). A page
export carries no date: a new comparison gets --published-at (or now), an
existing one keeps its date unless a date is given explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, delete, select

from digest.content.importer.records import ComparisonRecord, ToolRecord
from digest.content.models import Comparison, Entry, Review, Tool
from digest.timeutil import as_utc, utcnow
from digest.words import counted


@dataclass
class ImportReport:
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    tools_new: list[str] = field(default_factory=list)
    tools_updated: list[str] = field(default_factory=list)

    @property
    def comparisons(self) -> int:
        return len(self.new) + len(self.updated) + len(self.unchanged)

    def summary(self) -> str:
        return (
            f"{counted(self.comparisons, 'comparison')}: {len(self.new)} new, "
            f"{len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged; tools: {len(self.tools_new)} new, "
            f"{len(self.tools_updated)} updated."
        )


def _assign(row, **values) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _upsert_tool(session: Session, record: ToolRecord, report: ImportReport, cache: dict[str, Tool]) -> Tool:
    tool = cache.get(record.slug) or session.exec(select(Tool).where(Tool.slug == record.slug)).first()
    values = dict(
        name=record.name,
        category=record.category,
        tagline=record.tagline,
        description=record.description,
        pricing=record.entry_price,
    )
    if tool is None:
        tool = Tool(slug=record.slug, **values)
        session.add(tool)
        session.flush()
        report.tools_new.append(record.slug)
    elif _assign(tool, **values) and record.slug not in report.tools_new + report.tools_updated:
        report.tools_updated.append(record.slug)
    cache[record.slug] = tool
    return tool


def _write_one(
    session: Session, record: ComparisonRecord, tools: list[Tool], *, site_url: str, published_at: datetime | None
) -> str:
    comparison = session.exec(select(Comparison).where(Comparison.slug == record.slug)).first()
    explicit = record.published_at or published_at
    values = dict(title=record.title, summary=record.summary, url=record.url or f"{site_url}/compare/{record.slug}")
    if comparison is None:
        comparison = Comparison(slug=record.slug, published_at=as_utc(explicit or utcnow()), **values)
        session.add(comparison)
        session.flush()
        status = "new"
    else:
        changed = _assign(comparison, **values)
        if explicit is not None:
            changed |= _assign(comparison, published_at=as_utc(explicit))
        status = "updated" if changed else "unchanged"

    entries = [
        Entry(
            comparison_id=comparison.id,
            tool_id=tool.id,
            position=index,
            panel_ship=spec.panel_ship,
            community=spec.community,
            entry_price=spec.entry_price,
        )
        for index, (tool, spec) in enumerate(zip(tools, record.tools))
    ]
    reviews = [
        Review(
            comparison_id=comparison.id,
            tool_id=tools[r.tool_index].id,
            lens=r.lens,
            position=index,
            quote=r.quote,
            verdict=r.verdict,
        )
        for index, r in enumerate(record.reviews)
    ]
    entry_key = lambda e: (e.position, e.tool_id, e.panel_ship, e.community, e.entry_price)  # noqa: E731
    review_key = lambda r: (r.position, r.tool_id, r.lens, r.quote, r.verdict)  # noqa: E731
    old_entries = session.exec(select(Entry).where(Entry.comparison_id == comparison.id)).all()
    old_reviews = session.exec(select(Review).where(Review.comparison_id == comparison.id)).all()
    if sorted(map(entry_key, old_entries)) != sorted(map(entry_key, entries)):
        session.exec(delete(Entry).where(Entry.comparison_id == comparison.id))
        session.flush()
        session.add_all(entries)
        status = "updated" if status == "unchanged" else status
    if sorted(map(review_key, old_reviews)) != sorted(map(review_key, reviews)):
        session.exec(delete(Review).where(Review.comparison_id == comparison.id))
        session.flush()
        session.add_all(reviews)
        status = "updated" if status == "unchanged" else status
    if status == "updated":
        comparison.updated_at = utcnow()
    session.flush()
    return status


def write_records(
    session: Session, records: list[ComparisonRecord], *, site_url: str, published_at: datetime | None = None
) -> ImportReport:
    report, cache = ImportReport(), {}
    for record in records:
        tools = [_upsert_tool(session, spec, report, cache) for spec in record.tools]
        status = _write_one(session, record, tools, site_url=site_url, published_at=published_at)
        getattr(report, status).append(record.slug)
    return report
