"""The SendGrid sender's requests, checked against SendGrid's own description and documented limits."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import require_shared
from helpers import LIST_ID, a_letter, add_edition, add_readers
from sendgrid.helpers.mail import CustomArg, Header, Personalization, Substitution, To
from sendgrid_server import SPEC, SendGridServer, documented_limits, mail_send_validator

from digest.delivery import send_edition
from digest.delivery.readers import recipient_for, recipients_for
from digest.mail.placeholders import READER_TOKEN
from digest.mail.sendgrid import SendGridSender, letter_payload, personalization, request_body
from digest.settings import Settings
from subscribers.audience import Reader


def body_for(count: int, letter=None) -> dict:
    letter = letter or a_letter()
    recipients = recipients_for(
        [Reader(i, f"reader{i}@example.com", f"token{i:040d}") for i in range(1, count + 1)], 7, "https://x.example"
    )  # a ReaderBatch: the send's own fast path
    return json.loads(request_body(json.dumps(letter_payload(letter)).encode(), recipients))


@pytest.fixture(scope="module")
def validator():
    """SendGrid's official description of mail/send, from ../shared (skips on a bare clone, fails in CI)."""
    require_shared(SPEC)
    return mail_send_validator()


def test_a_full_request_validates_against_sendgrids_description(validator):
    body = body_for(1000)
    assert list(validator.reference.iter_errors(body)) == []  # the reference implementation, not the screen
    assert documented_limits(body) == []
    assert len(body["personalizations"]) == 1000


def test_a_rendered_edition_request_validates_against_the_description(validator, engine):
    from helpers import built_edition

    from digest.delivery import render_letter
    from digest.editions.service import get_edition
    from digest.store import session_scope

    settings = Settings(database_url=str(engine.url))
    number = built_edition(engine, settings)
    with session_scope(engine) as session:
        edition = get_edition(session, number)
    letter = render_letter(engine, settings, edition)
    body = body_for(3, letter)
    assert list(validator.reference.iter_errors(body)) == []
    assert documented_limits(body) == []
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert READER_TOKEN in body["content"][1]["value"]  # filled by SendGrid's substitutions per reader


def test_a_personalization_equals_what_the_official_helpers_build():
    recipient = recipient_for(Reader(42, "ada@example.com", "tok-42"), 7, "https://x.example")
    helper = Personalization()
    helper.add_to(To(recipient.address))
    for name, value in recipient.headers.items():
        helper.add_header(Header(name, value))
    for key, value in recipient.substitutions.items():
        helper.add_substitution(Substitution(key, value))
    for key, value in recipient.custom_args.items():
        helper.add_custom_arg(CustomArg(key, value))
    assert personalization(recipient) == helper.get()


def _by_json_dumps(recipients) -> list:
    return json.loads(json.dumps([personalization(r) for r in recipients], ensure_ascii=False))


def test_the_templated_personalizations_equal_json_dumps_of_the_helpers_shape():
    from digest.mail.sendgrid import _QUOTES_PER_READER, batch_personalizations

    batch = recipients_for(
        [Reader(i, f"reader{i}@example.com", f"token{i:040d}") for i in range(1, 1001)], 7, "https://x.example"
    )
    fast = batch_personalizations(batch)
    assert fast is not None  # plain readers take the template
    assert json.loads(fast) == _by_json_dumps(list(batch))
    assert json.loads(request_body(b'{"subject":"s"}', batch)) == {
        "personalizations": _by_json_dumps(list(batch)),
        "subject": "s",
    }
    assert batch_personalizations(batch[:1]).count(b'"') == _QUOTES_PER_READER
    # A list of the same Recipients (a test mail, a retry written by hand) goes through json.dumps: same JSON.
    assert json.loads(request_body(b'{"subject":"s"}', list(batch))) == json.loads(
        request_body(b'{"subject":"s"}', batch)
    )


@pytest.mark.parametrize(
    "address, token",
    [
        ('"odd\\"@example.com', "tok"),
        ('"a\\"b"@example.com', "tok"),
        ("ada@example.com", 'to"k'),
        ("ada@example.com", "to\\k"),
        ("ada@example.com", "to\nk"),
        ("ada@example.com", "to\x01k"),
        ("jörg@exämple.de", "tök"),
        ("ada@example.com", "to\u2028k"),
    ],
)
def test_values_that_need_escaping_still_make_valid_json(address, token):
    from digest.mail.sendgrid import batch_personalizations

    batch = recipients_for([Reader(1, "plain@example.com", "tok"), Reader(2, address, token)], 7, "https://x.example")
    body = json.loads(request_body(b'{"subject":"s"}', batch))
    assert body["personalizations"] == _by_json_dumps(list(batch))
    assert body["personalizations"][1]["to"] == [{"email": address}]
    if any(c in address + token for c in '"\\\n\x01'):
        assert batch_personalizations(batch) is None  # json.dumps escapes them


def test_a_base_url_that_needs_escaping_still_makes_valid_json():
    batch = recipients_for([Reader(1, "plain@example.com", "tok")], 7, 'https://x.example/a"b')
    body = json.loads(request_body(b'{"subject":"s"}', batch))
    assert body["personalizations"][0]["headers"]["List-Unsubscribe"] == '<https://x.example/a"b/unsubscribe/tok>'


def test_recipients_of_another_shape_go_through_json_dumps():
    from digest.mail.message import Recipient

    plain = recipient_for(Reader(1, "plain@example.com", "tok"), 7, "https://x.example")
    others = [
        Recipient("a@example.com"),
        plain._replace(headers={**plain.headers, "X-Extra": "1"}),
        plain._replace(custom_args={"edition": "7", "other": "1"}),
        plain._replace(substitutions={"%%other%%": "x"}),
    ]
    for other in others:
        body = json.loads(request_body(b'{"subject":"s"}', [plain, other]))
        assert body["personalizations"] == _by_json_dumps([plain, other])


def test_each_reader_carries_one_click_unsubscribe_substitutions_and_custom_args():
    entry = body_for(1)["personalizations"][0]
    assert entry == {
        "to": [{"email": "reader1@example.com"}],
        "headers": {
            "List-Unsubscribe": f"<https://x.example/unsubscribe/token{1:040d}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "substitutions": {READER_TOKEN: f"token{1:040d}"},
        "custom_args": {"edition": "7", "reader_id": "1"},
    }


def test_the_letter_part_carries_list_id_categories_and_text_before_html():
    body = body_for(1)
    assert body["headers"] == {"List-Id": LIST_ID}
    assert sorted(body["categories"]) == ["edition", "edition-1"]
    assert body["from"] == {"email": "verdicts@example.com", "name": "Weekly AI Tool Verdicts"}
    assert "custom_args" not in body  # typed as a string by the description, an object by the live API


def _break(body: dict, how: str) -> dict:
    body = copy.deepcopy(body)
    if how == "1001 personalizations":
        body["personalizations"] += [body["personalizations"][0]]
    elif how == "11 categories":
        body["categories"] = [f"c{i}" for i in range(11)]
    elif how == "substitutions over 10,000 bytes":
        body["personalizations"][0]["substitutions"] = {READER_TOKEN: "x" * 10_001}
    elif how == "custom args over 10,000 bytes":
        body["personalizations"][0]["custom_args"] = {"big": "x" * 10_001}
    elif how == "a reserved header":
        body["personalizations"][0]["headers"]["Subject"] = "hijack"
    elif how == "a number as custom arg":
        body["personalizations"][0]["custom_args"]["reader_id"] = 1
    elif how == "html before text":
        body["content"].reverse()
    elif how == "no address":
        body["personalizations"][0]["to"] = [{"name": "nobody"}]
    elif how == "no from":
        del body["from"]
    elif how == "tracking on as a string":
        body["tracking_settings"]["open_tracking"]["enable"] = "false"
    elif how == "a misspelt tracking key":
        body["tracking_settings"]["click_tracking"] = {"enabled": False}
    return body


BROKEN = [
    "1001 personalizations",
    "11 categories",
    "substitutions over 10,000 bytes",
    "custom args over 10,000 bytes",
    "a reserved header",
    "a number as custom arg",
    "html before text",
    "no address",
    "no from",
    "tracking on as a string",
    "a misspelt tracking key",
]


# What only SendGrid's official description states (the rest are limits the server checks itself).
NEEDS_DESCRIPTION = {"11 categories", "no address", "no from", "tracking on as a string"}
ONLY_THE_SERVER = {"a misspelt tracking key"}  # the description lets unknown keys through


@pytest.mark.parametrize("how", BROKEN)
def test_the_test_server_refuses_what_sendgrid_refuses(how):
    if how in NEEDS_DESCRIPTION:
        require_shared(SPEC)
    body = _break(body_for(1000), how)
    with SendGridServer(api_key="k") as server:
        import httpx

        response = httpx.post(server.url + "/v3/mail/send", json=body, headers={"Authorization": "Bearer k"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and all({"message", "field", "help"} <= set(e) for e in errors)
    assert server.accepted == []


@pytest.mark.parametrize("how", BROKEN)
def test_the_fast_screen_agrees_with_jsonschema(validator, how):
    if validator.fast is None:
        pytest.fail("jsonschema-rs is a test dependency (pyproject [test]) and should be installed")
    body = _break(body_for(1000), how)
    reference = list(validator.reference.iter_errors(body))
    assert validator.fast.is_valid(body) == (reference == [])
    if how in NEEDS_DESCRIPTION | ONLY_THE_SERVER:
        assert (reference == []) == (how in ONLY_THE_SERVER)
    assert validator.fast.is_valid(body_for(1000))


def test_the_engine_sends_valid_requests_over_one_reused_connection(engine):
    add_readers(engine, 2500)
    add_edition(engine, 1)
    with SendGridServer(api_key="k") as server:
        sender = SendGridSender("k", server.url)
        summary = send_edition(
            engine,
            Settings(database_url=str(engine.url), base_url="https://v.example"),
            1,
            sender=sender,
            letter=a_letter(1),
        )
        sender.close()
    assert summary.status == "sent" and summary.sent == 2500
    assert server.refused == []
    assert [len(a.body["personalizations"]) for a in server.accepted] == [1000, 1000, 500]
    assert len(set(server.peers)) == 1  # one pooled keep-alive connection for every request
    address, entry = server.recipients()[0]
    assert entry["custom_args"] == {"edition": "1", "reader_id": "1"}
    assert entry["headers"]["List-Unsubscribe"].startswith("<https://v.example/unsubscribe/t")


TRACKING_OFF = {
    "click_tracking": {"enable": False, "enable_text": False},
    "open_tracking": {"enable": False},
    "subscription_tracking": {"enable": False},
}


def test_every_request_turns_tracking_off_explicitly(validator):
    """Without tracking_settings SendGrid applies the account's: a pixel and every link rewritten."""
    body = body_for(3)
    assert body["tracking_settings"] == TRACKING_OFF
    assert list(validator.reference.iter_errors(body)) == [] and documented_limits(body) == []


def test_click_tracking_on_is_the_only_tracking_and_only_in_the_html_part(validator):
    letter = a_letter()
    body = json.loads(request_body(json.dumps(letter_payload(letter, click_tracking=True)).encode(), []))
    assert body["tracking_settings"] == {**TRACKING_OFF, "click_tracking": {"enable": True, "enable_text": False}}
    body = {**body_for(1), "tracking_settings": body["tracking_settings"]}
    assert list(validator.reference.iter_errors(body)) == [] and documented_limits(body) == []


@pytest.mark.parametrize("on", [False, True])
def test_the_setting_reaches_every_request_the_sender_makes(engine, on):
    from digest.mail import make_sender

    add_readers(engine, 3)
    add_edition(engine, 1)
    with SendGridServer(api_key="k") as server:
        settings = Settings(
            database_url=str(engine.url),
            base_url="https://v.example",
            backend="sendgrid",
            sendgrid_api_key="k",
            sendgrid_api_url=server.url,
            click_tracking=on,
        )
        sender = make_sender(settings)
        summary = send_edition(engine, settings, 1, sender=sender, letter=a_letter(1))
        sender.close()
    assert summary.sent == 3 and server.refused == []
    assert [a.body["tracking_settings"]["click_tracking"]["enable"] for a in server.accepted] == [on]
    assert all(a.body["tracking_settings"]["open_tracking"] == {"enable": False} for a in server.accepted)


def test_a_missing_api_key_is_named():
    from digest.errors import ConfigError
    from digest.mail import make_sender

    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        make_sender(Settings(database_url="sqlite://", backend="sendgrid"))


def test_recipients_for_a_batch_equal_recipient_for_each():
    from digest.mail.message import ReaderBatch, addresses_of
    from subscribers.links import list_unsubscribe_headers

    readers = [Reader(i, f"reader{i}@example.com", f"token{i:040d}") for i in (1, 2, 99)]
    batch = recipients_for(readers, 7, "https://x.example")
    assert isinstance(batch, ReaderBatch) and len(batch) == 3
    assert list(batch) == [recipient_for(r, 7, "https://x.example") for r in readers]
    assert batch[2].headers == list_unsubscribe_headers("https://x.example", f"token{99:040d}")
    assert batch[2].custom_args == {"edition": "7", "reader_id": "99"}
    assert addresses_of(batch) == [r.address for r in batch] == [r.email for r in readers]
    assert batch.reader_ids == [1, 2, 99]
    assert list(batch[1:]) == list(batch)[1:]
    assert batch.only({"reader99@example.com", "reader1@example.com"}).reader_ids == [1, 99]
    assert not batch.only(set())
