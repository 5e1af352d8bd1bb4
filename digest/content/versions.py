"""A comparison's versions: what each import said, and which differences matter to a reader.

`snapshot` reads comparisons as plain JSON-ready dicts (the shape a version keeps and an edition
freezes); `record_version` adds a version when an import created or changed one; `history` lists
them with their dates. `changes` (pure) says what differs between two snapshots in a way that
matters to a reader who read the first: the panel's pick, a tool's ship share by at least
SHIP_POINTS points, an entry price, a tool's verdict text (the pull-quote an edition shows, and
its ship/skip). Anything else (a typo fixed in a summary) is an update, recorded, and not news.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from digest.content.models import LENSES, Comparison, ComparisonVersion, Entry, Review, Tool
from digest.errors import NotFound
from digest.timeutil import utcnow

SHIP_POINTS = 10  # a ship share that moves by at least this many points is a change that matters


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def snapshot(session: Session, comparisons: Sequence[Comparison]) -> dict[int, dict]:
    """comparison id -> the comparison as stored now: title, summary, url, date, its language where it
    has one, and both tools in order, each with its figures and its reviews in lens order (lens,
    quote, verdict). Three queries."""
    ids = [c.id for c in comparisons]
    if not ids:
        return {}
    entries = session.exec(
        select(Entry, Tool)
        .join(Tool, Tool.id == Entry.tool_id)
        .where(Entry.comparison_id.in_(ids))
        .order_by(Entry.comparison_id, Entry.position)
    ).all()
    rank = {lens: n for n, lens in enumerate(LENSES)}
    said: dict[tuple[int, int], list[Review]] = defaultdict(list)
    for review in session.exec(select(Review).where(Review.comparison_id.in_(ids))).all():
        said[(review.comparison_id, review.tool_id)].append(review)
    tools: dict[int, list[dict]] = defaultdict(list)
    for entry, tool in entries:
        about = sorted(said[(entry.comparison_id, tool.id)], key=lambda r: (rank.get(r.lens, len(LENSES)), r.position))
        tools[entry.comparison_id].append(
            {
                "id": tool.id,
                "slug": tool.slug,
                "name": tool.name,
                "category": tool.category,
                "tagline": tool.tagline,
                "panel_ship": entry.panel_ship,
                "community": entry.community,  # the site's figure, as its page showed it
                "entry_price": entry.entry_price,
                "reviews": [[r.lens, r.quote, r.verdict] for r in about],
            }
        )
    return {
        c.id: {
            "slug": c.slug,
            "title": c.title,
            "summary": c.summary,
            "url": c.url,
            "published_at": _iso(c.published_at),
            "tools": tools[c.id],
            # only where the import gave one: earlier versions and frozen editions have no `lang`
            **({"lang": c.lang} if c.lang else {}),
        }
        for c in comparisons
    }


def latest_number(session: Session, comparison_id: int) -> int:
    found = session.exec(
        select(sa.func.max(ComparisonVersion.number)).where(ComparisonVersion.comparison_id == comparison_id)
    ).one()
    return found or 0


def record_version(session: Session, comparison: Comparison, now: datetime | None = None) -> int:
    """Add the comparison as stored now as its next version; returns the version's number."""
    number = latest_number(session, comparison.id) + 1
    shot = snapshot(session, [comparison])[comparison.id]
    session.add(
        ComparisonVersion(
            comparison_id=comparison.id,
            number=number,
            recorded_at=now or utcnow(),
            snapshot=json.dumps(shot, ensure_ascii=False, sort_keys=True),
        )
    )
    session.flush()
    return number


def versions_since(session: Session, comparison_ids: Sequence[int], since: datetime) -> set[int]:
    """Of `comparison_ids`, those with a version recorded after `since` (a re-import changed them)."""
    if not comparison_ids:
        return set()
    return set(
        session.exec(
            select(ComparisonVersion.comparison_id)
            .where(ComparisonVersion.comparison_id.in_(list(comparison_ids)), ComparisonVersion.recorded_at > since)
            .where(ComparisonVersion.number > 1)
        ).all()
    )


# --- what changed, pure ------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    what: str  # 'Panel pick', 'Ship share', 'Entry price', 'Verdict'
    tool: str | None  # the tool's name, or None for the comparison as a whole
    old: str
    new: str


def _percent(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") + "%"


def panel_pick(tools: Sequence[dict]) -> str | None:
    """The name of the tool the panel favours (the higher ship share), or None when they are level."""
    if len(tools) < 2:
        return None
    first, second = sorted(tools, key=lambda t: t["panel_ship"], reverse=True)[:2]
    return None if first["panel_ship"] == second["panel_ship"] else first["name"]


def verdict_text(tool: dict) -> str:
    """A tool's verdict text: its first review in lens order (the pull-quote an edition shows) and its word."""
    if not tool["reviews"]:
        return ""
    lens, quote, verdict = tool["reviews"][0]
    word = f" ({verdict})" if verdict in ("ship", "skip") else ""
    return " ".join(quote.split()) + word


def changes(old: dict, new: dict, points: float = SHIP_POINTS) -> list[Change]:
    """What a reader of `old` would want to know about `new`, in reading order; [] when nothing matters."""
    found: list[Change] = []
    old_pick, new_pick = panel_pick(old["tools"]), panel_pick(new["tools"])
    if old_pick != new_pick:
        found.append(Change("Panel pick", None, old_pick or "split evenly", new_pick or "split evenly"))
    before = {t["slug"]: t for t in old["tools"]}
    for tool in new["tools"]:
        was = before.get(tool["slug"])
        if was is None:
            continue
        if abs(tool["panel_ship"] - was["panel_ship"]) >= points:
            found.append(Change("Ship share", tool["name"], _percent(was["panel_ship"]), _percent(tool["panel_ship"])))
        if tool["entry_price"] != was["entry_price"]:
            found.append(Change("Entry price", tool["name"], was["entry_price"], tool["entry_price"]))
        if verdict_text(tool) != verdict_text(was):
            found.append(Change("Verdict", tool["name"], verdict_text(was), verdict_text(tool)))
    return found


# --- the history, for `digest comparisons show SLUG --history` ---------------------------


@dataclass(frozen=True)
class VersionLine:
    number: int
    recorded_at: datetime
    changes: tuple[Change, ...]  # what mattered against the version before (none for the first)
    differs: bool  # whether it differs at all from the version before (a summary, a date, a quote...)

    def as_dict(self) -> dict:
        return {
            "version": self.number,
            "recorded_at": _iso(self.recorded_at),
            "changes": [{"what": c.what, "tool": c.tool, "old": c.old, "new": c.new} for c in self.changes],
            "differs": self.differs,
        }


def history(session: Session, slug: str) -> list[VersionLine]:
    """Every version of the comparison `slug`, oldest first, each with what changed since the one before."""
    comparison = session.exec(select(Comparison).where(Comparison.slug == slug)).first()
    if comparison is None:
        raise NotFound(f"no comparison with the slug {slug!r}; `digest comparisons list` shows them")
    rows = session.exec(
        select(ComparisonVersion)
        .where(ComparisonVersion.comparison_id == comparison.id)
        .order_by(ComparisonVersion.number)
    ).all()
    lines, previous = [], None
    for row in rows:
        shot = json.loads(row.snapshot)
        found = tuple(changes(previous, shot)) if previous is not None else ()
        lines.append(VersionLine(row.number, row.recorded_at, found, previous is not None and previous != shot))
        previous = shot
    return lines
