"""Personal editions: each reader gets the comparisons in their topics, each variant rendered once.

A week of three comparisons (Voice, Evaluation, and one pairing a Code Assistants
tool with an Image Generation one), an earlier edition that makes "Agents" a topic
of the newsletter, and readers with no topics, overlapping topics, disjoint ones,
two topic sets that pick the same list, and topics that match nothing this week.
Sent through the real engine to the SendGrid-compatible server, on SQLite and
PostgreSQL; what each reader received is read back from the requests the server
accepted (subject, HTML and text are per request: per variant).
"""

from __future__ import annotations

import email
import json
from collections import Counter
from email import policy
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from helpers import add_reader, ledger_rows, mails_of, sendgrid_event, set_preferences, topical
from sendgrid_server import SendGridServer

import digest.render
from digest.cli import main
from digest.delivery import send_edition
from digest.editions.service import build_edition, edit_edition
from digest.editions.variants import UNMATCHED, Chooser, Offered, group, pick, variant_key
from digest.events.ingest import ingest
from digest.events.parse import parse_batch
from digest.mail.sendgrid import SendGridSender
from digest.render.preview import preview_server
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import service
from subscribers.validation import Preferences

VOICE = "Murmurcast vs Tidewell"
EVALS = "Relaybench vs Lanternops"
MIXED = "Quillpatch vs Pixelforge"
TITLES = (VOICE, EVALS, MIXED)
READERS = {  # address -> topics
    "all@example.com": [],
    "voice@example.com": ["Voice"],
    "voice-evals@example.com": ["Evaluation", "Voice"],
    "code@example.com": ["Code Assistants"],
    "image-code@example.com": ["Code Assistants", "Image Generation"],
    "agents@example.com": ["Agents"],
}
GETS = {  # address -> the titles they get, in the edition's order (the editor leads with Voice)
    "all@example.com": (VOICE, MIXED, EVALS),
    "voice@example.com": (VOICE,),
    "voice-evals@example.com": (VOICE, EVALS),
    "code@example.com": (MIXED,),
    "image-code@example.com": (MIXED,),
}


# --- the pure core ----------------------------------------------------------------------------------


OFFER = (
    Offered(1, "voice", frozenset({"Voice"})),
    Offered(2, "mixed", frozenset({"Code Assistants", "Image Generation"})),
    Offered(3, "evals", frozenset({"Evaluation"})),
)


@pytest.mark.parametrize(
    "topics, ids",
    [
        ([], [1, 2, 3]),  # no topics: everything
        (["Voice"], [1]),
        (["Evaluation", "Voice"], [1, 3]),  # overlapping another reader's choice; the edition's order holds
        (["Image Generation"], [2]),  # one of the comparison's two categories is enough
        (["Agents"], []),  # nothing this week
    ],
)
def test_a_reader_gets_the_comparisons_sharing_one_of_their_topics_in_the_editions_order(topics, ids):
    assert [c.id for c in pick(topics, OFFER)] == ids
    assert variant_key(topics, OFFER) == (",".join(map(str, ids)) or None)


def test_readers_are_grouped_into_variants_by_the_list_they_get_and_unreadable_topics_get_nothing():
    counts = [
        ("[]", 5),
        ('["Voice"]', 3),
        ('["Code Assistants"]', 2),
        ('["Image Generation", "Code Assistants"]', 1),
        ('["Agents"]', 4),
        ("not json", 1),
    ]
    grouping = group(counts, OFFER)
    assert [(v.key, v.readers) for v in grouping.variants] == [("1,2,3", 5), ("1", 3), ("2", 3)]
    assert grouping.unmatched == 5
    chooser = Chooser(OFFER)
    assert chooser.choose('["Agents"]') is None and chooser.why('["Agents"]') == UNMATCHED
    assert chooser.choose('{"a": 1}') is None and "cannot be read" in chooser.why('{"a": 1}')


# --- a week's send ----------------------------------------------------------------------------------


def seed(engine) -> int:
    """The week's comparisons, an earlier edition with an Agents one, the readers; returns the edition."""
    settings = Settings()
    with session_scope(engine) as session:
        topical(session, "agent-a-vs-agent-b", "2026-03-04 09:00", ("Agents", "Agents"), "Agent A vs Agent B")
        build_edition(session, settings, "2026-W10")
        topical(session, "murmurcast-vs-tidewell", "2026-03-18 09:00", ("Voice", "Voice"), VOICE)
        topical(session, "relaybench-vs-lanternops", "2026-03-19 09:00", ("Evaluation", "Evaluation"), EVALS)
        topical(session, "quillpatch-vs-pixelforge", "2026-03-20 09:00", ("Code Assistants", "Image Generation"), MIXED)
    with session_scope(engine) as session:
        number = build_edition(session, settings, "2026-W12").edition.number
        edit_edition(
            session,
            number,
            order=["murmurcast-vs-tidewell"],
            subject="Three verdicts this week",
            intro="Voice leads this week.",
        )
    for address, topics in READERS.items():
        reader, _ = add_reader(engine, address)
        set_preferences(engine, [reader], topics=topics)
    return number


@pytest.fixture
def sendgrid():
    with SendGridServer(api_key="k") as server:
        yield server


def send(engine, server, number, **options):
    sender = SendGridSender("k", server.url)
    try:
        return send_edition(
            engine,
            Settings(database_url=str(engine.url), base_url="https://v.example"),
            number,
            sender=sender,
            **options,
        )
    finally:
        sender.close()


class Compilations:
    """A counter around the real MJML compiler (it still compiles)."""

    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


def test_each_reader_gets_exactly_their_comparisons_in_subject_html_and_text(engine, sendgrid, monkeypatch):
    number = seed(engine)
    compilations = Compilations(digest.render.compile_mjml)
    monkeypatch.setattr(digest.render, "compile_mjml", compilations)

    summary = send(engine, sendgrid, number)

    mails = mails_of(sendgrid)
    assert set(mails) == set(GETS)  # the Agents reader got nothing
    for address, titles in GETS.items():
        [mail] = mails[address]
        for part in (mail.text, mail.html):
            assert [t for t in TITLES if t in part] == sorted(titles, key=TITLES.index), (address, part[:200])
        assert [mail.text.index(t) for t in titles] == sorted(mail.text.index(t) for t in titles)  # the order holds
        assert "Voice leads this week." in mail.text and "Voice leads this week." in mail.html  # the intro, in all
    assert mails["all@example.com"][0].subject == "Three verdicts this week"  # the editor's, on the whole list
    assert mails["voice@example.com"][0].subject == VOICE
    assert mails["voice-evals@example.com"][0].subject == f"{VOICE}, and 1 more"
    assert mails["code@example.com"][0].subject == mails["image-code@example.com"][0].subject == MIXED
    # One request and one MJML compilation per distinct letter, however many readers share one: per
    # variant, and within a variant that leaves comparisons out, per set of topics (its letter names
    # them): code and image-code share a variant, not a letter.
    assert len(sendgrid.accepted) == 5
    assert compilations.calls == 5
    assert "Your topics: Code Assistants" in mails["code@example.com"][0].html
    assert "Your topics: Code Assistants, Image Generation" in mails["image-code@example.com"][0].html
    assert (summary.status, summary.sent, summary.skipped, summary.unmatched) == ("sent", 5, 1, 1)
    assert sorted((line.comparisons, line.readers) for line in summary.variants) == sorted(
        [
            (("murmurcast-vs-tidewell", "quillpatch-vs-pixelforge", "relaybench-vs-lanternops"), 1),
            (("murmurcast-vs-tidewell",), 1),
            (("murmurcast-vs-tidewell", "relaybench-vs-lanternops"), 1),
            (("quillpatch-vs-pixelforge",), 2),
        ]
    )
    assert "1: their topics match none of its comparisons" in summary.as_text()

    rows = {row["subscriber_id"]: row for row in ledger_rows(engine, number)}
    assert len(rows) == 6 and len({r["variant_id"] for r in rows.values() if r["state"] == "sent"}) == 4
    skipped = [r for r in rows.values() if r["state"] == "skipped"]
    assert [(r["error"], r["variant_id"]) for r in skipped] == [(UNMATCHED, None)]


def test_a_reader_who_changes_topics_between_two_editions_gets_the_new_choice(engine, sendgrid):
    first = seed(engine)
    send(engine, sendgrid, first)
    with session_scope(engine) as session:
        topical(session, "echo-vs-parrot", "2026-03-25 09:00", ("Voice", "Voice"), "Echo vs Parrot")
        topical(session, "judge-vs-jury", "2026-03-26 09:00", ("Evaluation", "Evaluation"), "Judge vs Jury")
        second = build_edition(session, Settings(), "2026-W13").edition.number
        token = service.by_email(session, "voice@example.com").token
        service.change_preferences(session, token, Preferences(topics=("Evaluation",)), now=utcnow())
    send(engine, sendgrid, second)
    mails = mails_of(sendgrid)["voice@example.com"]
    assert [m.subject for m in mails] == [VOICE, "Judge vs Jury"]
    assert "Echo vs Parrot" not in mails[1].text and "Echo vs Parrot" not in mails[1].html


def test_a_resumed_send_mails_a_reader_the_variant_they_were_due(engine, sendgrid):
    number = seed(engine)
    sendgrid.drop(times=1, record=False)  # the first request (all@'s variant) gets no answer: uncertain
    first = send(engine, sendgrid, number)
    assert first.uncertain == 1 and "all@example.com" not in mails_of(sendgrid)
    with session_scope(engine) as session:  # they narrow their topics before the resend
        token = service.by_email(session, "all@example.com").token
        service.change_preferences(session, token, Preferences(topics=("Voice",)), now=utcnow())
    resent = send(engine, sendgrid, number, resend_uncertain=True)
    assert (resent.sent, resent.uncertain) == (6 - 1, 0)
    [mail] = mails_of(sendgrid)["all@example.com"]
    assert mail.subject == "Three verdicts this week" and all(t in mail.text for t in TITLES)


def test_a_stop_between_the_requests_of_a_walks_end_leaves_nothing_claimed_and_a_rerun_finishes(engine, sendgrid):
    number = seed(engine)
    stopped = send(engine, sendgrid, number, should_stop=lambda: len(sendgrid.accepted) >= 2)
    assert stopped.status == "stopped" and len(sendgrid.accepted) == 2  # four variants, claimed ahead together
    states = {row["state"] for row in ledger_rows(engine, number)}
    assert "claimed" not in states  # the two claimed ahead that did not leave were let go
    finished = send(engine, sendgrid, number)
    assert (finished.status, finished.sent) == ("sent", 5)
    assert sorted(Counter(a for a, _ in sendgrid.recipients()).values()) == [1] * 5


def test_a_dry_run_lists_the_variants_with_comparisons_and_readers_and_the_skipped(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = seed(engine)
    result = CliRunner().invoke(main, ["editions", "send", "--edition", str(number), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["pending"], summary["unmatched"]) == ("dry-run", 5, 1)
    assert summary["variants"][0] == {
        "variant": 1,
        "readers": 2,
        "comparisons": ["quillpatch-vs-pixelforge"],
        "loop": "",
    }
    assert sorted(v["readers"] for v in summary["variants"]) == [1, 1, 1, 2]
    text = CliRunner().invoke(main, ["editions", "send", "--edition", str(number), "--dry-run"]).output
    assert "would skip         1  (their topics match none of its comparisons)" in text
    assert "variant 1           2 readers  1 comparison: quillpatch-vs-pixelforge" in text
    engine.dispose()


def test_editions_show_splits_the_readers_by_variant(cli_env, sendgrid, monkeypatch):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = seed(engine)
    send(engine, sendgrid, number)
    result = CliRunner().invoke(main, ["editions", "show", str(number), "--json"])
    info = json.loads(result.stdout)
    assert sorted((v["readers"], len(v["comparisons"])) for v in info["variants"]) == [(1, 1), (1, 2), (1, 3), (2, 1)]
    assert info["unmatched"] == 1
    engine.dispose()


def test_stats_split_an_edition_by_variant(cli_env, sendgrid):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = seed(engine)
    send(engine, sendgrid, number)
    now = utcnow()
    opened = [
        sendgrid_event("open", address, edition=number, reader=reader_id(engine, address))
        for address in ("code@example.com", "image-code@example.com", "voice@example.com")
    ]
    with engine.begin() as connection:
        ingest(connection, parse_batch(json.dumps(opened), now).rows, now)
    result = CliRunner().invoke(main, ["stats", "--edition", str(number), "--by-variant", "--json"])
    assert result.exit_code == 0, result.output
    lines = {tuple(line["comparisons"]): line for line in json.loads(result.stdout)}
    assert {k: (v["sent"], v["opens"]) for k, v in lines.items()} == {
        ("murmurcast-vs-tidewell", "quillpatch-vs-pixelforge", "relaybench-vs-lanternops"): (1, 0),
        ("murmurcast-vs-tidewell",): (1, 1),
        ("murmurcast-vs-tidewell", "relaybench-vs-lanternops"): (1, 0),
        ("quillpatch-vs-pixelforge",): (2, 2),
    }
    assert "--by-variant needs --edition N" in CliRunner().invoke(main, ["stats", "--by-variant"]).output
    engine.dispose()


def reader_id(engine, address: str) -> int:
    with session_scope(engine) as session:
        return service.by_email(session, address).id


# --- previews per variant ---------------------------------------------------------------------------


def test_preview_with_topics_writes_that_variant(cli_env, tmp_path):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = seed(engine)
    out = tmp_path / "look"
    result = CliRunner().invoke(
        main, ["editions", "preview", "--edition", str(number), "--topics", "Voice, Evaluation", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"Subject: {VOICE}, and 1 more" in result.output
    text = (out / "edition.txt").read_text(encoding="utf-8")
    assert VOICE in text and EVALS in text and MIXED not in text
    for topics, complaint in (
        ("Vioce", "'Vioce' is not a topic of this newsletter (topics: Agents, Code Assistants"),
        ("Agents", "readers with the topics Agents get nothing from edition"),
    ):
        refused = CliRunner().invoke(main, ["editions", "preview", "--edition", str(number), "--topics", topics])
        assert refused.exit_code == 1 and complaint in refused.output and "Traceback" not in refused.output
    engine.dispose()


def test_send_test_with_topics_sends_that_variant(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = seed(engine)
    result = CliRunner().invoke(
        main,
        [
            "editions",
            "send-test",
            "--to",
            "editor@example.com",
            "--edition",
            str(number),
            "--topics",
            "Image Generation",
        ],
    )
    assert result.exit_code == 0, result.output
    [path] = Path(cli_env["DIGEST_OUTBOX"]).glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Subject"] == f"[Test] {MIXED}"
    assert VOICE not in message.get_body(("plain",)).get_content()
    engine.dispose()


@pytest.fixture
def variants_page(engine):
    number = seed(engine)
    with preview_server(engine, Settings(), port=0, number=number).running() as server:
        yield server


def test_the_preview_page_lists_the_variants_with_reader_counts_and_shows_each(variants_page):
    page = httpx.get(variants_page.url).text
    assert "Readers get this edition in 4 variants" in page and "(1 reader get none" in page
    assert "2 readers: quillpatch-vs-pixelforge" in page
    assert "1 reader: murmurcast-vs-tidewell, relaybench-vs-lanternops" in page
    assert "Three verdicts this week" in page  # the whole edition first
    first = httpx.get(variants_page.url + "edition.txt?variant=1").text
    assert MIXED in first and VOICE not in first
    assert 'src="/edition.html?variant=1"' in httpx.get(variants_page.url + "?variant=1").text
    assert httpx.get(variants_page.url + "?variant=9").status_code == 500  # named on an error page
    assert httpx.get(variants_page.url + "?variant=x").status_code == 400


def test_in_a_browser_a_variant_is_one_click_away(variants_page, browser, artifacts):
    page = browser.new_page(viewport={"width": 1700, "height": 1000})
    try:
        page.goto(variants_page.url)
        assert page.locator("#subject").inner_text() == "Three verdicts this week"
        page.get_by_role("link", name="1 reader: murmurcast-vs-tidewell, relaybench-vs-lanternops").click()
        page.wait_for_load_state()
        assert page.locator("#subject").inner_text() == f"{VOICE}, and 1 more"
        frame = page.frame_locator(".phone iframe")
        assert frame.get_by_role("link", name=EVALS, exact=True).first.is_visible()
        assert frame.get_by_role("link", name=MIXED, exact=True).count() == 0
        page.screenshot(path=str(artifacts / "preview-variant.png"))
    finally:
        page.close()
