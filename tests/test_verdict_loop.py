"""The verdict loop across three editions (issue 22, items 1 to 3), on SQLite and PostgreSQL, through the
real importer, the real send (the memory sender) and the real vote code.

    edition 1 (2026-W45)  Relaybench vs Quillpatch (Agents), Murmurcast vs Tidewell (Voice)
                          to ada and four more readers with no topics, and to bob (Voice only)
    between               five votes on Relaybench vs Quillpatch, two on Murmurcast vs Tidewell;
                          Relaybench vs Quillpatch re-imported with the panel's pick turned round,
                          Murmurcast vs Tidewell re-imported unchanged; cy subscribes
    edition 2 (2026-W46)  Lumen vs Orbit (Voice): ada sees how readers voted on both and what changed;
                          bob sees the votes on the one he got (too few to call) and no change; cy nothing
    edition 3 (2026-W47)  Quillpatch vs Tidewell (Voice): the change is not told again
"""

from __future__ import annotations

import json
import re

import pytest
from helpers import add_reader, set_preferences
from sqlmodel import select

from digest.content.importer import parse_json, write_records
from digest.content.votes import MIN_VOTES, record_vote
from digest.delivery import send_edition
from digest.delivery.ledger import was_mailed
from digest.editions.models import Edition
from digest.editions.service import build_edition
from digest.mail.memory import MemorySender
from digest.render.archive import web_version
from digest.settings import Settings
from digest.store import session_scope

AGENTS, VOICE = "relaybench-vs-quillpatch", "murmurcast-vs-tidewell"


def item(title: str, category: str, published: str, ship=(70, 40), price="Free", quote="Ship it today.") -> dict:
    left, right = title.split(" vs ")
    tool = lambda name, share, cost: {  # noqa: E731
        "name": name,
        "category": category,
        "tagline": f"{name} in a line",
        "description": f"What {name} does.",
        "panel_ship": share,
        "community": None,
        "entry_price": cost,
    }
    return {
        "title": title,
        "summary": f"Which of {left} and {right} ships.",
        "published_at": published,
        "tools": [tool(left, ship[0], price), tool(right, ship[1], "$10/mo")],
        "reviews": [{"tool": left, "lens": "builder", "quote": quote, "verdict": "ship"}],
    }


def load(engine, *items: dict, now=None) -> str:
    with session_scope(engine) as session:
        report = write_records(
            session, parse_json(json.dumps(list(items)), "test.json"), site_url="https://site.example", now=now
        )
    return report.summary()


def send_week(engine, settings, week: str) -> dict[str, str]:
    """Build and send the week's edition; address -> the HTML and text its reader got."""
    with session_scope(engine) as session:
        number = build_edition(session, settings, week).edition.number
    sender = MemorySender()
    send_edition(engine, settings, number, sender=sender)
    mails = {}
    for sent in sender.sent:
        for recipient in sent.recipients:
            mails[recipient.address] = sent.letter.html + "\n@@TEXT@@\n" + sent.letter.text
    return mails


def community_cells(html: str) -> list[str]:
    return re.findall(r'class="vc big community"[^>]*>([^<]*)<', html)


def section(mail: str, heading: str) -> str:
    """The text part's section under `heading`, or '' when there is none."""
    text = mail.split("\n@@TEXT@@\n", 1)[1]
    if heading not in text:
        return ""
    return text.split(heading, 1)[1].split("=" * 78, 2)[1].split("-" * 78)[0].split("=" * 78)[0]


@pytest.fixture
def settings(db_url):
    return Settings.from_env({"DIGEST_DATABASE_URL": db_url, "DIGEST_BASE_URL": "https://news.example"})


def test_three_editions_close_the_loop_only_for_readers_who_got_it(engine, settings):
    first = [
        item("Relaybench vs Quillpatch", "Agents", "2026-11-04T09:00:00Z"),
        item("Murmurcast vs Tidewell", "Voice", "2026-11-05T09:00:00Z"),
    ]
    load(engine, *first)
    ada, ada_token = add_reader(engine, "ada@example.com")
    others = [add_reader(engine, f"v{n}@example.com") for n in range(MIN_VOTES - 1)]
    bob, bob_token = add_reader(engine, "bob@example.com")
    set_preferences(engine, [bob], topics=["Voice"])

    one = send_week(engine, settings, "2026-W45")
    assert set(one) == {"ada@example.com", "bob@example.com"} | {f"v{n}@example.com" for n in range(MIN_VOTES - 1)}
    assert "How readers voted" not in one["ada@example.com"]  # nothing before the first edition
    with session_scope(engine) as session:
        archive_one = web_version(session, settings, 1)
    assert community_cells(archive_one) == community_cells(one["ada@example.com"])  # the web version is the mail

    # Votes: five on the Agents comparison (enough to call), two on the Voice one (too few).
    with session_scope(engine) as session:
        for token, pick in [(ada_token, "relaybench")] + [(t, "quillpatch") for _, t in others]:
            record_vote(session, token, AGENTS, pick, mailed=was_mailed)
        for token in (ada_token, bob_token):
            record_vote(session, token, VOICE, "tidewell", mailed=was_mailed)
    # Re-imports: the panel turns round on the Agents one; the Voice one comes again unchanged.
    turned = item("Relaybench vs Quillpatch", "Agents", "2026-11-04T09:00:00Z", ship=(35, 80), price="$5/mo")
    assert load(engine, turned, first[1]).startswith("2 comparisons: 0 new, 1 updated, 1 unchanged")
    cy, _ = add_reader(engine, "cy@example.com")
    with session_scope(engine) as session:
        assert web_version(session, settings, 1) == archive_one  # the sent edition is as it was mailed
    assert community_cells(archive_one)[:2] == ["—", "—"]  # not the 20% / 80% the votes make now

    load(engine, item("Lumen vs Orbit", "Voice", "2026-11-11T09:00:00Z"))
    two = send_week(engine, settings, "2026-W46")
    ada_two = two["ada@example.com"]
    voted = section(ada_two, "HOW READERS VOTED")
    assert "Relaybench vs Quillpatch" in voted and "Relaybench: 20% (1)" in voted and "Quillpatch: 80% (4)" in voted
    assert f"{MIN_VOTES} votes" in voted
    assert "Murmurcast vs Tidewell" in voted and "Only 2 votes so far: too few to call" in voted
    assert "Tidewell: 100%" not in voted  # no share from two votes
    changed = section(ada_two, "CHANGED SINCE YOU READ IT")
    assert "Relaybench vs Quillpatch (edition 1)" in changed
    assert "Panel pick" in changed and "was: Relaybench" in changed and "now: Quillpatch" in changed
    assert "Relaybench: ship share" in changed and "was: 70%" in changed and "now: 35%" in changed
    assert "Relaybench: entry price" in changed and "was: Free" in changed and "now: $5/mo" in changed
    assert "Murmurcast" not in changed  # re-imported without a change: nothing to tell
    assert "https://site.example/compare/relaybench-vs-quillpatch" in changed  # linked
    html = ada_two.split("\n@@TEXT@@\n")[0]
    assert "Changed since you read it" in html and "How readers voted" in html
    assert re.search(r"<s>Relaybench</s>", html) and "NOW</span> Quillpatch" in html  # old and new side by side

    bob_two = two["bob@example.com"]  # got only the Voice comparison of edition 1
    assert "Murmurcast vs Tidewell" in section(bob_two, "HOW READERS VOTED")
    assert "Relaybench" not in bob_two  # neither its votes nor its change: he never got it
    assert "Changed since you read it" not in bob_two
    cy_two = two["cy@example.com"]  # got no earlier edition
    assert "How readers voted" not in cy_two and "Changed since you read it" not in cy_two

    # One rendering per distinct content: ada and the four other voters share a variant.
    from digest.delivery.summary import sent_variants
    from digest.editions.service import offered

    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.number == 2)).one()
        lines, _ = sent_variants(session.connection(), edition.id, offered(session, edition))
    assert sorted((line.readers, line.loop) for line in lines) == [
        (1, ""),  # cy
        (1, "; votes on 1 of the last edition"),  # bob
        (MIN_VOTES, "; votes on 2 of the last edition; 1 changed since read"),  # ada and the other four
    ]
    assert two["v0@example.com"] == ada_two
    assert len({mail for mail in two.values()}) == 3  # ada & co, bob, cy

    lumen = item("Lumen vs Orbit", "Voice", "2026-11-11T09:00:00Z")
    lumen["summary"] = "Which of Lumen and Orbit ships, now with a typo fixed."  # a version, not news
    lumen["tools"][1]["panel_ship"] = 45  # 5 points: under the 10 that matter
    assert "1 updated" in load(engine, lumen, item("Quillpatch vs Tidewell", "Voice", "2026-11-18T09:00:00Z"))
    three = send_week(engine, settings, "2026-W47")
    ada_three = three["ada@example.com"]
    assert "Changed since you read it" not in ada_three  # told once, in the next edition
    assert "Lumen vs Orbit" in section(ada_three, "HOW READERS VOTED")
    assert "Relaybench vs Quillpatch" not in section(ada_three, "HOW READERS VOTED")
    assert "How readers voted" in three["cy@example.com"]  # cy got edition 2 now
    assert cy and ada
