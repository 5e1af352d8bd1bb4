"""What an edition shows, as plain values: the pure step between the store's rows and the templates.

Every string taken from a comparison passes through `literal`, which makes sure it
cannot be mistaken for a per-reader placeholder once rendered (the templates
escape it for HTML; Jinja never evaluates a value as template code). Links a
reader follows are built here, once, with READER_TOKEN where the reader's token
goes, through subscribers.links so every email and page agrees.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

from digest.language import direction
from digest.mail.placeholders import READER_TOKEN
from digest.weeks import parse_week
from digest.words import counted
from subscribers import links

NO_VOTES = "—"
QUOTE_LIMIT = 260
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_QUOTE_MARKS = "“”\"'‘’ "


def literal(value: object) -> str:
    """A comparison's text made inert: no control characters, and no way to spell a placeholder.

    A zero-width space between two percent signs reads the same to a person but
    can never form READER_TOKEN, which a sender would fill with a reader's token.
    """
    text = str(value)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    while "%%" in text:
        text = text.replace("%%", "%\u200b%")
    return text


def percent(value: float | None) -> str:
    """75.0 -> '75%'; None (nobody voted yet) -> '—'."""
    if value is None:
        return NO_VOTES
    return f"{value:.1f}".rstrip("0").rstrip(".") + "%"


def safe_link(url: str, fallback: str) -> str:
    """Only http(s) links reach a reader; anything else (javascript:, data:) becomes `fallback`."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return fallback
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return fallback
    return literal(url.strip())


def excerpt(quote: str, limit: int = QUOTE_LIMIT) -> str:
    """A pull-quote: whole sentences from the start of a review, up to `limit` characters."""
    text = " ".join(quote.split()).strip(_QUOTE_MARKS)
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    if kept:
        return kept
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(",;:—–- ") + "…"


def week_dates(week: str) -> str:
    """'2026-W47' -> '16–22 Nov 2026' (or '28 Dec 2026 – 3 Jan 2027' across a year)."""
    year, number = parse_week(week)
    monday = date.fromisocalendar(year, number, 1)
    sunday = monday + timedelta(days=6)
    if monday.year != sunday.year:
        return f"{monday.day} {monday:%b %Y} – {sunday.day} {sunday:%b %Y}"
    if monday.month != sunday.month:
        return f"{monday.day} {monday:%b} – {sunday.day} {sunday:%b %Y}"
    return f"{monday.day}–{sunday.day} {sunday:%b %Y}"


@dataclass(frozen=True)
class ToolView:
    slug: str
    name: str
    category: str
    tagline: str
    ship: str  # '75%'
    ship_width: int  # 0..100, the bar under the figure
    community: str  # '40%' or '—'
    price: str
    quote: str | None  # the pull-quote, or None when the panel said nothing about this tool
    quote_lens: str | None  # 'Builder'
    quote_verdict: str | None  # 'ship', 'skip', 'unknown'
    vote_url: str | None  # "Which would you ship?" (issue 7): None leaves the vote buttons out
    favoured: bool = False


@dataclass(frozen=True)
class ComparisonView:
    position: int
    slug: str
    title: str
    summary: str
    url: str
    tools: tuple[ToolView, ...]
    verdict: str  # 'The panel favours SmolVLM2 Turbo'
    verdict_detail: str  # '100% vs 75% would ship it'
    lang: str | None = None  # its language where it differs from the newsletter's: the mail declares it

    @property
    def votes_open(self) -> bool:
        return all(tool.vote_url for tool in self.tools)

    @property
    def dir(self) -> str | None:
        """'rtl' when its language is written right to left (declared with its `lang`)."""
        return direction(self.lang) if self.lang else None

    @property
    def anchor(self) -> str:
        """The id of its card: the web version's `#comparison-3` goes straight to it."""
        return f"comparison-{self.position}"


@dataclass(frozen=True)
class VotedLine:
    name: str
    percent: str  # '60%'
    votes: int
    width: int  # 0..100, the bar


@dataclass(frozen=True)
class VotedView:
    """ "How readers voted" on one comparison of the reader's previous edition."""

    title: str
    url: str
    total: int
    enough: bool  # at least MIN_VOTES votes: shares are shown; else the count and why not
    lines: tuple[VotedLine, ...]
    note: str  # '12 votes' or 'Only 3 votes so far: too few to call (a share is shown from 5)'


@dataclass(frozen=True)
class ChangeRow:
    label: str  # 'Panel pick', 'Relaybench: ship share'
    old: str
    new: str


@dataclass(frozen=True)
class ChangedView:
    """ "Changed since you read it": one comparison an earlier edition mailed the reader, old and new."""

    title: str
    url: str
    edition: int  # the edition that mailed it
    rows: tuple[ChangeRow, ...]


THIS_WEEK = "this week"


@dataclass(frozen=True)
class Filtered:
    """A variant that leaves comparisons out: the reader's topics (empty when not known here) and
    how many of the week's comparisons are only on the web."""

    topics: tuple[str, ...]
    more: int
    period: str = "this week"  # a fortnightly or monthly letter's: "since Monday 2 November" (THIS_WEEK)

    @property
    def chosen(self) -> str:
        return f"Your topics: {', '.join(self.topics)}" if self.topics else "Picked for your topics"

    @property
    def more_line(self) -> str:
        return f"{counted(self.more, 'more comparison')} {self.period} on the web"

    @property
    def line(self) -> str:
        return f"{self.chosen} · {self.more_line}" if self.more else self.chosen


@dataclass(frozen=True)
class EditionView:
    newsletter_name: str
    number: int
    week: str
    dates: str
    subject: str
    preheader: str
    intro: tuple[str, ...]  # paragraphs
    comparisons: tuple[ComparisonView, ...]
    home_url: str
    web_url: str
    unsubscribe_url: str
    preferences_url: str
    postal_address: str
    reason: str
    # The verdict loop, per reader history (digest.delivery.letters): the votes on the comparisons of
    # their previous edition, and the comparisons they were mailed that changed since. Empty on the web.
    voted: tuple[VotedView, ...] = ()
    changed: tuple[ChangedView, ...] = ()
    # How the HTML fits under Gmail's clipping point (digest.render.clip): the first `in_full`
    # comparisons as cards, the next `listed` as one line each linking to the web version, the
    # rest counted. None: every comparison in full (the web version, or an edition that fits).
    in_full: int | None = None
    listed: int = 0
    filtered: Filtered | None = None  # a topic edition: what it keeps to, and what is left out
    language: str = "en"  # DIGEST_LANGUAGE: the mail's `lang`
    # What the letter covers: "this week", or a fortnightly or monthly letter's "since Monday 2 March"
    # (its comparisons come from several editions: a listed one links to its own page, not to a card
    # of this edition's web version).
    period: str = THIS_WEEK

    @property
    def gathered(self) -> bool:
        return self.period != THIS_WEEK

    def line_url(self, comparison: ComparisonView) -> str:
        """Where a listed comparison's line links: its card in the web version, or its own page."""
        return comparison.url if self.gathered else f"{self.web_url}#{comparison.anchor}"

    @property
    def cards(self) -> tuple[ComparisonView, ...]:
        return self.comparisons if self.in_full is None else self.comparisons[: self.in_full]

    @property
    def lines(self) -> tuple[ComparisonView, ...]:
        """Comparisons the HTML lists in one line each, linking to their card in the web version."""
        start = len(self.cards)
        return self.comparisons[start : start + self.listed]

    @property
    def unlisted(self) -> int:
        """Comparisons the HTML only counts ("and 3 more in the web version")."""
        return len(self.comparisons) - len(self.cards) - len(self.lines)


# --- from rows to views ----------------------------------------------------------------------


@dataclass(frozen=True)
class ToolFacts:
    """One side of a comparison, as the store has it (Entry + Tool + the reviews about it)."""

    slug: str
    name: str
    category: str
    tagline: str
    panel_ship: float
    community: float | None
    entry_price: str
    reviews: Sequence[tuple[str, str, str]] = ()  # (lens, quote, verdict), in the page's order


@dataclass(frozen=True)
class ComparisonFacts:
    slug: str
    title: str
    summary: str
    url: str
    tools: Sequence[ToolFacts]
    lang: str | None = None  # a standard BCP 47 tag; None: the newsletter's language


def _verdict(tools: Sequence[ToolFacts]) -> tuple[str, str, str | None]:
    """(headline, detail, slug of the favoured tool or None)."""
    if len(tools) < 2:
        return "", "", None
    ranked = sorted(tools, key=lambda t: t.panel_ship, reverse=True)
    first, second = ranked[0], ranked[1]
    if first.panel_ship == second.panel_ship:
        return "The panel is split evenly", f"{percent(first.panel_ship)} of the panel would ship each", None
    detail = f"{percent(first.panel_ship)} vs {percent(second.panel_ship)} of the panel would ship it"
    return f"The panel favours {literal(first.name)}", detail, first.slug


def tool_view(facts: ToolFacts, comparison_slug: str, base_url: str, favoured: bool, votes: bool) -> ToolView:
    lens = quote = verdict = None
    if facts.reviews:
        lens_name, text, verdict = facts.reviews[0]
        lens, quote = lens_name.capitalize(), literal(excerpt(text))
    return ToolView(
        slug=facts.slug,
        name=literal(facts.name),
        category=literal(facts.category),
        tagline=literal(facts.tagline),
        ship=percent(facts.panel_ship),
        ship_width=max(0, min(100, round(facts.panel_ship))),
        community=percent(facts.community),
        price=literal(facts.entry_price),
        quote=quote,
        quote_lens=lens,
        quote_verdict=verdict,
        vote_url=links.vote_url(base_url, READER_TOKEN, comparison_slug, facts.slug) if votes else None,
        favoured=favoured,
    )


def comparison_view(
    position: int, facts: ComparisonFacts, base_url: str, votes: bool = True, language: str = "en"
) -> ComparisonView:
    """`language`: the newsletter's (DIGEST_LANGUAGE); a comparison in another keeps its own as `lang`."""
    headline, detail, favoured = _verdict(facts.tools)
    return ComparisonView(
        position=position,
        slug=facts.slug,
        title=literal(facts.title),
        summary=literal(facts.summary),
        url=safe_link(facts.url, base_url),
        tools=tuple(tool_view(t, facts.slug, base_url, t.slug == favoured, votes) for t in facts.tools),
        verdict=headline,
        verdict_detail=detail,
        lang=facts.lang if facts.lang != language else None,
    )


def paragraphs(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(literal(" ".join(p.split())) for p in re.split(r"\n\s*\n", text) if p.strip())


def edition_view(
    *,
    number: int,
    week: str,
    subject: str,
    preheader: str,
    intro: str | None,
    comparisons: Sequence[ComparisonView],
    newsletter_name: str,
    base_url: str,
    postal_address: str,
    language: str = "en",
) -> EditionView:
    return EditionView(
        newsletter_name=newsletter_name,
        number=number,
        week=week,
        dates=week_dates(week),
        subject=subject,
        preheader=preheader,
        intro=paragraphs(intro),
        comparisons=tuple(comparisons),
        home_url=base_url,
        web_url=f"{base_url}/editions/{number}",
        unsubscribe_url=links.unsubscribe_url(base_url, READER_TOKEN),
        preferences_url=links.preferences_url(base_url, READER_TOKEN),
        postal_address=postal_address,
        reason=f"You are getting this because you subscribed to {newsletter_name} and confirmed your address.",
        language=language,
    )


# --- the verdict loop ---------------------------------------------------------------------------


def voted_view(shot: dict, base_url: str, minimum: int) -> VotedView:
    """A comparison's dict with its readers' votes (digest.content.votes.as_shown) as "How readers voted"."""
    total = sum(tool["votes"] for tool in shot["tools"])
    enough = total >= minimum
    lines = tuple(
        VotedLine(
            name=literal(tool["name"]),
            percent=percent(100 * tool["votes"] / total) if enough else NO_VOTES,
            votes=tool["votes"],
            width=round(100 * tool["votes"] / total) if enough else 0,
        )
        for tool in shot["tools"]
    )
    plural = "vote" if total == 1 else "votes"
    note = (
        f"{total} {plural}"
        if enough
        else f"Only {total} {plural} so far: too few to call (a share is shown from {minimum} votes)"
    )
    return VotedView(literal(shot["title"]), safe_link(shot["url"], base_url), total, enough, lines, note)


def changed_view(found: dict, base_url: str, changes) -> ChangedView:
    """{"old", "new", "edition"} (digest.editions.service.changed_since) as "Changed since you read it";
    `changes` is digest.content.versions.changes."""
    rows = tuple(
        ChangeRow(
            f"{literal(c.tool)}: {c.what.lower()}" if c.tool else c.what,
            literal(excerpt(c.old, 160)),
            literal(excerpt(c.new, 160)),
        )
        for c in changes(found["old"], found["new"])
    )
    new = found["new"]
    return ChangedView(literal(new["title"]), safe_link(new["url"], base_url), found["edition"], rows)
