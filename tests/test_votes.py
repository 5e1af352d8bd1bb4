"""Votes from the inbox over real HTTP: the link asks, its button records, a second vote moves it,
a bad link is refused."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import add_reader, comparison, mailed, serve_site

from digest.cli import main
from digest.content.models import Vote
from digest.content.votes import MIN_VOTES, READERS, SITE, Share, community, shares
from digest.store import session_scope
from subscribers.links import vote_url

SLUG, LEFT, RIGHT = "relaybench-vs-quillpatch", "relaybench", "quillpatch"


@pytest.fixture
def site(db_url):
    with serve_site(db_url) as site:
        with session_scope(site.engine) as session:
            comparison(session, SLUG, "2026-11-18 09:00", left=LEFT, right=RIGHT, community=(None, None))
            comparison(session, "other-vs-thing", "2026-11-18 10:00", left="other", right="thing")
        yield site


def voter(site, address: str, **options) -> tuple[int, str]:
    """A reader who was mailed the comparisons (so their votes count); returns (id, token)."""
    reader, token = add_reader(site.engine, address, **options)
    mailed(site.engine, [reader], (SLUG, "other-vs-thing"))
    return reader, token


def words(page: str) -> str:
    """A page's text without its tags."""
    return " ".join(re.sub(r"<[^>]+>", "", page).split())


def link(site, token: str, tool: str, comparison_slug: str = SLUG) -> str:
    return vote_url(site.url, token, comparison_slug, tool)


def votes(site) -> list[tuple[int, str]]:
    from digest.content.models import Tool

    with site.engine.connect() as connection:
        rows = connection.execute(
            sa.select(Vote.__table__.c.subscriber_id, Tool.__table__.c.slug)
            .join(Tool.__table__, Tool.__table__.c.id == Vote.__table__.c.tool_id)
            .order_by(Vote.__table__.c.subscriber_id)
        )
        return [tuple(row) for row in rows]


def test_a_click_counts_once(site):
    reader, token = voter(site, "ada@example.com")
    first = site.http.post(link(site, token, LEFT))
    again = site.http.post(link(site, token, LEFT))
    assert first.status_code == again.status_code == 200
    assert "your vote for Relaybench is in" in first.text
    assert "Your vote for Relaybench stands" in again.text
    assert votes(site) == [(reader, LEFT)]
    split = site.http.post(link(site, token, LEFT), headers={"Accept": "application/json"}).json()
    assert split["change"] == "unchanged"
    assert split["split"] == [{"tool": LEFT, "votes": 1, "percent": 100.0}, {"tool": RIGHT, "votes": 0, "percent": 0.0}]


def test_opening_a_vote_link_records_nothing_and_its_page_has_one_button_that_votes(site):
    # Mail security scanners (Safe Links, Mimecast, Proofpoint) open every link in a message.
    _, token = voter(site, "ada@example.com")
    for tool in (LEFT, RIGHT, LEFT):
        page = site.http.get(link(site, token, tool))
        assert page.status_code == 200
        assert page.text.count("<form") == 1 and page.text.count("<button") == 1
        assert f'method="post" action="/vote/{token}/{SLUG}/{tool}"' in page.text
        assert "<script" not in page.text
    assert votes(site) == []
    asked = site.http.get(link(site, token, RIGHT), headers={"Accept": "application/json"}).json()
    assert (asked["tool"], asked["your_vote"]) == (RIGHT, None)
    site.http.post(link(site, token, LEFT))
    assert "Your vote for Relaybench is already in" in words(site.http.get(link(site, token, LEFT)).text)
    assert "moves your vote to Quillpatch" in words(site.http.get(link(site, token, RIGHT)).text)
    assert site.http.get(link(site, token, RIGHT), headers={"Accept": "application/json"}).json()["your_vote"] == LEFT
    assert len(votes(site)) == 1


def test_a_click_on_the_other_tool_moves_the_vote(site):
    reader, token = voter(site, "ada@example.com")
    site.http.post(link(site, token, LEFT))
    moved = site.http.post(link(site, token, RIGHT), headers={"Accept": "application/json"})
    assert moved.status_code == 200
    assert moved.json()["change"] == "moved"
    assert moved.json()["votes"] == 1
    assert votes(site) == [(reader, RIGHT)]


def test_the_thank_you_page_shows_the_current_split(site):
    for name, tool in (("a", LEFT), ("b", LEFT), ("c", RIGHT)):
        _, token = voter(site, f"{name}@example.com")
        page = site.http.post(link(site, token, tool))
    assert page.status_code == 200
    assert "66.7%" in page.text and "33.3%" in page.text
    assert "3 readers voted" in page.text
    assert f'method="post" action="/vote/{token}/{SLUG}/{LEFT}"' in page.text  # the way to change one's mind


def test_tampered_unknown_and_left_readers_links_are_refused(site):
    _, token = voter(site, "ada@example.com")
    _, gone = voter(site, "gone@example.com", status="unsubscribed")
    _, bounced = voter(site, "bounced@example.com", status="bounced")
    _, pending = voter(site, "new@example.com", status="pending")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    cases = [
        (link(site, tampered, LEFT), 404, "This voting link is not valid"),
        (link(site, token[:20], LEFT), 404, "This voting link is not valid"),
        (link(site, token, LEFT, "no-such-comparison"), 404, "names a comparison we do not have"),
        (link(site, token, "thing"), 404, "names a tool that is not in"),
        (link(site, token, LEFT + "x" * 500), 404, "longer than any link we send"),
        (link(site, gone, LEFT), 403, "This subscription has ended"),
        (link(site, bounced, LEFT), 403, "This subscription has ended"),
        (link(site, pending, LEFT), 403, "not confirmed yet"),
    ]
    for url, status, message in cases:
        for method in (site.http.get, site.http.post):
            page = method(url)
            assert page.status_code == status, (method, url, page.status_code)
            assert message in page.text, (url, page.text[:500])
            assert "<h1>" in page.text  # a page in the site's layout, not a bare error
    assert votes(site) == []


def test_shares_are_each_tools_fraction_of_the_votes():
    assert shares({1: 2, 2: 1}) == {1: Share(2, 66.7), 2: Share(1, 33.3)}
    assert shares({1: 0, 2: 0}) == {1: Share(0, 0.0), 2: Share(0, 0.0)}


def test_the_community_figure_has_one_source_for_both_tools():
    site = {"a": None, "b": 40.0}  # the site's page: "—" for a, 40% for b
    few = community(site, {"a": 3})
    assert (few.source, few.figures, few.total, few.enough) == (SITE, {"a": None, "b": 40.0}, 3, False)
    enough = community(site, {"a": MIN_VOTES - 1, "b": 1})
    assert (enough.source, enough.figures) == (READERS, {"a": 80.0, "b": 20.0})  # never 80% next to the site's 40%
    assert community(site, {}).votes == {"a": 0, "b": 0}


def test_comparisons_show_fills_the_community_column_from_votes(db_url, cli_env):
    with serve_site(db_url) as site:
        with session_scope(site.engine) as session:
            comparison(session, SLUG, "2026-11-18 09:00", left=LEFT, right=RIGHT, community=(None, None))
        for name, tool in (("a", LEFT), ("b", LEFT), ("c", LEFT), ("d", RIGHT), ("e", RIGHT)):
            _, token = voter(site, f"{name}@example.com")
            assert site.http.post(link(site, token, tool)).status_code == 200
    shown = CliRunner().invoke(main, ["comparisons", "show", SLUG])
    assert shown.exit_code == 0, shown.output
    table = shown.output.split("panel ship", 1)[1].splitlines()[1:3]  # the two rows under the header
    assert [row.split()[:4] for row in table] == [["Relaybench", "75%", "60%", "3"], ["Quillpatch", "100%", "40%", "2"]]
    assert "(community: readers' votes)" in shown.output
    data = json.loads(CliRunner().invoke(main, ["comparisons", "show", SLUG, "--json"]).stdout)
    assert [(t["slug"], t["votes"], t["vote_share"], t["community"], t["community_now"]) for t in data["tools"]] == [
        (LEFT, 3, 60.0, None, 60.0),
        (RIGHT, 2, 40.0, None, 40.0),
    ]
    assert data["community_source"] == READERS


def test_editions_and_the_vote_page_show_one_community_figure_from_one_source(db_url):
    with serve_site(db_url) as site:
        with session_scope(site.engine) as session:
            comparison(session, SLUG, "2026-11-18 09:00", left=LEFT, right=RIGHT, community=(None, 40))
        seen = [_community_cells(site)]
        for n in range(MIN_VOTES):
            _, token = voter(site, f"r{n}@example.com")
            page = site.http.post(link(site, token, LEFT if n else RIGHT))
            seen.append(_community_cells(site))
    assert seen[0] == seen[MIN_VOTES - 1] == ["—", "40%"]  # the site's figures, both, until enough readers vote
    assert seen[MIN_VOTES] == ["80%", "20%"]  # then readers' votes, both: never one of each
    assert "Community figure now, as the newsletter shows it" in page.text and "from readers' votes" in page.text
    assert "80%" in words(page.text) and "20%" in words(page.text)


def _community_cells(site) -> list[str]:
    from sqlmodel import select

    from digest.content.models import Comparison
    from digest.render import render_comparisons

    with session_scope(site.engine) as session:
        found = session.exec(select(Comparison).where(Comparison.slug == SLUG)).all()
        rendered = render_comparisons(session, site.settings, number=9, week="2026-W47", comparisons=found)
    return [tool.community for tool in rendered.view.comparisons[0].tools]


def test_the_vote_links_in_a_readers_email_record_their_vote_in_one_click(site):
    import re

    from digest.delivery import send_edition
    from digest.editions.service import build_edition
    from digest.mail.memory import MemorySender
    from digest.mail.message import fill
    from digest.mail.placeholders import reader_substitutions

    reader, token = add_reader(site.engine, "ada@example.com")
    with session_scope(site.engine) as session:
        number = build_edition(session, site.settings, "2026-W47").edition.number
    assert site.http.post(link(site, token, RIGHT)).status_code == 404  # not mailed yet: unknown to them
    sender = MemorySender()
    send_edition(site.engine, site.settings, number, sender=sender)
    [sent] = sender.sent
    html = fill(sent.letter.html, reader_substitutions(token))
    links = re.findall(r'href="(' + re.escape(site.url) + r'/vote/[^"]+)"', html)
    assert link(site, token, LEFT) in links and link(site, token, RIGHT) in links
    assert site.http.post(link(site, token, RIGHT)).status_code == 200
    assert votes(site) == [(reader, RIGHT)]


def test_a_comparison_the_reader_cannot_see_answers_exactly_like_an_unknown_one(site):
    """Not published yet, published but mailed to someone else, or in an edition the reader got but not
    in their variant: the same status and the same bytes as a slug we do not have (issue 22, item 5)."""
    from helpers import ledger_rows

    from digest.content.models import Comparison
    from digest.editions.service import variant_id

    with session_scope(site.engine) as session:
        comparison(session, "future-vs-thing", "2099-01-01 09:00", left="future", right="thing")
        comparison(session, "elsewhere-vs-thing", "2026-11-18 11:00", left="elsewhere", right="thing")
        comparison(session, "topical-vs-thing", "2026-11-18 12:00", left="topical", right="thing")
    reader, token = add_reader(site.engine, "ada@example.com")
    other, _ = add_reader(site.engine, "bob@example.com")
    mailed(site.engine, [other], ["elsewhere-vs-thing"])
    number = mailed(site.engine, [reader, other], [SLUG, "topical-vs-thing"])
    with session_scope(site.engine) as session:  # the reader's variant held SLUG only; bob's both
        ids = dict(session.exec(sa.select(Comparison.slug, Comparison.id)).all())
        rows = {row["subscriber_id"]: row for row in ledger_rows(site.engine, number)}
        mine = variant_id(session.connection(), rows[reader]["edition_id"], str(ids[SLUG]))
        session.execute(
            sa.text("UPDATE delivery SET variant_id = :v WHERE id = :id"), {"v": mine, "id": rows[reader]["id"]}
        )
    assert site.http.post(link(site, token, LEFT)).status_code == 200  # in the reader's variant: counts

    def answers(comparison_slug: str) -> list[tuple[int, bytes]]:
        url = link(site, token, "thing", comparison_slug)
        return [
            (r.status_code, r.content)
            for r in (
                site.http.get(url),
                site.http.post(url),
                site.http.get(url, headers={"Accept": "application/json"}),
                site.http.post(url, headers={"Accept": "application/json"}),
            )
        ]

    unknown = answers("no-such-vs-thing")
    assert {status for status, _ in unknown} == {404}
    for hidden in ("future-vs-thing", "elsewhere-vs-thing", "topical-vs-thing"):
        assert answers(hidden) == unknown, hidden
    assert votes(site) == [(reader, LEFT)]
