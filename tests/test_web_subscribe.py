"""The reader endpoints, request by request, through Starlette's TestClient on the real app and store."""

from __future__ import annotations

import html
import json
import re
import threading
import time
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import wait_for

from digest.content.models import Tool
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.web import create_app
from subscribers.models import Subscriber
from subscribers.tokens import ConfirmationTokens, new_reader_token

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
from starlette.testclient import TestClient  # noqa: E402

TOPICS = ("Developer Tools", "Video")
PAGE = {"accept": "text/html"}


def add_tools(engine, categories=TOPICS):
    with session_scope(engine) as session:
        for index, category in enumerate(categories):
            session.add(
                Tool(
                    slug=f"tool-{index}",
                    name=f"Tool {index}",
                    category=category,
                    tagline="t",
                    description="d",
                    pricing="Free",
                )
            )


@pytest.fixture
def store(sqlite_url):
    engine = open_store(sqlite_url)
    add_tools(engine)
    yield engine
    engine.dispose()


def make_settings(tmp_path: Path, url: str, **changes) -> Settings:
    values = {
        "database_url": url,
        "outbox": tmp_path / "outbox",
        "secret_key": "test-secret",
        "base_url": "http://testserver",
        "subscribe_rate_limit": "1000/minute",
        **changes,
    }
    return Settings(**values)


@pytest.fixture
def client(store, tmp_path):
    app = create_app(make_settings(tmp_path, str(store.url)), store)
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client


def readers(engine) -> list[Subscriber]:
    with session_scope(engine) as session:
        return list(session.exec(sa.select(Subscriber).order_by(Subscriber.id)).scalars())


def one_reader(engine) -> Subscriber:
    (reader,) = readers(engine)
    return reader


def outbox_mails(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


# --- the subscribe page and POST /subscribe ---------------------------------------------------


def test_the_subscribe_page_has_a_labelled_form_topics_and_a_honeypot_hidden_from_people(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert '<form class="form" method="post" action="/subscribe"' in text
    assert '<label for="email">Email address</label>' in text and 'id="email" name="email" type="email"' in text
    for topic in TOPICS:
        assert f'name="topics" value="{topic}"' in text
    assert re.search(r'<div class="trap" aria-hidden="true">.*name="website".*tabindex="-1"', text, re.S)
    assert "<script" not in text


def test_a_json_subscription_is_accepted_and_stored_pending_with_its_consent_record(client, store):
    answer = client.post(
        "/subscribe", json={"email": " Ada@Example.COM ", "topics": ["Video"], "timezone": "Europe/Paris"}
    )
    assert answer.status_code == 202 and answer.json()["status"] == "accepted"
    reader = one_reader(store)
    assert (reader.email, reader.status, reader.topics, reader.timezone) == (
        "ada@example.com",
        "pending",
        ["Video"],
        "Europe/Paris",
    )
    assert reader.consent_source == "JSON API (POST /subscribe)" and reader.consent_ip == "testclient"


def test_a_form_subscription_shows_the_check_your_inbox_page_and_the_mail_goes_out(client, store, tmp_path):
    answer = client.post(
        "/subscribe",
        data={"email": "ada@example.com", "topics": ["Video", "Developer Tools"], "website": ""},
        headers={**PAGE, "referer": "http://testserver/"},
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.text and "ada@example.com" in answer.text
    reader = one_reader(store)
    assert reader.topics == ["Developer Tools", "Video"]
    assert reader.consent_source == "web form (POST /subscribe) on http://testserver/"
    # The response's background task woke the confirmation sender, which mails shortly after.
    # A reader counts as mailed once the mail has left: the mark follows the file by a moment.
    wait_for(lambda: outbox_mails(tmp_path) and one_reader(store).confirmation_sent_at, 10, "the confirmation mail")
    assert len(outbox_mails(tmp_path)) == 1
    assert one_reader(store).confirmation_sent_at is not None


def test_the_answer_is_the_same_whether_the_address_is_new_pending_or_active(client, store):
    first = client.post("/subscribe", json={"email": "ada@example.com"})
    pending = client.post("/subscribe", json={"email": "ada@example.com"})
    with session_scope(store) as session:
        session.exec(sa.update(Subscriber).values(status="active"))
    active = client.post("/subscribe", json={"email": "ada@example.com"})
    assert first.status_code == pending.status_code == active.status_code == 202
    assert first.json() == pending.json() == active.json()
    pages = [client.post("/subscribe", data={"email": "ada@example.com"}, headers=PAGE) for _ in range(2)]
    assert pages[0].status_code == pages[1].status_code == 200 and pages[0].text == pages[1].text
    assert len(readers(store)) == 1


BAD_JSON = [
    # (body, status, field, words in the message)
    ({"email": "not-an-address"}, 422, "email", "not a valid email address"),
    ({"email": "ada@example.com\r\nBcc: victim@example.com"}, 422, "email", "line break"),
    ({"email": "ada@example.com", "topics": ["Video\r\nX-Injected: 1"]}, 422, "topics", "line break"),
    ({"email": "ada@example.com", "timezone": "Europe/Paris\r\n"}, 422, "timezone", "line break"),
    ({"email": "ada@example.com", "topics": ["Cooking"]}, 422, "topics", "not a topic of this newsletter"),
    ({"email": "ada@example.com", "topics": "Video; DROP TABLE subscriber"}, 422, "topics", "not a topic"),
    ({"email": "' OR '1'='1' --"}, 422, "email", "not a valid email address"),
    ({"email": "ada@example.com'); DELETE FROM subscriber; --"}, 422, "email", "not a valid email address"),
    ({"email": "😀@example.com"}, 422, "email", "not a valid email address"),
    ({"email": "ada\u202e@example.com"}, 422, "email", "invisible character"),
    ({"email": "\ud83d@example.com"}, 422, "email", "lone surrogate"),
    ({"email": "ada@example.com\u0000"}, 422, "email", "control character U+0000"),
    ({"email": None}, 422, "email", "is required"),
    ({"email": ["ada@example.com"] * 3}, 422, "email", "give one value"),
    ({"email": {"$ne": ""}}, 422, "email", "must be text"),
    ({"email": "ada@example.com", "timezone": "Mars/Olympus"}, 422, "timezone", "IANA time zone"),
    ({"email": "ada@example.com", "status": "active"}, 422, "body", "unknown field"),
    ({}, 422, "email", "is required"),
    (["ada@example.com"], 422, "body", "JSON object"),
    ("ada@example.com", 422, "body", "JSON object"),
]


@pytest.mark.parametrize("body, status, field, words", BAD_JSON, ids=[str(i) for i in range(len(BAD_JSON))])
def test_bad_json_is_refused_with_a_message_naming_the_field_and_nothing_is_stored(
    client, store, body, status, field, words
):
    answer = client.post("/subscribe", content=json.dumps(body), headers={"content-type": "application/json"})
    assert answer.status_code == status
    errors = answer.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors
    assert readers(store) == []


@pytest.mark.parametrize(
    "content, content_type, status, words",
    [
        (b'{"email": "ada@example.com"', "application/json", 400, "not valid JSON"),
        (b"\xff\xfe\x00garbage", "application/json", 400, "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "not valid JSON"),
        (b"email=ada@example.com", "text/plain", 415, "got 'text/plain'"),
        (b"<subscribe><email>ada@example.com</email></subscribe>", "application/xml", 415, "application/json"),
        (b"email=ada@example.com", "", 415, "no Content-Type"),
    ],
)
def test_a_body_that_is_not_json_or_a_form_is_refused_saying_what_was_expected(
    client, store, content, content_type, status, words
):
    headers = (
        {"content-type": content_type, "accept": "application/json"} if content_type else {"accept": "application/json"}
    )
    answer = client.post("/subscribe", content=content, headers=headers)
    assert answer.status_code == status and words in answer.json()["errors"][0]["message"]
    assert readers(store) == []


def test_a_bad_form_post_shows_the_form_again_with_the_error_beside_the_field(client, store):
    answer = client.post("/subscribe", data={"email": "ada@example\r\n.com", "topics": ["Video"]}, headers=PAGE)
    assert answer.status_code == 422
    text = answer.text
    assert 'id="email-error" role="alert">contains a line break' in text
    assert 'aria-invalid="true"' in text
    assert 'value="ada@example.com"' in text  # what they typed, control characters removed
    assert 'value="Video" checked' in text
    assert readers(store) == []


def test_a_form_with_an_unknown_topic_is_shown_again_naming_the_topics_field(client, store):
    answer = client.post(
        "/subscribe", data={"email": "ada@example.com", "topics": ["<script>x</script>"]}, headers=PAGE
    )
    assert answer.status_code == 422
    assert 'id="topics-error" role="alert">&#39;&lt;script&gt;x&lt;/script&gt;&#39; is not a topic' in answer.text
    assert readers(store) == []


def test_a_filled_in_honeypot_is_turned_away_with_400_and_nothing_is_stored(client, store):
    answer = client.post(
        "/subscribe", data={"email": "bot@example.com", "website": "http://spam.example"}, headers=PAGE
    )
    assert answer.status_code == 400 and "to catch robots" in answer.text
    as_json = client.post("/subscribe", json={"email": "bot@example.com", "website": "x"})
    assert as_json.status_code == 400 and as_json.json()["errors"][0]["field"] == "website"
    assert readers(store) == []


def test_too_many_attempts_from_one_client_get_429_with_retry_after(store, tmp_path):
    app = create_app(make_settings(tmp_path, str(store.url), subscribe_rate_limit="3/minute"), store)
    with TestClient(app) as client:
        answers = [client.post("/subscribe", json={"email": f"r{i}@example.com"}) for i in range(5)]
        page = client.post("/subscribe", data={"email": "r9@example.com"}, headers=PAGE)
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    assert 1 <= int(answers[3].headers["retry-after"]) <= 60
    assert "3/minute" in answers[3].json()["errors"][0]["message"]
    assert page.status_code == 429 and "Too many sign-up attempts" in page.text
    assert len(readers(store)) == 3


def test_a_body_over_the_limit_is_refused_with_413_whether_its_length_is_declared_or_not(client, store):
    huge = json.dumps({"email": "ada@example.com", "topics": ["Video"] * 5000}).encode()
    declared = client.post("/subscribe", content=huge, headers={"content-type": "application/json"})
    chunked = client.post(
        "/subscribe", content=iter([huge[:8000], huge[8000:]]), headers={"content-type": "application/json"}
    )
    assert declared.status_code == chunked.status_code == 413
    assert "larger than this address accepts" in chunked.json()["errors"][0]["message"]
    assert readers(store) == []


# --- confirm ------------------------------------------------------------------------------------


def subscribe_and_link(client, store, address="ada@example.com") -> tuple[Subscriber, str]:
    client.post("/subscribe", json={"email": address})
    reader = next(r for r in readers(store) if r.email == address)
    return reader, ConfirmationTokens("test-secret").make(reader.token)


def test_the_confirmation_link_opens_a_page_whose_button_activates_the_reader_and_records_from_where(client, store):
    reader, signed = subscribe_and_link(client, store)
    for _ in range(2):  # a mail scanner opening the link, then the reader
        asked = client.get(f"/confirm/{signed}")
        assert asked.status_code == 200 and "Confirm your subscription" in asked.text
        assert f'method="post" action="/confirm/{signed}"' in asked.text
        assert one_reader(store).status == "pending"
    page = client.post(f"/confirm/{signed}")
    assert page.status_code == 200 and "You're in!" in page.text
    assert f"/preferences/{reader.token}" in page.text
    confirmed = one_reader(store)
    assert (confirmed.status, confirmed.confirmed_ip) == ("active", "testclient")
    for again in (client.post(f"/confirm/{signed}"), client.get(f"/confirm/{signed}")):
        assert again.status_code == 200 and "already subscribed" in again.text


def test_a_tampered_expired_or_wrong_purpose_confirmation_link_gets_a_clear_4xx_and_changes_nothing(client, store):
    from itsdangerous import URLSafeTimedSerializer

    reader, signed = subscribe_and_link(client, store)
    expired = ConfirmationTokens("test-secret", clock=lambda: time.time() - 8 * 86400).make(reader.token)
    wrong_purpose = URLSafeTimedSerializer("test-secret", salt="subscribers.vote").dumps(reader.token)
    forged = ConfirmationTokens("not-our-secret").make(reader.token)
    cases = {
        signed[:-3] + "AAA": (400, "This link doesn't work"),
        expired: (410, "This link has expired"),
        wrong_purpose: (400, "This link doesn't work"),
        forged: (400, "This link doesn't work"),
        reader.token: (400, "This link doesn't work"),  # the reader token is not a confirmation token
        "x" * 5000: (400, "This link doesn't work"),
    }
    for link, (status, title) in cases.items():
        for method in (client.get, client.post):
            page = method(f"/confirm/{link}", headers=PAGE)
            assert (page.status_code, title in html.unescape(page.text)) == (status, True), (method, link)
    assert one_reader(store).status == "pending"


def test_confirming_a_reader_who_has_since_unsubscribed_gets_410_and_does_not_resubscribe(client, store):
    reader, signed = subscribe_and_link(client, store)
    client.post(f"/unsubscribe/{reader.token}")
    for method in (client.get, client.post):
        page = method(f"/confirm/{signed}")
        assert page.status_code == 410 and "Subscribe again" in page.text
    assert one_reader(store).status == "unsubscribed"


# --- unsubscribe ----------------------------------------------------------------------------------


def active_reader(client, store) -> Subscriber:
    reader, signed = subscribe_and_link(client, store)
    client.post(f"/confirm/{signed}")
    return reader


def test_the_unsubscribe_page_has_one_button_and_a_way_back_and_changes_nothing(client, store):
    reader = active_reader(client, store)
    page = client.get(f"/unsubscribe/{reader.token}")
    assert page.status_code == 200
    assert f'method="post" action="http://testserver/unsubscribe/{reader.token}"' in page.text
    assert ">Unsubscribe</button>" in page.text
    assert f'href="http://testserver/preferences/{reader.token}">No, keep me subscribed' in page.text
    assert one_reader(store).status == "active"


def test_one_click_unsubscribe_works_with_no_cookie_and_no_further_step(client, store):
    reader = active_reader(client, store)
    client.cookies.clear()
    answer = client.post(
        f"/unsubscribe/{reader.token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200 and "You're unsubscribed" in answer.text
    gone = one_reader(store)
    assert (gone.status, gone.unsubscribed_at is not None) == ("unsubscribed", True)
    assert client.post(f"/unsubscribe/{reader.token}").status_code == 200  # repeating is harmless
    assert client.post(f"/unsubscribe/{reader.token}", headers={"accept": "application/json"}).json() == {
        "status": "unsubscribed"
    }


def test_an_unknown_reader_token_gets_a_404_page_everywhere(client, store):
    for method, path in (("GET", "unsubscribe"), ("POST", "unsubscribe"), ("GET", "preferences")):
        for token in (new_reader_token(), "short", "%27%20OR%201%3D1"):
            answer = client.request(method, f"/{path}/{token}", headers=PAGE)
            assert answer.status_code == 404 and "Subscription not found" in answer.text


# --- preferences ----------------------------------------------------------------------------------


def test_preferences_are_saved_from_the_form_and_shown_with_a_notice(client, store):
    reader = active_reader(client, store)
    page = client.get(f"/preferences/{reader.token}")
    assert page.status_code == 200 and 'name="topics" value="Video"' in page.text
    saved = client.post(
        f"/preferences/{reader.token}",
        data={"topics": ["Video"], "timezone": "Asia/Tokyo"},
        headers=PAGE,
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/preferences/{reader.token}?saved=true"
    shown = client.get(saved.headers["location"])
    assert "Your preferences are saved." in shown.text and 'value="Video" checked' in shown.text
    stored = one_reader(store)
    assert (stored.topics, stored.timezone) == (["Video"], "Asia/Tokyo")


def test_preferences_take_json_too(client, store):
    reader = active_reader(client, store)
    answer = client.post(f"/preferences/{reader.token}", json={"topics": ["Developer Tools"], "timezone": None})
    assert answer.status_code == 200
    assert answer.json() == {"topics": ["Developer Tools"], "timezone": None, "cadence": "weekly"}


def test_bad_preferences_are_refused_naming_the_field_and_change_nothing(client, store):
    reader = active_reader(client, store)
    page = client.post(
        f"/preferences/{reader.token}", data={"topics": ["Cooking"], "timezone": "Nowhere/Land"}, headers=PAGE
    )
    assert page.status_code == 422
    assert 'id="topics-error" role="alert">&#39;Cooking&#39; is not a topic' in page.text
    assert 'id="timezone-error" role="alert">&#39;Nowhere/Land&#39; is not an IANA time zone' in page.text
    as_json = client.post(f"/preferences/{reader.token}", json={"email": "other@example.com"})
    assert as_json.status_code == 422 and as_json.json()["errors"][0]["field"] == "body"
    stored = one_reader(store)
    assert (stored.topics, stored.timezone, stored.email) == ([], None, "ada@example.com")


# --- the app around the routes ---------------------------------------------------------------------


def test_every_answer_carries_the_security_headers_and_per_reader_pages_are_not_cached(client):
    for answer in (client.get("/"), client.get("/nowhere"), client.post("/subscribe", json={})):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/static/pages.css").headers.get("cache-control", "")


def test_an_unknown_page_or_method_gets_a_404_or_405_page_or_json(client):
    page = client.get("/nowhere", headers=PAGE)
    assert page.status_code == 404 and "There is no page at &#39;/nowhere&#39;" in page.text
    as_json = client.get("/nowhere", headers={"accept": "application/json"})
    assert as_json.status_code == 404 and as_json.json()["errors"][0]["message"] == "There is no page at '/nowhere'."
    assert client.delete("/subscribe", headers=PAGE).status_code == 405


def test_health_answers_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_the_openapi_description_lists_both_body_types_of_subscribe(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/subscribe"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-www-form-urlencoded"}
    assert body["application/json"]["schema"]["required"] == ["email"]


def test_the_rate_limit_starts_no_thread_however_many_requests_come():
    from digest.web.ratelimit import RateLimit

    before = threading.active_count()
    limit = RateLimit("subscribe", "1000/minute")
    for index in range(30):
        limit.hit(f"198.51.100.{index % 5}")
        time.sleep(0.002)  # longer than limits' MemoryStorage's 10 ms expiry timer, in total
    assert threading.active_count() == before
