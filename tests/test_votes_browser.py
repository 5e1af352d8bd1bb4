"""Votes in headless Chromium, as a reader clicks them from the email: the link's page asks, its button
votes; once counts once, the other moves it."""

from __future__ import annotations

import pytest
from helpers import add_reader, comparison, mailed, serve_site

from digest.store import session_scope
from subscribers.links import vote_url

SLUG = "relaybench-vs-quillpatch"


@pytest.fixture
def site(sqlite_url):
    with serve_site(sqlite_url) as site:
        with session_scope(site.engine) as session:
            comparison(session, SLUG, "2026-11-18 09:00", left="relaybench", right="quillpatch")
        yield site


def voter(site, address: str, **options) -> tuple[int, str]:
    """A reader who was mailed the comparison (so their votes count); returns (id, token)."""
    reader, token = add_reader(site.engine, address, **options)
    mailed(site.engine, [reader], (SLUG,))
    return reader, token


def split_of(page) -> dict[str, str]:
    return {
        line.get_attribute("data-tool"): line.locator(".split-votes").inner_text()
        for line in page.locator(".split-line").all()
    }


def test_a_reader_votes_changes_their_mind_and_a_tampered_link_is_refused(site, browser, artifacts):
    _, token = voter(site, "ada@example.com")
    _, other = voter(site, "bob@example.com")
    site.http.post(vote_url(site.url, other, SLUG, "quillpatch"))  # someone else already voted
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        answer = page.goto(vote_url(site.url, token, SLUG, "relaybench"))
        assert answer.status == 200
        assert split_of_store(site) == {"relaybench": 0, "quillpatch": 1}  # opening the link records nothing
        page.get_by_role("button", name="I’d ship Relaybench").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Thanks, your vote for Relaybench is in"
        assert split_of(page) == {"relaybench": "1", "quillpatch": "1"}
        page.screenshot(path=str(artifacts / "voted.png"), full_page=True)

        page.goto(vote_url(site.url, token, SLUG, "relaybench"))  # the same link again counts once
        page.get_by_role("button", name="I’d ship Relaybench").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Your vote for Relaybench stands"
        assert split_of(page) == {"relaybench": "1", "quillpatch": "1"}

        page.locator("button.vote-other").click()  # "vote for Quillpatch instead"
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Vote moved to Quillpatch"
        assert split_of(page) == {"relaybench": "0", "quillpatch": "2"}
        assert page.locator(".split-chosen").get_attribute("data-tool") == "quillpatch"
        page.screenshot(path=str(artifacts / "moved.png"), full_page=True)

        tampered = token[:-2] + ("xy" if token[-2:] != "xy" else "yz")
        refused = page.goto(vote_url(site.url, tampered, SLUG, "relaybench"))
        assert refused.status == 404
        assert page.locator("h1").inner_text() == "This voting link does not work"
        assert "not valid" in page.locator("main").inner_text()
        page.screenshot(path=str(artifacts / "refused.png"), full_page=True)
        assert split_of_store(site) == {"relaybench": 0, "quillpatch": 2}
    finally:
        page.close()


def split_of_store(site) -> dict[str, int]:
    from sqlmodel import select

    from digest.content.models import Comparison
    from digest.content.votes import reader_votes

    with session_scope(site.engine) as session:
        found = session.exec(select(Comparison).where(Comparison.slug == SLUG)).one()
        return {slug: share.votes for slug, share in reader_votes(session, found.id).items()}
