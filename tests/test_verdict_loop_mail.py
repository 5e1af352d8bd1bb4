"""An edition with both parts of the verdict loop ("Changed since you read it", "How readers voted"), as
the outbox wrote it for a reader after a real send: screenshots at 375 px and 600 px (for a person to
look at), no sideways scrolling on the phone, axe-core with no serious or critical violation, and
SpamAssassin still at 0 points with no rule of our own making."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace

import pytest
from helpers import add_reader, axe_violations, severe, spam_scores
from test_spam_score import OUR_DOING
from test_verdict_loop import AGENTS, VOICE, item, load

from digest.content.votes import MIN_VOTES, record_vote
from digest.delivery import send_edition
from digest.delivery.ledger import was_mailed
from digest.editions.service import build_edition
from digest.mail.memory import MemorySender
from digest.mail.outbox import OutboxSender
from digest.settings import Settings
from digest.store import open_store, session_scope


@pytest.fixture(scope="module")
def loop_mail(tmp_path_factory) -> bytes:
    """Ada's second edition, as the outbox wrote it: both loop sections in it."""
    folder = tmp_path_factory.mktemp("loop")
    url = f"sqlite:///{folder / 'digest.db'}"
    engine = open_store(url, create=True)
    settings = replace(
        Settings(),
        database_url=url,
        base_url="https://news.example.com",
        from_address="verdicts@news.example.com",
    )
    try:
        load(
            engine,
            item("Relaybench vs Quillpatch", "Agents", "2026-11-04T09:00:00Z"),
            item("Murmurcast vs Tidewell", "Voice", "2026-11-05T09:00:00Z"),
        )
        tokens = [add_reader(engine, "ada@example.org")[1]]
        tokens += [add_reader(engine, f"reader{n}@example.org")[1] for n in range(MIN_VOTES - 1)]
        with session_scope(engine) as session:
            build_edition(session, settings, "2026-W45")
        send_edition(engine, settings, 1, sender=MemorySender())
        with session_scope(engine) as session:
            for n, token in enumerate(tokens):
                record_vote(session, token, AGENTS, "quillpatch" if n else "relaybench", mailed=was_mailed)
            record_vote(session, tokens[0], VOICE, "tidewell", mailed=was_mailed)
        load(
            engine,
            item(
                "Relaybench vs Quillpatch",
                "Agents",
                "2026-11-04T09:00:00Z",
                ship=(35, 80),
                price="$5/mo",
                quote="Hold off until the next release: the retries are not there yet.",
            ),
            item("Lumen vs Orbit", "Voice", "2026-11-11T09:00:00Z"),
        )
        with session_scope(engine) as session:
            build_edition(session, settings, "2026-W46")
        send_edition(engine, settings, 2, sender=OutboxSender(folder / "outbox"))
    finally:
        engine.dispose()
    for path in sorted((folder / "outbox").glob("*.eml")):
        raw = path.read_bytes()
        if b"To: ada@example.org" in raw:
            return raw
    raise AssertionError("no mail for ada")


def html_of(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return message.get_body(("html",)).get_content()


def test_the_loop_mail_scores_0_with_spamassassin(loop_mail, spamassassin, tmp_path):
    assert b"Changed since you read it" in loop_mail.replace(b"=\r\n", b"")
    [(score, rules)] = spam_scores(spamassassin, {"loop": loop_mail}, tmp_path).values()
    print(f"loop edition: {score} points, rules {sorted(rules)}")
    assert score <= 0 and not rules & OUR_DOING, (score, sorted(rules))


@pytest.mark.parametrize("width", [375, 600])
def test_the_loop_mail_at_375_and_600_px_fits_and_has_no_serious_axe_violation(
    loop_mail, browser, axe_script, artifacts, width
):
    html = html_of(loop_mail)
    assert "How readers voted" in html and "Changed since you read it" in html
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.set_content(html, wait_until="load")
        page.screenshot(path=str(artifacts / f"loop-{width}.png"), full_page=True)
        boxes = [section.bounding_box() for section in page.locator("div.loop").all()]
        assert len(boxes) == 2
        top, bottom = boxes[0]["y"], boxes[-1]["y"] + boxes[-1]["height"]
        clip = {"x": 0, "y": top, "width": width, "height": bottom - top}
        page.screenshot(path=str(artifacts / f"loop-sections-{width}.png"), full_page=True, clip=clip)
        width_used = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        assert width_used <= width
        for heading in ("Changed since you read it", "How readers voted"):
            box = page.get_by_role("heading", name=heading).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        found = axe_violations(page, axe_script)
        print(f"loop mail at {width}px: {[(v['id'], v['impact']) for v in found]}")
        assert severe(found) == []
    finally:
        page.close()


def test_the_loop_sections_use_nothing_the_mjml_components_do_not_already_use(loop_mail, node_tools):
    from helpers import caniemail_errors
    from test_caniemail import REFERENCE, kinds

    from digest.render.compile import compile_mjml

    allowed = kinds(caniemail_errors(node_tools, compile_mjml(REFERENCE)))
    found = kinds(caniemail_errors(node_tools, html_of(loop_mail)))
    assert found - allowed == set(), sorted(found - allowed)
