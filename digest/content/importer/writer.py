"""Upserting comparison records: tools once by slug, comparisons by slug, each change a new version.

Importing the same files again changes nothing (not even updated_at). A page
export carries no date: a new comparison gets --published-at (or now), an
existing one keeps its date unless a date is given explicitly.

A slug names one comparison of two tools for good: an import whose slug (made from its title, or
given) is a stored comparison's but whose tools are not that comparison's ("C++ Copilot vs Go Agent"
and "C Copilot vs Go Agent" slugify alike) is refused, naming both, before anything is written; so is
a tool whose slug is a stored tool's under another name. An import that creates or changes a
comparison records it as a version (digest.content.versions), so what an edition mailed is never
rewritten silently: `digest comparisons show SLUG --history` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, delete, select

from digest.content.importer.records import ComparisonRecord, ToolRecord
from digest.content.models import Comparison, Entry, Review, Tool
from digest.content.versions import record_version
from digest.errors import ImportFailed
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
    values = dict(
        title=record.title,
        summary=record.summary,
        url=record.url or f"{site_url}/compare/{record.slug}",
        lang=record.lang,
    )
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


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def check_identity(session: Session, records: list[ComparisonRecord]) -> None:
    """ImportFailed for the first record whose slug is a stored comparison of other tools, or whose tool's
    slug is a stored tool of another name: both named, before anything is written."""
    slugs = [r.slug for r in records]
    stored = {c.slug: c for c in session.exec(select(Comparison).where(Comparison.slug.in_(slugs))).all()}
    sides: dict[int, list[Tool]] = {}
    if stored:
        for entry, tool in session.exec(
            select(Entry, Tool)
            .join(Tool, Tool.id == Entry.tool_id)
            .where(Entry.comparison_id.in_([c.id for c in stored.values()]))
            .order_by(Entry.position)
        ).all():
            sides.setdefault(entry.comparison_id, []).append(tool)
    tool_slugs = {t.slug for r in records for t in r.tools}
    tools = {t.slug: t for t in session.exec(select(Tool).where(Tool.slug.in_(tool_slugs))).all()}
    for record in records:
        existing = stored.get(record.slug)
        if existing is not None:
            theirs = sides.get(existing.id, [])
            same = len(theirs) == len(record.tools) and all(
                any(t.slug == spec.slug and _same_name(t.name, spec.name) for t in theirs) for spec in record.tools
            )
            if not same:
                names = " and ".join(t.name for t in theirs) or "no tools"
                raise ImportFailed(
                    record.source,
                    None,
                    f"“{record.title}” ({record.tools[0].name} and {record.tools[1].name}) has the slug "
                    f"{record.slug!r} of the stored comparison “{existing.title}” ({names}), a different "
                    'comparison; nothing was imported. Give it a slug of its own ("slug" in a JSON file)',
                )
        for spec in record.tools:
            known = tools.get(spec.slug)
            if known is not None and not _same_name(known.name, spec.name):
                raise ImportFailed(
                    record.source,
                    None,
                    f"the tool {spec.name!r} in “{record.title}” has the slug {spec.slug!r} of the stored tool "
                    f"{known.name!r}, a different tool; nothing was imported. Give it a slug of its own "
                    '("slug" of the tool in a JSON file)',
                )


def write_records(
    session: Session,
    records: list[ComparisonRecord],
    *,
    site_url: str,
    published_at: datetime | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Check every record's identity, then write them; each new or changed comparison gets a version
    dated `now` (default: the current time)."""
    check_identity(session, records)
    report, cache = ImportReport(), {}
    for record in records:
        tools = [_upsert_tool(session, spec, report, cache) for spec in record.tools]
        status = _write_one(session, record, tools, site_url=site_url, published_at=published_at)
        getattr(report, status).append(record.slug)
        if status != "unchanged":
            comparison = session.exec(select(Comparison).where(Comparison.slug == record.slug)).one()
            record_version(session, comparison, now)
    return report
