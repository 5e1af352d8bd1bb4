"""WCAG 2.2 AA, as axe-core (npm, injected into real Chromium) judges it: every page of the site, the
email's web version, the email itself and the editor's preview page have no serious or critical
violation. Plus what axe does not check on its own: the web version's h1 and main landmark, and the
preview's text box reached with the Tab key."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import add_reader, axe_violations, comparison, mailed, scaled, serve_site, severe

from digest.delivery.confirmations import CONFIRM_URL, render_confirmation
from digest.editions.models import Edition
from digest.editions.service import build_edition
from digest.errors import EditionError
from digest.mail.message import fill
from digest.mail.placeholders import reader_substitutions
from digest.render import render_edition
from digest.render.preview import PreviewServer, preview_server
from digest.settings import Settings
from digest.store import session_scope
from subscribers.links import confirm_url, keep_url, preferences_url, unsubscribe_url, vote_url
from subscribers.tokens import ConfirmationTokens

ADMIN = "editor-token-for-the-stats-page"
SLUG = "relaybench-vs-quillpatch"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('a11y') / 'digest.db'}"
    with serve_site(url, admin_token=ADMIN) as site:
        with session_scope(site.engine) as session:
            comparison(
                session,
                SLUG,
                "2026-11-17 09:00",
                left="relaybench",
                right="quillpatch",
                tool_fields=({"category": "Testing"}, {"category": "Agents"}),
            )
            comparison(session, "lumen-vs-orbit", "2026-11-18 09:00", left="lumen", right="orbit", community=(12, None))
            edition = build_edition(session, site.settings, "2026-W47").edition
            edition.status = "sent"  # public: in the archive
        yield site


def reader(site, status: str = "active") -> str:
    """A new reader's token (each page gets its own reader, so pages do not disturb one another)."""
    reader.count = getattr(reader, "count", 0) + 1
    found, token = add_reader(site.engine, f"reader{reader.count}-{status}@example.com", status=status)
    mailed(site.engine, [found], [SLUG])  # they got the comparison, so their vote link counts
    return token


def signed(site, token: str) -> str:
    return ConfirmationTokens(site.settings.secret_key).make(token)


def press(page, button: str) -> None:
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


# Each page a visitor can reach: how to get there (a GET, or a GET then the button on that page).
PAGES = {
    "subscribe": lambda page, site: page.goto(site.url + "/"),
    "subscribe-with-errors": lambda page, site: (
        page.goto(site.url + "/"),
        page.fill("#email", "not-an-address"),
        press(page, "Subscribe"),
    ),
    "check-inbox": lambda page, site: (
        page.goto(site.url + "/"),
        page.fill("#email", "new@example.com"),
        press(page, "Subscribe"),
    ),
    "confirm": lambda page, site: page.goto(confirm_url(site.url, signed(site, reader(site, "pending")))),
    "confirmed": lambda page, site: (
        page.goto(confirm_url(site.url, signed(site, reader(site, "pending")))),
        press(page, "Yes, subscribe me"),
    ),
    "bad-confirmation-link": lambda page, site: page.goto(site.url + "/confirm/not-a-link"),
    "preferences": lambda page, site: page.goto(preferences_url(site.url, reader(site))),
    "preferences-saved": lambda page, site: (
        page.goto(preferences_url(site.url, reader(site))),
        press(page, "Save preferences"),
    ),
    "unsubscribe": lambda page, site: page.goto(unsubscribe_url(site.url, reader(site))),
    "unsubscribed": lambda page, site: (page.goto(unsubscribe_url(site.url, reader(site))), press(page, "Unsubscribe")),
    "keep-sending": lambda page, site: page.goto(keep_url(site.url, reader(site))),
    "kept": lambda page, site: (page.goto(keep_url(site.url, reader(site))), press(page, "Keep sending")),
    "vote": lambda page, site: page.goto(vote_url(site.url, reader(site), SLUG, "relaybench")),
    "voted": lambda page, site: (
        page.goto(vote_url(site.url, reader(site), SLUG, "relaybench")),
        press(page, "I’d ship Relaybench"),
    ),
    "vote-refused": lambda page, site: page.goto(vote_url(site.url, reader(site, "unsubscribed"), SLUG, "relaybench")),
    "archive": lambda page, site: page.goto(site.url + "/editions/"),
    "web-version": lambda page, site: page.goto(site.url + "/editions/1"),
    "stats": lambda page, site: page.goto(site.url + f"/stats?token={ADMIN}"),
    "not-found": lambda page, site: page.goto(site.url + "/no-such-page"),
}


@pytest.fixture(scope="module")
def context(browser):
    # The site's Content-Security-Policy forbids scripts (it has none); the injected axe-core is the test's.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1024, "height": 800})
    yield context
    context.close()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_no_serious_or_critical_axe_violation(name, site, context, axe_script, artifacts):
    page = context.new_page()
    try:
        PAGES[name](page, site)
        found = axe_violations(page, axe_script)
        print(f"{name}: {len(found)} violations {[(v['id'], v['impact']) for v in found]}")
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        assert severe(found) == [], severe(found)
    finally:
        page.close()


def test_the_web_version_has_one_h1_a_main_landmark_and_its_content_in_it(site, context):
    page = context.new_page()
    try:
        page.goto(site.url + "/editions/1")
        assert page.locator("h1").count() == 1
        assert page.locator("h1").inner_text() == site.settings.newsletter_name
        assert page.get_by_role("main").count() == 1
        assert page.get_by_role("main").get_by_role("heading", name="Relaybench Vs Quillpatch").is_visible()
        assert page.get_by_role("main").get_by_role("link", name="Subscribe").is_visible()
    finally:
        page.close()


def _mails(site) -> dict[str, str]:
    with session_scope(site.engine) as session:
        letter = render_edition(session, session.get(Edition, 1), site.settings).letter
    confirmation = render_confirmation(site.settings)
    return {
        "edition": fill(letter.html, reader_substitutions("t" * 43)),
        "confirmation": fill(confirmation.html, {CONFIRM_URL: site.url + "/confirm/abc"}),
    }


@pytest.mark.parametrize("width", [375, 800])
def test_the_mails_themselves_have_no_serious_or_critical_axe_violation(site, browser, axe_script, width):
    for name, html in _mails(site).items():
        page = browser.new_page(viewport={"width": width, "height": 900})
        try:
            page.set_content(html, wait_until="load")
            found = axe_violations(page, axe_script)
            print(f"{name} mail at {width}px: {len(found)} violations {[(v['id'], v['impact']) for v in found]}")
            assert severe(found) == [], (name, severe(found))
        finally:
            page.close()


@pytest.fixture
def preview_page(site):
    settings = replace(site.settings, base_url="https://news.example.com")
    with preview_server(site.engine, settings, port=0, number=1).running() as server:
        yield server


def test_the_preview_page_has_no_serious_or_critical_violation_and_its_text_box_takes_the_keyboard(
    preview_page, context, axe_script, artifacts
):
    page = context.new_page()
    try:
        page.goto(preview_page.url)
        found = axe_violations(page, axe_script)
        print(f"preview: {len(found)} violations {[(v['id'], v['impact']) for v in found]}")
        assert severe(found) == [], severe(found)
        for _ in range(400):  # Tab through the page (and the two email frames) until the text part
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement && document.activeElement.id") == "text":
                break
        else:
            pytest.fail("the Tab key never reached the plain-text part")
        text = "document.getElementById('text')"
        assert page.evaluate(f"{text}.scrollHeight > {text}.clientHeight")  # there is something to scroll
        page.keyboard.press("PageDown")  # and a keyboard user can scroll it (smoothly: wait for it to move)
        page.wait_for_function(f"{text}.scrollTop > 0", timeout=scaled(5000))
        page.screenshot(path=str(artifacts / "preview-text-focused.png"))
    finally:
        page.close()


def test_the_preview_error_page_has_no_serious_or_critical_violation(context, axe_script):
    def broken(_variant=None):  # the server asks for a variant, or None for the whole edition
        raise EditionError("templates/email/_footer.mjml.j2, line 1: unexpected end of template")

    with PreviewServer(broken, Settings(), port=0).running() as server:
        page = context.new_page()
        try:
            page.goto(server.url)
            assert severe(axe_violations(page, axe_script)) == []
        finally:
            page.close()
