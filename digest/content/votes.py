"""Votes from the inbox: "Which would you ship?", one link per tool.

Each link carries the reader's token (subscribers.links.vote_url), so a vote
says who cast it without a login. The link opens a page (`ballot`: nothing is
written, since mail scanners open every link) whose one button records the vote
(`record_vote`). A reader has one vote per comparison: the first vote records
it, the same vote again changes nothing, a vote for the other tool moves it.
Only an active reader's link counts: an unknown or altered token, or a reader
who has left, is refused with an UnknownVoteLink or VoteNotCounted saying why.
A reader votes only on what they can see: a comparison that is not published,
or not in an edition they were mailed (the caller's `mailed` check, which reads
the ledger), is refused exactly as an unknown one is, so a guessed slug tells
nothing about what the store holds.

The community figure (`community`, the one definition: the mail, the web version,
the vote page and `comparisons show` all read it): for a comparison with at least
MIN_VOTES readers' votes, each tool's share of this newsletter's readers' votes;
below that, the site's own figures as its page showed them ("—" where it had
none). Both tools always from the same source, never one of each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from digest.content.models import Comparison, Entry, Tool, Vote
from digest.content.versions import snapshot
from digest.errors import UnknownVoteLink, VoteNotCounted
from digest.store import insert_into
from digest.timeutil import utcnow
from subscribers import status
from subscribers.errors import UnknownReader
from subscribers.service import by_token


@dataclass(frozen=True)
class Share:
    votes: int
    percent: float  # of the comparison's votes, 0..100, one decimal


@dataclass(frozen=True)
class SplitLine:
    slug: str
    name: str
    votes: int
    percent: float
    chosen: bool  # the reader's pick


@dataclass(frozen=True)
class VoteOutcome:
    comparison_title: str
    comparison_slug: str
    tool_name: str
    tool_slug: str
    change: str  # "recorded" (first vote), "unchanged" (same click again) or "moved" (other tool)
    split: tuple[SplitLine, ...]
    total: int
    community: Community | None = None  # the comparison's community figure now, as editions show it
    comparison_lang: str | None = None  # the comparison's own language, where it has one


def shares(counts: dict[int, int]) -> dict[int, Share]:
    """Votes per tool id -> each tool's Share. Pure."""
    total = sum(counts.values())
    return {tool: Share(n, round(100 * n / total, 1) if total else 0.0) for tool, n in counts.items()}


def community_shares(session: Session, comparison_ids: Iterable[int]) -> dict[tuple[int, int], Share]:
    """(comparison id, tool id) -> Share, for every tool that has votes, in one query."""
    ids = sorted(set(comparison_ids))
    if not ids:
        return {}
    rows = session.exec(
        sa.select(Vote.comparison_id, Vote.tool_id, sa.func.count())
        .where(Vote.comparison_id.in_(ids))
        .group_by(Vote.comparison_id, Vote.tool_id)
    ).all()
    per: dict[int, dict[int, int]] = defaultdict(dict)
    for comparison_id, tool_id, n in rows:
        per[comparison_id][tool_id] = n
    return {(c, t): share for c, counts in per.items() for t, share in shares(counts).items()}


def _reader(session: Session, token: str):
    try:
        reader = by_token(session, token)
    except UnknownReader:
        raise UnknownVoteLink(
            "This voting link is not valid: it may have been cut short or changed. "
            "Use the buttons in the newsletter email exactly as they came."
        ) from None
    if reader.status == status.PENDING:
        raise VoteNotCounted(
            "This subscription is not confirmed yet, so its votes do not count. "
            "Confirm it with the link in the confirmation email first."
        )
    if reader.status != status.RECEIVES_EDITIONS:
        raise VoteNotCounted(
            "This subscription has ended, so its voting links no longer count. "
            "Subscribe again if you would like to vote."
        )
    return reader


def _upsert(session: Session, reader_id: int, comparison_id: int, tool_id: int, now: datetime) -> None:
    table = Vote.__table__
    statement = insert_into(session, table).values(
        subscriber_id=reader_id, comparison_id=comparison_id, tool_id=tool_id, voted_at=now, changed_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["subscriber_id", "comparison_id"],
        set_={"tool_id": statement.excluded.tool_id, "changed_at": statement.excluded.changed_at},
        where=table.c.tool_id != statement.excluded.tool_id,
    )
    session.execute(statement)


@dataclass(frozen=True)
class Ballot:
    """What a voting link asks, before anything is recorded (the page a GET shows: a link scanner
    opening the link records nothing; the reader's button POSTs)."""

    comparison_title: str
    comparison_slug: str
    tool_name: str
    tool_slug: str
    current: str | None  # the slug of the tool this reader voted for so far, or None
    comparison_lang: str | None = None  # the comparison's own language, where it has one


Mailed = Callable[[Session, int, int], bool]  # (session, reader id, comparison id): did they get it?


def _choice(session: Session, token: str, comparison_slug: str, tool_slug: str, mailed: Mailed, now: datetime):
    """(reader, comparison, its (Entry, Tool) sides, the picked Tool), or the error saying why not. A
    comparison the reader cannot see (not published yet, or never mailed to them) is unknown to them."""
    reader = _reader(session, token)
    comparison = session.exec(select(Comparison).where(Comparison.slug == comparison_slug)).first()
    if comparison is not None and (comparison.published_at > now or not mailed(session, reader.id, comparison.id)):
        comparison = None
    if comparison is None:
        raise UnknownVoteLink(
            "This voting link names a comparison we do not have. "
            "Use the buttons in the newsletter email exactly as they came."
        )
    sides = session.exec(
        select(Entry, Tool)
        .join(Tool, Tool.id == Entry.tool_id)
        .where(Entry.comparison_id == comparison.id)
        .order_by(Entry.position)
    ).all()
    picked = next((tool for _, tool in sides if tool.slug == tool_slug), None)
    if picked is None:
        raise UnknownVoteLink(
            f"This voting link names a tool that is not in “{comparison.title}”. "
            "Use the buttons in the newsletter email exactly as they came."
        )
    return reader, comparison, sides, picked


def _current_tool(session: Session, reader_id: int, comparison_id: int) -> int | None:
    return session.exec(
        select(Vote.tool_id).where(Vote.subscriber_id == reader_id, Vote.comparison_id == comparison_id)
    ).first()


def ballot(
    session: Session, token: str, comparison_slug: str, tool_slug: str, *, mailed: Mailed, now: datetime | None = None
) -> Ballot:
    """What the link would record, checked as record_vote checks it; writes nothing."""
    reader, comparison, sides, picked = _choice(session, token, comparison_slug, tool_slug, mailed, now or utcnow())
    current = _current_tool(session, reader.id, comparison.id)
    return Ballot(
        comparison.title,
        comparison.slug,
        picked.name,
        picked.slug,
        next((tool.slug for _, tool in sides if tool.id == current), None),
        comparison.lang,
    )


def record_vote(
    session: Session,
    token: str,
    comparison_slug: str,
    tool_slug: str,
    now: datetime | None = None,
    *,
    mailed: Mailed,
) -> VoteOutcome:
    """Record (or move) one reader's vote and return the comparison's split afterwards. `mailed` says
    whether the reader was mailed the comparison (digest.delivery.ledger.was_mailed)."""
    now = now or utcnow()
    reader, comparison, sides, picked = _choice(session, token, comparison_slug, tool_slug, mailed, now)
    before = _current_tool(session, reader.id, comparison.id)
    _upsert(session, reader.id, comparison.id, picked.id, now)
    change = "recorded" if before is None else "unchanged" if before == picked.id else "moved"
    counts = dict(
        session.exec(
            sa.select(Vote.tool_id, sa.func.count()).where(Vote.comparison_id == comparison.id).group_by(Vote.tool_id)
        ).all()
    )
    split = shares({tool.id: counts.get(tool.id, 0) for _, tool in sides})
    lines = tuple(
        SplitLine(tool.slug, tool.name, split[tool.id].votes, split[tool.id].percent, tool.id == picked.id)
        for _, tool in sides
    )
    return VoteOutcome(
        comparison.title,
        comparison.slug,
        picked.name,
        picked.slug,
        change,
        lines,
        sum(counts.values()),
        comparison_community(session, comparison.id),
        comparison.lang,
    )


MIN_VOTES = 5  # fewer readers' votes than this in a comparison are too few to mean anything
READERS, SITE = "readers", "site"  # where a comparison's community figure comes from


@dataclass(frozen=True)
class Community:
    """A comparison's community figure: `figures` (tool slug -> percent or None) from `source`, and the
    readers' votes behind it whatever the source (tool slug -> votes; their sum is `total`)."""

    source: str  # READERS or SITE
    figures: dict[str, float | None]
    votes: dict[str, int]
    total: int

    @property
    def enough(self) -> bool:
        return self.total >= MIN_VOTES


def community(site: dict[str, float | None], votes: dict[str, int]) -> Community:
    """The one definition (pure): readers' shares once MIN_VOTES readers voted, else the site's figures.
    `site` and `votes` are keyed by tool slug, in the comparison's order."""
    total = sum(votes.get(slug, 0) for slug in site)
    counts = {slug: votes.get(slug, 0) for slug in site}
    if total >= MIN_VOTES:
        split = shares(counts)
        return Community(READERS, {slug: split[slug].percent for slug in site}, counts, total)
    return Community(SITE, dict(site), counts, total)


def as_shown(session: Session, comparisons) -> dict[int, dict]:
    """comparison id -> the comparison as an edition shows it now: digest.content.versions.snapshot, each
    tool with `shown` (its community figure), `votes` (readers' votes), and the comparison's
    `community_source` and `votes_total`. What an edition freezes as mailed."""
    found = snapshot(session, comparisons)
    counted = community_shares(session, list(found))
    for comparison_id, shot in found.items():
        votes = {t["slug"]: counted.get((comparison_id, t["id"]), Share(0, 0.0)).votes for t in shot["tools"]}
        figure = community({t["slug"]: t["community"] for t in shot["tools"]}, votes)
        for tool in shot["tools"]:
            tool["shown"] = figure.figures[tool["slug"]]
            tool["votes"] = figure.votes[tool["slug"]]
        shot["community_source"], shot["votes_total"] = figure.source, figure.total
    return found


def comparison_community(session: Session, comparison_id: int) -> Community:
    """The community figure of one comparison now (the vote page, `comparisons show`)."""
    sides = session.exec(
        select(Tool.id, Tool.slug, Entry.community)
        .join(Entry, Entry.tool_id == Tool.id)
        .where(Entry.comparison_id == comparison_id)
        .order_by(Entry.position)
    ).all()
    found = community_shares(session, [comparison_id])
    votes = {slug: found.get((comparison_id, tool_id), Share(0, 0.0)).votes for tool_id, slug, _ in sides}
    return community({slug: page for _, slug, page in sides}, votes)


def reader_votes(session: Session, comparison_id: int) -> dict[str, Share]:
    """tool slug -> Share of the readers' votes in one comparison (tools nobody voted for: 0 votes)."""
    sides = session.exec(
        select(Tool.id, Tool.slug).join(Entry, Entry.tool_id == Tool.id).where(Entry.comparison_id == comparison_id)
    ).all()
    found = community_shares(session, [comparison_id])
    return {slug: found.get((comparison_id, tool_id), Share(0, 0.0)) for tool_id, slug in sides}
