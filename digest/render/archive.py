"""Past editions for everyone: a list, each edition as a web page, and an Atom feed.

An edition is public once it has started going out (any status but draft), so
the "View in your browser" link of every email that left works. The web page is
the email itself, from the comparisons as the edition froze them (figures as
mailed: votes and re-imports since change nothing), with no reader in it: the
vote buttons and the reader's part of the verdict loop are left out and every
per-reader placeholder is blanked. An edition is dated by when it froze (its
first wave left), which never changes. The archive
lists each edition's week as dates and links to each of its comparisons; each
feed entry carries the web page's HTML as its content.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from digest.content.models import Comparison
from digest.editions.models import Edition, EditionItem
from digest.editions.service import edition_comparisons
from digest.editions.status import EditionStatus
from digest.errors import NotFound
from digest.mail.placeholders import READER_TOKEN
from digest.render import compose, render_view
from digest.render.context import literal, safe_link, week_dates
from digest.render.headline import subject_line
from digest.render.store import comparison_facts
from digest.settings import Settings

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 20
_BODY = re.compile(r"(<body\b[^>]*>)(.*)(</body>)", re.S)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Text XML 1.0 can carry: the control characters it forbids are dropped."""
    return _NOT_XML.sub("", text)


@dataclass(frozen=True)
class ArchivedComparison:
    title: str
    url: str  # the comparison's page on the publisher's site
    lang: str | None = None  # its own language where the import gave one (digest.language)


@dataclass(frozen=True)
class ArchivedEdition:
    number: int
    week: str
    subject: str
    titles: tuple[str, ...]
    published: datetime  # when its first wave left (it froze), never changed afterwards
    comparisons: tuple[ArchivedComparison, ...] = ()

    @property
    def dates(self) -> str:
        """The week it covers, as dates: '16–22 Nov 2026'."""
        return week_dates(self.week)


def _public(query):
    return query.where(Edition.status != EditionStatus.DRAFT)


def archived_editions(session: Session, limit: int | None = None) -> list[ArchivedEdition]:
    """Public editions, newest first, with their subject and comparison titles (two queries)."""

    query = _public(select(Edition)).order_by(Edition.number.desc())
    editions = list(session.exec(query.limit(limit) if limit else query).all())
    if not editions:
        return []
    rows = session.exec(
        sa.select(EditionItem.edition_id, Comparison.title, Comparison.url, Comparison.lang)
        .join(Comparison, Comparison.id == EditionItem.comparison_id)
        .where(EditionItem.edition_id.in_([e.id for e in editions]), EditionItem.included == sa.true())
        .order_by(EditionItem.edition_id, EditionItem.position)
    ).all()
    shown: dict[int, list[ArchivedComparison]] = defaultdict(list)
    for edition_id, title, url, lang in rows:  # no control characters (they are not XML), only http(s) links
        shown[edition_id].append(ArchivedComparison(literal(title), safe_link(url, ""), lang))
    return [
        ArchivedEdition(
            e.number,
            e.week,
            subject_line([c.title for c in shown[e.id]], e.subject),
            tuple(c.title for c in shown[e.id]),
            e.frozen_at or e.sent_at or e.built_at,
            tuple(shown[e.id]),
        )
        for e in editions
    ]


def public_edition(session: Session, number: int) -> Edition:
    edition = session.exec(_public(select(Edition)).where(Edition.number == number)).first()
    if edition is None:
        raise NotFound(f"There is no edition {number} in the archive (yet).")
    return edition


def as_web_page(html: str) -> str:
    """The email's HTML as a page: its content inside a `main` landmark, which screen readers jump
    to (an email has no landmarks of its own; its masthead already carries the page's h1)."""
    return _BODY.sub(lambda m: f"{m[1]}<main>{m[2]}</main>{m[3]}", html, count=1)


def web_version(session: Session, settings: Settings, number: int) -> str:
    """The edition's HTML as readers got it, minus anything of a reader's."""
    return web_html(session, settings, public_edition(session, number))


def web_html(session: Session, settings: Settings, edition: Edition) -> str:
    view = compose(
        number=edition.number,
        week=edition.week,
        settings=settings,
        subject=edition.subject,
        intro=edition.intro,
        votes=False,
        facts=comparison_facts(session, edition_comparisons(session, edition), edition.id),
    )
    # No reader here: the footer offers a subscribe link instead of a reader's own links.
    view = replace(
        view,
        unsubscribe_url="",
        preferences_url="",
        reason=f"This is the web version of edition {edition.number} of {settings.newsletter_name}.",
    )
    # A web page is never clipped: every card, in full.
    html, _text, _source = render_view(view, override=settings.templates, limit=None)
    return as_web_page(html.replace(READER_TOKEN, ""))


def feed_contents(session: Session, settings: Settings, entries: Sequence[ArchivedEdition]) -> dict[int, str]:
    """Edition number -> its web version's HTML, for the feed's entries."""
    editions = (
        {
            e.number: e
            for e in session.exec(select(Edition).where(Edition.number.in_([entry.number for entry in entries]))).all()
        }
        if entries
        else {}
    )
    return {number: web_html(session, settings, edition) for number, edition in editions.items()}


def atom_feed(
    entries: Sequence[ArchivedEdition], settings: Settings, updated: datetime, contents: dict[int, str] | None = None
) -> bytes:
    """An Atom 1.0 document (RFC 4287) of `entries`, each with its HTML from `contents` when given.

    ElementTree does the escaping: the HTML travels as escaped text (type="html")."""
    ET.register_namespace("", ATOM)

    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", f"{settings.base_url}/editions/")
    sub(feed, "title", settings.newsletter_name)
    sub(feed, "updated", (entries[0].published if entries else updated).isoformat())
    sub(feed, "link", rel="self", href=f"{settings.base_url}/feed.xml")
    sub(feed, "link", rel="alternate", type="text/html", href=f"{settings.base_url}/editions/")
    author = sub(feed, "author")
    sub(author, "name", settings.newsletter_name)
    for entry in entries:
        url = f"{settings.base_url}/editions/{entry.number}"
        item = sub(feed, "entry")
        sub(item, "id", url)
        sub(item, "title", f"#{entry.number}: {entry.subject}")
        sub(item, "updated", entry.published.isoformat())
        sub(item, "published", entry.published.isoformat())
        sub(item, "link", rel="alternate", type="text/html", href=url)
        sub(item, "summary", "; ".join(entry.titles) or entry.subject)
        if contents and entry.number in contents:
            sub(item, "content", _xml_text(contents[entry.number]), type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
