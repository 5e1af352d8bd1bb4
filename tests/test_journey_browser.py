"""A reader's whole journey in headless Chromium, with JavaScript turned off: the pages are plain HTML.

Subscribe on the form page, open the confirmation mail from the outbox, confirm,
change preferences, leave with one click. Screenshots of every page land in the
test's artifacts folder.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import wait_until

from digest.content.models import Tool
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.web import create_app
from digest.web.server import base_url, bind, serving
from subscribers.models import Subscriber

CATEGORIES = ("Developer Tools", "Video", "Writing", "Research")


def confirmation_link(outbox: Path, timeout: float = 10.0) -> str:
    mails = wait_until(
        lambda: sorted(outbox.glob("*.eml")) if outbox.exists() else [], timeout, "a confirmation mail in the outbox"
    )
    mail = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    return re.search(r"(http://\S+/confirm/\S+)", mail.get_body(("plain",)).get_content()).group(1)


@pytest.fixture
def store(sqlite_url):
    """SQLite, as `digest serve` runs by default (the HTTP tests cover PostgreSQL)."""
    engine = open_store(sqlite_url)
    yield engine
    engine.dispose()


def reader(engine) -> Subscriber:
    with session_scope(engine) as session:
        return session.exec(sa.select(Subscriber)).scalars().one()


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_a_reader_subscribes_confirms_chooses_topics_and_unsubscribes_in_a_browser(
    browser, artifacts, store, tmp_path, viewport
):
    engine = store
    with session_scope(engine) as session:
        for index, category in enumerate(CATEGORIES):
            session.add(
                Tool(slug=f"t{index}", name=f"T{index}", category=category, tagline="", description="", pricing="")
            )
    sock = bind()
    settings = Settings(
        database_url=str(engine.url),
        outbox=tmp_path / "outbox",
        secret_key="browser-secret",
        base_url=base_url(sock),
        subscribe_rate_limit="100/minute",
    )
    context = browser.new_context(viewport=viewport, java_script_enabled=False)
    page = context.new_page()
    try:
        with serving(create_app(settings, engine), sock) as url:
            page.goto(url + "/")
            assert page.title() == f"Subscribe · {settings.newsletter_name}"
            page.screenshot(path=artifacts / "1-subscribe.png", full_page=True)

            page.get_by_label("Email address").fill("Reader@Example.com")
            page.get_by_label("Video").check()
            page.get_by_label("Research").check()
            page.get_by_role("button", name="Subscribe").click()
            page.wait_for_load_state()
            assert page.get_by_role("heading", name="Check your inbox").is_visible()
            page.screenshot(path=artifacts / "2-check-inbox.png", full_page=True)
            assert reader(engine).status == "pending"

            page.goto(confirmation_link(settings.outbox))
            assert page.get_by_role("heading", name="Confirm your subscription").is_visible()
            assert reader(engine).status == "pending"  # opening the link confirms nothing
            page.get_by_role("button", name="Yes, subscribe me").click()
            page.wait_for_load_state()
            assert page.get_by_role("heading", name="You're in!").is_visible()
            page.screenshot(path=artifacts / "3-confirmed.png", full_page=True)
            assert reader(engine).status == "active"

            page.get_by_role("link", name="Choose your topics").click()
            page.wait_for_load_state()
            assert page.get_by_label("Video").is_checked() and page.get_by_label("Research").is_checked()
            page.get_by_label("Research").uncheck()
            page.get_by_label("Developer Tools").check()
            page.get_by_label("Time zone").fill("Europe/Paris")
            page.get_by_role("button", name="Save preferences").click()
            page.wait_for_load_state()
            assert page.get_by_role("status").filter(has_text="Your preferences are saved.").is_visible()
            page.screenshot(path=artifacts / "4-preferences-saved.png", full_page=True)
            stored = reader(engine)
            assert (stored.topics, stored.timezone) == (["Developer Tools", "Video"], "Europe/Paris")

            page.get_by_role("link", name="Unsubscribe").click()
            page.wait_for_load_state()
            assert page.get_by_role("link", name="No, keep me subscribed").is_visible()
            page.screenshot(path=artifacts / "5-unsubscribe.png", full_page=True)
            assert reader(engine).status == "active"  # the page alone changes nothing
            page.get_by_role("button", name="Unsubscribe").click()
            page.wait_for_load_state()
            assert page.get_by_role("heading", name="You're unsubscribed").is_visible()
            page.screenshot(path=artifacts / "6-unsubscribed.png", full_page=True)
            assert reader(engine).status == "unsubscribed"

            page.goto(url + "/")
            page.get_by_label("Email address").fill("not an address")
            page.get_by_role("button", name="Subscribe").click()
            page.wait_for_load_state()
            assert "is not a valid email address" in page.get_by_role("alert").first.inner_text()
            page.screenshot(path=artifacts / "7-subscribe-error.png", full_page=True)
    finally:
        context.close()
