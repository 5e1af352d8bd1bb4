"""The pure core of the subscribers library: input checks, tokens, rules, links and CSV files."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest

from subscribers import links, rules, validation
from subscribers.csvfile import read_rows, write_csv
from subscribers.errors import BadLink, ExpiredLink, InvalidInput
from subscribers.tokens import ConfirmationTokens, looks_like_reader_token, new_reader_token

TOPICS = frozenset({"Developer Tools", "Video"})
NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def problems(data, known=TOPICS):
    with pytest.raises(InvalidInput) as caught:
        validation.subscribe_request(data, known)
    return caught.value.by_field()


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("  ada@example.com\t", None),  # a tab is a control character: refused, not trimmed
        ("ada@bücher.de", "ada@xn--bcher-kva.de"),
        ("ADA@XN--BCHER-KVA.DE", "ada@xn--bcher-kva.de"),
        ("  o'brien+news@example.org  ", "o'brien+news@example.org"),
    ],
)
def test_an_address_is_stored_in_one_canonical_form(raw, stored):
    if stored is None:
        assert "control character" in problems({"email": raw})["email"]
    else:
        assert validation.normalize_email(raw) == stored


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("", "is required"),
        ("not-an-address", "must have an @-sign"),
        ("ada@example.com\r\nBcc: victim@example.com", "line break"),
        ("ada\u200b@example.com", "invisible character (U+200B)"),
        ("ünïcode@example.com", "not a valid email address"),
        ("' OR 1=1; DROP TABLE subscriber; --", "not a valid email address"),
        ("a" * 300 + "@example.com", "at most 254"),
        ("ada@localhost", "not a valid email address"),
        ("\ud800@example.com", "lone surrogate"),
    ],
)
def test_a_bad_address_is_refused_with_a_message_naming_the_email_field(raw, expected):
    assert expected in problems({"email": raw})["email"]


def test_an_address_that_is_not_text_is_refused():
    assert "must be text" in problems({"email": 42})["email"]
    assert "one value, not 2" in problems({"email": ["a@example.com", "b@example.com"]})["email"]


def test_topics_must_be_known_categories_and_are_deduplicated_and_sorted():
    request = validation.subscribe_request(
        {"email": "a@example.com", "topics": ["Video", "Developer Tools", "Video"]}, TOPICS
    )
    assert request.topics == ("Developer Tools", "Video")
    message = problems({"email": "a@example.com", "topics": ["Video", "'; DELETE FROM subscriber; --"]})["topics"]
    assert "is not a topic of this newsletter" in message and "Developer Tools, Video" in message
    assert "must be a list" in problems({"email": "a@example.com", "topics": {"a": 1}})["topics"]
    assert "line break" in problems({"email": "a@example.com", "topics": ["Video\r\n"]})["topics"]


def test_no_topics_means_every_topic():
    assert validation.subscribe_request({"email": "a@example.com", "topics": []}, TOPICS).topics == ()
    assert validation.subscribe_request({"email": "a@example.com"}, TOPICS).topics == ()


def test_a_time_zone_must_be_an_iana_name():
    assert (
        validation.subscribe_request({"email": "a@example.com", "timezone": "Europe/Paris"}, TOPICS).timezone
        == "Europe/Paris"
    )
    assert "not an IANA time zone" in problems({"email": "a@example.com", "timezone": "Mars/Olympus"})["timezone"]
    assert "not an IANA time zone" in problems({"email": "a@example.com", "timezone": "../../etc/passwd"})["timezone"]


def test_every_problem_is_reported_at_once_and_unknown_fields_are_named():
    found = problems({"email": "nope", "topics": ["Cooking"], "timezone": "Nowhere", "admin": True})
    assert set(found) == {"email", "topics", "timezone", "body"}
    assert "'admin'" in found["body"]


def test_a_reader_token_is_long_random_and_url_safe():
    tokens = {new_reader_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) == 43 and looks_like_reader_token(t) for t in tokens)
    assert not looks_like_reader_token("short") and not looks_like_reader_token("x" * 42 + "/")


def test_a_confirmation_token_round_trips_and_rejects_tampering():
    signer = ConfirmationTokens("secret")
    token = new_reader_token()
    signed = signer.make(token)
    assert signer.read(signed) == token
    tampered = signed[:-2] + ("A" if signed[-2] != "A" else "B") + signed[-1]
    for bad in (tampered, signed[:20], "", "x" * 500, signed.replace(".", "")):
        with pytest.raises(BadLink):
            signer.read(bad)
    with pytest.raises(BadLink):  # another key
        ConfirmationTokens("other secret").read(signed)


def test_a_confirmation_token_for_another_purpose_is_refused():
    from itsdangerous import URLSafeTimedSerializer

    other_purpose = URLSafeTimedSerializer("secret", salt="subscribers.vote").dumps(new_reader_token())
    with pytest.raises(BadLink) as caught:
        ConfirmationTokens("secret").read(other_purpose)
    assert not isinstance(caught.value, ExpiredLink)


def test_a_confirmation_token_expires():
    made_at = time.time() - timedelta(days=8).total_seconds()
    signed = ConfirmationTokens("secret", clock=lambda: made_at).make(new_reader_token())
    with pytest.raises(ExpiredLink, match="expired"):
        ConfirmationTokens("secret").read(signed)
    fresh = ConfirmationTokens("secret", clock=lambda: time.time() - 3600).make(new_reader_token())
    assert ConfirmationTokens("secret").read(fresh)


@pytest.mark.parametrize(
    "status, sent_at, expected",
    [
        (None, None, rules.OnSubscribe.CREATE),
        ("pending", None, rules.OnSubscribe.NOTHING),  # still queued
        ("pending", NOW - timedelta(minutes=2), rules.OnSubscribe.NOTHING),  # just mailed: no flood
        ("pending", NOW - timedelta(hours=1), rules.OnSubscribe.REQUEUE),
        ("active", NOW - timedelta(days=30), rules.OnSubscribe.NOTHING),
        ("unsubscribed", None, rules.OnSubscribe.REOPEN),
        ("bounced", None, rules.OnSubscribe.NOTHING),
        ("complained", None, rules.OnSubscribe.NOTHING),
    ],
)
def test_what_a_subscribe_request_does_depends_on_the_readers_status(status, sent_at, expected):
    assert rules.on_subscribe(status, sent_at, NOW) is expected


def test_links_and_one_click_headers_are_built_from_the_token():
    token = new_reader_token()
    assert links.unsubscribe_url("https://n.example", token) == f"https://n.example/unsubscribe/{token}"
    assert links.preferences_url("https://n.example", token) == f"https://n.example/preferences/{token}"
    assert links.list_unsubscribe_headers("https://n.example", token) == {
        "List-Unsubscribe": f"<https://n.example/unsubscribe/{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_a_csv_with_a_header_row_maps_columns_by_name_and_ignores_others():
    layout, rows = read_rows(
        io.StringIO(
            "Name,E-mail,Topics,TZ\nAda,ada@example.com,Video;Developer Tools,Europe/Paris\n\nBob,bob@example.com,,\n"
        )
    )
    rows = list(rows)
    assert layout.ignored == ["Name"]
    assert [(r.line, r.values["email"], r.values["topics"], r.values["timezone"]) for r in rows] == [
        (2, "ada@example.com", ["Video", "Developer Tools"], "Europe/Paris"),
        (4, "bob@example.com", [], ""),
    ]


def test_a_csv_without_a_header_is_one_address_per_line():
    _, rows = read_rows(io.StringIO("ada@example.com\nbob@example.com\n"))
    assert [(r.line, r.values["email"]) for r in rows] == [(1, "ada@example.com"), (2, "bob@example.com")]


def test_a_csv_with_no_email_column_is_refused_naming_line_1():
    with pytest.raises(InvalidInput, match="line 1: there is no email column"):
        read_rows(io.StringIO("name,phone\nAda,123\n"))
    with pytest.raises(InvalidInput, match="the file is empty"):
        read_rows(io.StringIO(""))


def test_an_export_lists_topics_with_semicolons_and_can_be_read_back():
    stream = io.StringIO()
    write_csv(
        [{"id": 1, "email": "ada@example.com", "status": "active", "topics": ["A", "B"], "timezone": None}], stream
    )
    _, rows = read_rows(io.StringIO(stream.getvalue()))
    assert [r.values["topics"] for r in rows] == [["A", "B"]]


def test_a_confirmation_token_is_exactly_what_itsdangerous_makes_and_reads():
    # `make` signs with a signer it made once (it is on the path of every sign-up's mail);
    # old links and new ones must stay interchangeable, whoever made them.
    made_at = time.time() - 60
    ours = ConfirmationTokens("secret", clock=lambda: made_at)
    theirs = ours._serializer  # itsdangerous's URLSafeTimedSerializer for the same secret and purpose
    for _ in range(200):
        token = new_reader_token()
        assert ours.make(token) == theirs.dumps(token)
        assert ConfirmationTokens("secret").read(ours.make(token)) == token
