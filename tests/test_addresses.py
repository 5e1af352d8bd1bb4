"""Every address a reader can sign up with is mailed exactly as stored, by every sender; a reader
whose message cannot be built fails alone, and the rest of the batch goes on (issue 12, items 1, 2).

email-validator accepts RFC 2047 encoded words in a local part (`=` and `?` are plain atext), and
Python's header registry decodes them: one such address once became a line break in the To header,
another `To: "ceo@bank.com,"@attacker.example`. These run real sends through the outbox, aiosmtpd
and the SendGrid-compatible server, on SQLite and PostgreSQL, and read the To header back raw.
"""

from __future__ import annotations

import email.policy
import re
from collections import Counter
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import Mailbox, a_letter, add_edition, add_readers, ledger_rows, smtp_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sendgrid_server import SendGridServer

from digest.delivery import send_edition
from digest.delivery.confirmations import send_pending
from digest.mail.message import Letter, Recipient, check_address, to_mime
from digest.mail.outbox import MAX_NAME, OutboxSender
from digest.mail.sendgrid import SendGridSender
from digest.mail.smtp import SmtpSender
from digest.settings import Settings
from subscribers.errors import InvalidInput
from subscribers.models import Subscriber
from subscribers.validation import normalize_email

LONGEST = "x" * 64 + "@" + "d" * 63 + "." + "e" * 63 + "." + "f" * 57 + ".com"  # 254 characters
ODD = [
    "=?utf-8?q?=0d=0a?=@example.com",  # decodes to a line break
    "=?utf-8?q?ceo=40bank.com=2c?=@attacker.example",  # decodes to "ceo@bank.com," : a second recipient
    "=?utf-8?q?=00?=@example.com",  # decodes to a NUL
    "=?iso-8859-1?b?w6k=?=@example.com",
    LONGEST,
]
PLAIN = ["ada@example.com", "bob@example.com"]
UNSENDABLE = "two words@example.com"  # stored by hand, past every check: no sign-up takes it


def raw_to(message: bytes) -> str:
    """The To header as it is on the wire, decoding nothing."""
    parsed = BytesParser(policy=email.policy.compat32).parsebytes(message)
    return parsed["To"]


def test_every_odd_address_is_one_a_reader_can_sign_up_with():
    assert len(LONGEST) == 254
    assert [normalize_email(a) for a in ODD] == ODD


def _readers(engine) -> dict[str, int]:
    """The unsendable reader first (it has the lowest id, which once stopped every later mail), then the rest."""
    ids = add_readers(engine, [UNSENDABLE, *ODD, *PLAIN])
    return dict(zip([UNSENDABLE, *ODD, *PLAIN], ids))


def _settings(engine, **fields) -> Settings:
    return Settings(database_url=str(engine.url), base_url="https://v.example", **fields)


def _outcomes(engine, ids: dict[str, int]) -> dict[str, tuple[str, str | None]]:
    by_id = {row["subscriber_id"]: (row["state"], row["error"]) for row in ledger_rows(engine, 1)}
    return {address: by_id[reader] for address, reader in ids.items()}


def _check_edition_outcome(engine, ids, summary) -> None:
    assert (summary.status, summary.uncertain, summary.failed) == ("sent", 0, 1)
    outcomes = _outcomes(engine, ids)
    state, error = outcomes.pop(UNSENDABLE)
    assert state == "failed" and "cannot be built" in error and "two words@example.com" in error
    assert set(outcomes.values()) == {("sent", None)}


def test_the_outbox_writes_every_address_as_stored_and_fails_only_the_unsendable_one(engine, tmp_path):
    ids = _readers(engine)
    add_edition(engine, 1)
    summary = send_edition(engine, _settings(engine), 1, sender=OutboxSender(tmp_path / "outbox"), letter=a_letter(1))
    _check_edition_outcome(engine, ids, summary)
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert Counter(raw_to(f.read_bytes()) for f in files) == Counter(ODD + PLAIN)
    assert all(len(f.name) <= MAX_NAME < 255 for f in files)
    assert not list((tmp_path / "outbox").glob("*.part"))
    longest = next(f for f in files if raw_to(f.read_bytes()) == LONGEST)
    assert f"To: {LONGEST}\r\n".encode() in longest.read_bytes()  # one line, never folded or encoded


def test_smtp_carries_every_address_as_stored_and_fails_only_the_unsendable_one(engine):
    ids = _readers(engine)
    add_edition(engine, 1)
    with smtp_server(Mailbox()) as (mailbox, url):
        summary = send_edition(engine, _settings(engine), 1, sender=SmtpSender(url), letter=a_letter(1))
    _check_edition_outcome(engine, ids, summary)
    assert Counter(raw_to(raw) for raw in mailbox.raw) == Counter(ODD + PLAIN)
    for raw in mailbox.raw:
        assert getaddresses([raw_to(raw)]) == [("", raw_to(raw))]  # one recipient, the stored one


def test_sendgrid_gets_every_address_as_stored_and_its_refusal_fails_that_reader_alone(engine):
    ids = _readers(engine)
    add_edition(engine, 1)
    with SendGridServer(api_key="k") as server:
        server.reject({UNSENDABLE})  # what SendGrid answers for an address it will not take
        sender = SendGridSender("k", server.url)
        try:
            summary = send_edition(engine, _settings(engine), 1, sender=sender, letter=a_letter(1))
        finally:
            sender.close()
        assert Counter(server.counts()) == Counter(ODD + PLAIN)
    assert (summary.status, summary.uncertain, summary.failed) == ("sent", 0, 1)
    outcomes = _outcomes(engine, ids)
    assert outcomes.pop(UNSENDABLE)[0] == "failed" and set(s for s, _ in outcomes.values()) == {"sent"}


def _confirmations_of(folder: Path) -> list[str]:
    return sorted(raw_to(f.read_bytes()) for f in folder.glob("*.eml"))


def test_a_confirmation_that_cannot_be_built_is_marked_and_the_queue_moves_on(engine, tmp_path):
    ids = add_readers(engine, [UNSENDABLE, *ODD, *PLAIN], status="pending")
    settings = _settings(engine, outbox=tmp_path / "outbox", secret_key="k")
    assert send_pending(engine, settings) == len(ODD + PLAIN)
    assert send_pending(engine, settings) == 0  # nothing left waiting, the bad one included
    assert _confirmations_of(tmp_path / "outbox") == sorted(ODD + PLAIN)
    table = Subscriber.__table__
    with engine.connect() as connection:
        rows = {r.id: r for r in connection.execute(sa.select(table))}
    bad = rows[ids[0]]
    assert bad.confirmation_sent_at is None and "cannot be built" in bad.confirmation_error
    assert all(rows[i].confirmation_sent_at is not None and rows[i].confirmation_error is None for i in ids[1:])


def test_a_confirmation_the_smtp_server_refuses_is_marked_and_the_rest_are_sent(engine):
    ids = add_readers(engine, ["refused@example.com", *ODD], status="pending")
    with smtp_server(Mailbox(refuse={"refused@example.com"})) as (mailbox, url):
        sent = send_pending(engine, _settings(engine, backend="smtp", smtp_url=url, secret_key="k"))
    assert sent == len(ODD)
    assert sorted(raw_to(raw) for raw in mailbox.raw) == sorted(ODD)
    table = Subscriber.__table__
    with engine.connect() as connection:
        error = connection.execute(sa.select(table.c.confirmation_error).where(table.c.id == ids[0])).scalar_one()
    assert error.startswith("550")


def test_a_refused_sign_up_gets_a_422_naming_the_email_field(db_url, tmp_path):
    from helpers import serve_site

    with serve_site(db_url, outbox=tmp_path / "outbox", subscribe_rate_limit="100/minute") as site:
        for refused in (
            '"two words"@example.com',
            "jörg@example.com",
            "a@b",
            "a..b@example.com",
            "=?utf-8?q?a?= b@example.com",
        ):
            answer = site.http.post("/subscribe", json={"email": refused})
            assert answer.status_code == 422, refused
            assert [e["field"] for e in answer.json()["errors"]] == ["email"]


# --- the property: sign-up accepts it, or the mail's To header reads back as it -------------------

ATEXT = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~"
atom = st.text(alphabet=ATEXT, min_size=1, max_size=20)
encoded_word = st.builds(
    lambda charset, kind, text: f"=?{charset}?{kind}?{text}?=",
    st.sampled_from(["utf-8", "iso-8859-1", "us-ascii", "x"]),
    st.sampled_from("qQbB"),
    st.text(alphabet='=0123456789abcdefABCDEF_+/,@<>"', max_size=24),
)
local = st.lists(st.one_of(atom, encoded_word), min_size=1, max_size=4).map(".".join)
domain = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63), min_size=1, max_size=4
).map(lambda labels: ".".join(labels + ["example"]))
candidates = st.one_of(
    st.emails(),
    st.builds(lambda left, d: f"{left}@{d}", local, domain),
    st.text(min_size=1, max_size=80),
    st.builds(lambda left, d: f"{left}@{d}", st.text(max_size=30), domain),
)
LETTER = Letter(subject="s", html="<p>h</p>", text="t", from_address="verdicts@example.com")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidates)
def test_any_address_sign_up_accepts_is_mailed_to_exactly_that_address(candidate):
    try:
        stored = normalize_email(candidate)
    except InvalidInput as refused:
        assert [problem.field for problem in refused.problems] == ["email"]  # refused at sign-up: a 422 on "email"
        return
    assert check_address(stored) == stored
    wire = to_mime(LETTER, Recipient(stored)).as_bytes()
    to_lines = [line for line in wire.split(b"\r\n") if line.lower().startswith(b"to:")]
    assert to_lines == [b"To: " + stored.encode()]
    assert getaddresses([raw_to(wire)]) == [("", stored)]
    assert re.fullmatch(r"[\x21-\x7e]+", stored)  # printable ASCII, one token


def test_the_longest_address_fits_every_outbox_file_name(tmp_path):
    sender = OutboxSender(tmp_path)
    result = sender.send(LETTER, [Recipient(LONGEST), Recipient("y" * 64 + LONGEST[64:])])
    assert sorted(result.accepted) == sorted([LONGEST, "y" * 64 + LONGEST[64:]])
    assert len(list(tmp_path.glob("*.eml"))) == 2


@pytest.mark.parametrize("address", ["bad\x01@example.com", "two words@example.com", "jörg@example.com", ""])
def test_an_address_that_cannot_go_into_a_header_as_stored_is_refused_by_name(address):
    from digest.mail.message import UnsendableAddress

    with pytest.raises(UnsendableAddress):
        check_address(address)
