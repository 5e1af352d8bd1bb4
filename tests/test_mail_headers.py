"""What leaves through SMTP or the outbox carries headers mailbox providers can read."""

from __future__ import annotations

from email import message_from_bytes, policy

from digest.mail.message import Letter, Recipient, to_mime

TOKEN = "_LUYGrD2VjhdNhWqvNtQhnlZwz1yQ-ol_Q3dkE7rXZQ" * 2  # long enough to need folding at 78 columns


def test_a_long_list_unsubscribe_url_is_sent_verbatim_not_encoded():
    url = f"<https://verdicts.example.com/unsubscribe/{TOKEN}>"
    letter = Letter(subject="Edition 1", html="<p>hi</p>", text="hi", from_address="verdicts@example.com")
    recipient = Recipient(address="ada@example.com",
                          headers={"List-Unsubscribe": url, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    raw = to_mime(letter, recipient).as_bytes()
    assert f"List-Unsubscribe: {url}\r\n".encode() in raw  # one line, no =?utf-8?q?...?= encoded-word
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe"] == url
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
