"""What leaves through SMTP or the outbox carries headers mailbox providers can read."""

from __future__ import annotations

from email import message_from_bytes, policy

from digest.delivery.confirmations import render_confirmation
from digest.mail.message import Letter, Recipient, to_mime
from digest.render import compose, letter_for, render_view
from digest.settings import Settings

TOKEN = "_LUYGrD2VjhdNhWqvNtQhnlZwz1yQ-ol_Q3dkE7rXZQ" * 2  # long enough to need folding at 78 columns


def test_a_long_list_unsubscribe_url_is_sent_verbatim_not_encoded():
    url = f"<https://verdicts.example.com/unsubscribe/{TOKEN}>"
    letter = Letter(subject="Edition 1", html="<p>hi</p>", text="hi", from_address="verdicts@example.com")
    recipient = Recipient(
        address="ada@example.com",
        headers={"List-Unsubscribe": url, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    raw = to_mime(letter, recipient).as_bytes()
    assert f"List-Unsubscribe: {url}\r\n".encode() in raw  # one line, no =?utf-8?q?...?= encoded-word
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe"] == url
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_date_is_in_utc_said_as_plus_0000_and_bodies_keep_to_76_columns():
    letter = Letter(
        subject="Edition 1",
        html="<p>" + "é and more words " * 200 + "</p>",
        text="A long line of plain text " * 40,
        from_address="verdicts@example.com",
    )
    raw = to_mime(letter, Recipient(address="ada@example.com")).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Date"].endswith(" +0000") and parsed["Date"].datetime.utcoffset().total_seconds() == 0
    head, _, body = raw.partition(b"\r\n\r\n")
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045's limit for quoted-printable
    assert parsed.get_body(("html",)).get_content().rstrip("\r\n") == letter.html  # the same text, unfolded
    assert parsed.get_body(("plain",)).get_content().rstrip("\r\n") == letter.text
    assert not parsed.defects and all(not part.defects for part in parsed.walk())


def test_an_edition_names_itself_in_feedback_id_and_a_confirmation_says_what_it_is():
    settings = Settings(newsletter_name="Weekly AI Tool Verdicts")
    view = compose(number=12, week="2026-W47", facts=[], settings=settings)
    html, text, _ = render_view(view)
    edition = letter_for(view, html, text, settings)
    assert edition.headers["Feedback-ID"] == "edition-12:weekly:digest:weekly-ai-tool-verdicts"
    confirmation = render_confirmation(settings)
    assert confirmation.headers["Feedback-ID"] == "signup:confirmation:digest:weekly-ai-tool-verdicts"
    raw = to_mime(edition, Recipient(address="ada@example.com")).as_bytes()
    assert b"\r\nFeedback-ID: edition-12:weekly:digest:weekly-ai-tool-verdicts\r\n" in raw


def test_a_confirmation_is_auto_submitted_and_an_edition_is_not():
    """RFC 3834: autoresponders stay quiet for automatic mail; an edition is not one (readers reply)."""
    settings = Settings()
    raw = to_mime(render_confirmation(settings), Recipient(address="ada@example.com")).as_bytes()
    assert b"\r\nAuto-Submitted: auto-generated\r\n" in raw
    view = compose(number=1, week="2026-W47", facts=[], settings=settings)
    html, text, _ = render_view(view)
    assert "Auto-Submitted" not in letter_for(view, html, text, settings).headers


def test_a_confirmation_through_sendgrid_carries_auto_submitted():
    from sendgrid_server import documented_limits

    from digest.mail.sendgrid import letter_payload

    payload = letter_payload(render_confirmation(Settings()))
    assert payload["headers"]["Auto-Submitted"] == "auto-generated"
    assert documented_limits({**payload, "personalizations": [{"to": [{"email": "ada@example.com"}]}]}) == []


def test_list_id_and_feedback_id_transliterate_the_name():
    from digest.render import feedback_id, list_id

    for name, label in [
        ("L'Édition du lundi", "l-edition-du-lundi"),
        ("Ça & Là — Über", "ca-la-uber"),
        ("週刊 AI", "zhou-kan-ai"),
        ("!!!", "digest"),
    ]:
        settings = Settings(newsletter_name=name)
        assert list_id(settings).endswith(f"<{label}.example.com>")
        assert feedback_id(settings, "edition-1", "weekly") == f"edition-1:weekly:digest:{label}"
