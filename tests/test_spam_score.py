"""Every mail the project sends, scored by SpamAssassin as a mailbox provider would score it.

The edition (a normal week and a heavy one), the editor's test send, the
confirmation mail and the welcome mail are each sent through the real outbox sender, exactly as SMTP
would carry them, and scored with `spamassassin -t -L` (local rules only, no
network). None may score above 0.7, and none may hit a rule that the project's
own choices cause (long quoted-printable lines, hidden or low-contrast text,
parts that differ, missing or odd headers).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from helpers import add_reader, at, long_comparisons, spam_scores

from digest.content.importer import import_paths
from digest.delivery import send_edition
from digest.delivery.confirmations import send_pending
from digest.delivery.welcomes import send_welcomes
from digest.editions.service import build_edition
from digest.mail.outbox import OutboxSender
from digest.render.preview import preview, send_test
from digest.send_days import reader_schedule, welcome_timing
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import service

MOST = 0.7
OUR_DOING = {
    "MIME_QP_LONG_LINE",
    "LONGLN_LOW_CONTRAST",
    "LONG_INVISIBLE_TEXT",
    "HTML_FONT_LOW_CONTRAST",  # issue 14
    "HTML_FONT_SIZE_HUGE",
    "HTML_FONT_FACE_BAD",
    "T_KAM_HTML_FONT_INVALID",
    "HTML_OFF_PAGE",
    "TVD_SPACE_RATIO",
    "MPART_ALT_DIFF",
    "MPART_ALT_DIFF_COUNT",
    "MIME_HTML_ONLY",
    "MIME_HTML_MOSTLY",
    "HTML_MIME_NO_HTML_TAG",
    "HTML_TAG_BALANCE_BODY",
    "HTML_EXTRA_CLOSE",
    "HTML_IMAGE_ONLY_04",
    "HTML_SHORT_LINK_IMG_1",
    "T_REMOTE_IMAGE",
    "HTML_OBFUSCATE_05_10",
    "MISSING_DATE",
    "MISSING_MID",
    "INVALID_DATE",
    "DATE_IN_FUTURE_03_06",
    "DATE_IN_PAST_03_06",
    "MIME_BASE64_TEXT",
    "CTE_8BIT_MISMATCH",
    "MIME_HEADER_CTYPE_ONLY",
}
DEMO = Path(__file__).resolve().parent.parent / "digest" / "demo_data"


def _one_mail(folder: Path) -> bytes:
    (mail,) = folder.glob("*.eml")
    return mail.read_bytes()


@pytest.fixture
def mails(sqlite_url, tmp_path) -> dict[str, bytes]:
    """Each kind of mail, as the outbox wrote it."""
    settings = replace(
        Settings(),
        database_url=sqlite_url,
        base_url="https://news.example.com",
        from_address="verdicts@news.example.com",
    )
    engine = open_store(sqlite_url)
    try:
        with session_scope(engine) as session:
            import_paths(
                session,
                sorted(DEMO.glob("*.txt")),
                site_url="https://verdicts.example.com",
                published_at=at("2026-11-17 09:00"),
            )
            number = build_edition(session, settings, "2026-W47").edition.number
            long_comparisons(session, 40, "2026-11-25 09:00")
            heavy = build_edition(session, settings, "2026-W48").edition.number
        add_reader(engine, "ada@example.org")
        send_edition(engine, settings, number, sender=OutboxSender(tmp_path / "edition"))
        send_edition(engine, settings, heavy, sender=OutboxSender(tmp_path / "heavy"))
        with session_scope(engine) as session:
            sample = preview(session, settings, number=number)
        send_test(sample, OutboxSender(tmp_path / "test"), "editor@example.org", settings.base_url)
        add_reader(engine, "bob@example.org", status="pending")
        assert send_pending(engine, settings, sender=OutboxSender(tmp_path / "confirmation")) == 1
        with session_scope(engine) as session:
            token = service.by_email(session, "bob@example.org").token
            service.confirm(session, token, None, utcnow(), welcome=True)
        timing = welcome_timing(engine, settings, utcnow)
        welcomed = send_welcomes(
            engine, settings, timing, partial(reader_schedule, settings), sender=OutboxSender(tmp_path / "welcome")
        )
        assert welcomed == 1
    finally:
        engine.dispose()
    return {kind: _one_mail(tmp_path / kind) for kind in ("edition", "heavy", "test", "confirmation", "welcome")}


def test_no_mail_we_send_scores_above_0_7_or_hits_a_rule_of_our_own_making(mails, spamassassin, tmp_path):
    scores = spam_scores(spamassassin, mails, tmp_path)
    for kind, (score, rules) in scores.items():
        print(f"{kind}: {score} points, rules {sorted(rules)}")  # shown with -s, and on a failure
    for kind, (score, rules) in scores.items():
        assert score <= MOST, f"the {kind} mail scores {score} (rules: {sorted(rules)})"
        assert not rules & OUR_DOING, f"the {kind} mail hits {sorted(rules & OUR_DOING)}"


def test_bodies_keep_to_76_characters_a_line_and_headers_stay_whole(mails):
    for kind, raw in mails.items():
        head, _, body = raw.partition(b"\r\n\r\n")
        assert max(len(line) for line in body.split(b"\r\n")) <= 76, kind  # RFC 2045: quoted-printable
        unsubscribe = [line for line in head.split(b"\r\n") if line.startswith(b"List-Unsubscribe:")]
        if kind in ("edition", "heavy", "welcome"):
            assert unsubscribe and b"=?" not in unsubscribe[0], kind  # one line, never an encoded-word
