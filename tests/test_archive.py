"""The public archive: /editions/ with each edition's dates and comparisons, each edition as a web page with no
reader in it, and /feed.xml whose entries carry that page."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa
from helpers import comparison, serve_site

from digest.editions.models import Edition
from digest.editions.service import build_edition
from digest.mail.placeholders import READER_TOKEN
from digest.render import render_edition
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.archive import EDITION_CSP

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = "Alpha <script>alert(1)</script> & Beta"


@pytest.fixture
def site(db_url):
    with serve_site(db_url) as site:
        with session_scope(site.engine) as session:
            comparison(session, "alpha-vs-beta", "2026-11-18 09:00", title=HOSTILE)
            comparison(session, "gamma-vs-delta", "2026-11-19 09:00")
            build_edition(session, site.settings, "2026-W47")
            comparison(session, "epsilon-vs-zeta", "2026-11-25 09:00")
            build_edition(session, site.settings, "2026-W48")  # edition 2 stays a draft
        table = Edition.__table__
        with site.engine.begin() as connection:
            connection.execute(sa.update(table).where(table.c.number == 1).values(status="sent", sent_at=utcnow()))
        yield site


def test_the_archive_lists_editions_that_went_out_and_no_drafts(site):
    page = site.http.get("/editions/")
    assert page.status_code == 200
    assert 'href="/editions/1"' in page.text
    assert 'href="/editions/2"' not in page.text
    assert "Gamma Vs Delta Left vs Gamma Vs Delta Right, and 1 more" in page.text
    assert "<script>alert" not in page.text
    assert site.http.get("/editions", follow_redirects=False).headers["location"] == "/editions/"


def test_an_edition_web_page_is_the_email_with_no_reader_in_it(site):
    page = site.http.get("/editions/1")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == EDITION_CSP
    assert "Alpha &lt;script&gt;alert(1)&lt;/script&gt; &amp; Beta" in page.text
    assert "<script>" not in page.text
    assert READER_TOKEN not in page.text
    assert "/vote/" not in page.text  # votes belong to readers, so the buttons are left out
    # no dead reader links: a subscribe link stands where a reader's own links would be
    assert "/unsubscribe/" not in page.text and "/preferences/" not in page.text
    assert ">Subscribe</a>" in page.text
    assert "Gamma Vs Delta Left" in page.text


def test_every_email_links_to_a_web_version_that_works(site):
    with session_scope(site.engine) as session:
        letter = render_edition(
            session, session.exec(sa.select(Edition).where(Edition.number == 1)).scalar_one(), site.settings
        ).letter
    web_url = f"{site.url}/editions/1"
    assert web_url in letter.html and web_url in letter.text
    assert site.http.get(web_url).status_code == 200


MISSING = {
    "/editions/2": "There is no edition 2 in the archive",  # a draft
    "/editions/99": "There is no edition 99 in the archive",
    "/editions/abc": "abc&#39; is not an edition number",
    "/editions/0": "0&#39; is not an edition number",
    "/editions/" + "9" * 30: "is not an edition number",
}


def test_a_missing_or_unsent_edition_is_a_clear_404(site):
    for path, message in MISSING.items():
        page = site.http.get(path)
        assert page.status_code == 404, path
        assert message in page.text, path


def test_the_feed_is_atom_with_one_entry_per_edition_that_went_out(site):
    answer = site.http.get("/feed.xml")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(answer.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.find(f"{ATOM}title").text == site.settings.newsletter_name
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 1
    entry = entries[0]
    assert entry.find(f"{ATOM}id").text == f"{site.url}/editions/1"
    assert entry.find(f"{ATOM}link").get("href") == f"{site.url}/editions/1"
    assert entry.find(f"{ATOM}title").text.startswith("#1: ")
    assert HOSTILE in entry.find(f"{ATOM}summary").text  # escaped by the XML writer, read back intact
    assert site.http.get(entry.find(f"{ATOM}link").get("href")).status_code == 200


def test_the_web_version_renders_with_its_styles_in_chromium(sqlite_url, browser, artifacts):
    with serve_site(sqlite_url) as site:
        with session_scope(site.engine) as session:
            comparison(session, "alpha-vs-beta", "2026-11-18 09:00")
            build_edition(session, site.settings, "2026-W47")
        with site.engine.begin() as connection:
            connection.execute(sa.update(Edition.__table__).values(status="sent"))
        page = browser.new_page(viewport={"width": 800, "height": 1000})
        refused = []
        page.on(
            "console",
            lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
        )
        try:
            assert page.goto(f"{site.url}/editions/1").status == 200
            assert "Alpha Vs Beta Left" in page.locator("body").inner_text()
            assert refused == []  # the email's inline styles are allowed on this page
            page.screenshot(path=str(artifacts / "edition-1.png"), full_page=True)
            assert page.goto(f"{site.url}/editions/").status == 200
            page.locator("a[href='/editions/1']").click()
            page.wait_for_load_state()
            assert page.url.endswith("/editions/1")
        finally:
            page.close()


def test_the_archive_shows_each_editions_dates_and_links_to_each_comparison(site):
    page = site.http.get("/editions/")
    assert '<time datetime="2026-W47">16–22 Nov 2026</time>' in page.text
    assert '<a href="https://verdicts.example.com/compare/alpha-vs-beta">' in page.text
    assert '<a href="https://verdicts.example.com/compare/gamma-vs-delta">' in page.text
    assert "Alpha &lt;script&gt;alert(1)&lt;/script&gt; &amp; Beta" in page.text
    assert "epsilon-vs-zeta" not in page.text  # edition 2 is a draft


def test_each_feed_entry_carries_the_editions_web_version_as_its_content(site):
    entry = ET.fromstring(site.http.get("/feed.xml").content).find(f"{ATOM}entry")
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    assert content.text == site.http.get("/editions/1").text  # the web page itself, escaped and read back
    assert "Gamma Vs Delta Left" in content.text and "Alpha &lt;script&gt;" in content.text
    assert READER_TOKEN not in content.text and "/unsubscribe/" not in content.text and "/vote/" not in content.text
