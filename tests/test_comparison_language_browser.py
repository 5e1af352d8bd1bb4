"""A comparison in another language than the newsletter's, in real Chromium with axe-core: the archive,
the web version and the vote page declare it (`lang`, and `dir="rtl"` for Arabic), axe's `valid-lang` rule and the
rest find nothing serious at 375 and 1280 px, and the Arabic card reads right to left."""

from __future__ import annotations

import pytest
from helpers import add_reader, axe_violations, comparison, mailed, serve_site, severe

from digest.editions.service import build_edition
from digest.store import session_scope
from subscribers.links import vote_url

ARABIC = {"title": "ريلاي مقابل كويل", "summary": "أيهما تختار لفريقك هذا الأسبوع؟"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('lang') / 'digest.db'}"
    with serve_site(url) as site:
        with session_scope(site.engine) as session:
            comparison(session, "relay-vs-quill", "2026-11-17 09:00", **ARABIC).lang = "ar"
            comparison(session, "lumen-vs-orbit", "2026-11-18 09:00", title="Lumen contre Orbit").lang = "fr"
            comparison(session, "plain-vs-simple", "2026-11-18 10:00", title="Plain vs Simple")
            build_edition(session, site.settings, "2026-W47").edition.status = "sent"
        found, token = add_reader(site.engine, "reader@example.com")
        mailed(site.engine, [found], ["relay-vs-quill"])  # so their vote link counts
        site.vote_path = vote_url("", token, "relay-vs-quill", "relay-vs-quill-left")
        yield site


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("path", ["/editions/", "/editions/1", "vote"])
def test_declared_languages_are_valid_and_the_pages_stay_clean(site, browser, axe_script, artifacts, width, path):
    context = browser.new_context(bypass_csp=True, viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(site.url + (site.vote_path if path == "vote" else path))
        declared = page.eval_on_selector_all(
            "body [lang]", "els => els.map(e => [e.getAttribute('lang'), e.getAttribute('dir'), e.textContent])"
        )
        langs = {lang for lang, _, _ in declared} - {site.settings.language}
        assert langs == ({"ar"} if path == "vote" else {"ar", "fr"}), declared
        assert all(way == "rtl" for lang, way, _ in declared if lang == "ar")
        arabic = page.locator('[lang="ar"]', has_text=ARABIC["title"]).first
        assert arabic.evaluate("e => getComputedStyle(e).direction") == "rtl"
        if path != "vote":
            assert page.get_by_text("Plain vs Simple").first.evaluate("e => e.closest('[lang]').lang") == "en"
        found = axe_violations(page, axe_script)
        name = path.strip("/").replace("/", "-")
        page.screenshot(path=str(artifacts / f"lang-{name}-{width}.png"), full_page=True)
        assert [v for v in found if v["id"] in ("valid-lang", "html-lang-valid", "html-xml-lang-mismatch")] == []
        assert severe(found) == [], severe(found)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
