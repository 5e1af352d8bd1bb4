"""The SendGrid sender: one POST /v3/mail/send per batch of up to 1000 readers.

The letter-level part of the payload (from, subject, both contents, List-Id,
categories, tracking settings) is built once per Letter with the official `sendgrid` helper
classes and serialized once. Each reader becomes one personalization: the
address, the substitutions that fill the placeholders, the per-reader headers
and custom args. Those are written as plain dicts because the helper classes
cost about 15 ms per 1000 readers, more than the rest of the request; the
tests check that `personalization()` equals what `sendgrid.helpers.mail.Personalization`
builds, and that whole requests validate against SendGrid's own description.

Every request says `tracking_settings` explicitly: without them SendGrid applies the
account's own (an open-tracking pixel, which loads something from elsewhere, and every
link rewritten, unsubscribe and vote links included). Open and subscription tracking are
always off; click tracking is off unless DIGEST_CLICK_TRACKING is on, and then only in
the HTML part (the text part's links stay readable). The clip budget counts the rewritten
links then (digest.render.clip.TRACKED_LINK).

One pooled httpx client, with timeouts, serves every request.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import certifi
import httpx
from sendgrid.helpers.mail import (
    Category,
    ClickTracking,
    Content,
    From,
    Header,
    Mail,
    OpenTracking,
    ReplyTo,
    SubscriptionTracking,
    TrackingSettings,
)

from digest.errors import ConfigError, RateLimited, RequestRefused, SenderRefused
from digest.mail.base import SendResult
from digest.mail.message import EDITION_ARG, ONE_CLICK, READER_ARG, Letter, ReaderBatch, Recipient, addresses_of
from digest.mail.placeholders import READER_TOKEN

MAIL_SEND = "/v3/mail/send"
MAX_PERSONALIZATIONS = 1000
_FIELD = re.compile(r"^personalizations\.(\d+)\b")
# Before these, the request body cannot have reached SendGrid: retrying is safe.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)


def letter_payload(letter: Letter, click_tracking: bool = False) -> dict:
    """The part of a mail/send request that is the same for every reader, by the official helpers;
    tracking explicitly off but for click tracking when asked (HTML part only)."""
    mail = Mail()
    mail.from_email = From(letter.from_address, letter.from_name) if letter.from_name else From(letter.from_address)
    mail.subject = letter.subject
    mail.add_content(Content("text/plain", letter.text))  # SendGrid wants text/plain first
    mail.add_content(Content("text/html", letter.html))
    if letter.reply_to:
        mail.reply_to = ReplyTo(letter.reply_to)
    for name, value in letter.headers.items():
        mail.add_header(Header(name, value))
    for category in letter.categories:
        mail.add_category(Category(category))
    mail.tracking_settings = TrackingSettings(
        click_tracking=ClickTracking(click_tracking, False),
        open_tracking=OpenTracking(False),
        subscription_tracking=SubscriptionTracking(False),
    )
    payload = mail.get()
    payload.pop("personalizations", None)
    return payload


# A send renders each variant once, and a weekly send in waves makes a sender per wave: each letter is
# serialized once per process. A letter with a serial (a send's variants, handed out anew each time
# from their packed form) is kept by it, its JSON alone, up to _SERIALIZED_BYTES (a send's few hundred
# letters of fortnightly and monthly readers: some 80 KB each), the oldest dropped first; any other by
# identity (the last few hundred).
_LETTERS: dict[tuple[int, bool], tuple[Letter, bytes]] = {}
_LETTERS_KEPT = 256
_SERIALIZED: dict[tuple[str, bool], bytes] = {}
_SERIALIZED_BYTES = 48_000_000
_serialized_bytes = 0


def letter_json(letter: Letter, click_tracking: bool = False) -> bytes:
    """The letter part of a request, serialized once per Letter (kept by its serial, else by identity)."""
    global _serialized_bytes
    if letter.serial is not None:
        found = _SERIALIZED.get((letter.serial, click_tracking))
        if found is None:
            found = _serialize(letter, click_tracking)
            while _SERIALIZED and _serialized_bytes + len(found) > _SERIALIZED_BYTES:
                _serialized_bytes -= len(_SERIALIZED.pop(next(iter(_SERIALIZED))))
            _SERIALIZED[(letter.serial, click_tracking)] = found
            _serialized_bytes += len(found)
        return found
    key = (id(letter), click_tracking)
    kept = _LETTERS.get(key)
    if kept is None or kept[0] is not letter:
        if len(_LETTERS) >= _LETTERS_KEPT:
            _LETTERS.clear()
        kept = _LETTERS[key] = (letter, _serialize(letter, click_tracking))
    return kept[1]


def _serialize(letter: Letter, click_tracking: bool) -> bytes:
    return json.dumps(letter_payload(letter, click_tracking), ensure_ascii=False, separators=(",", ":")).encode()


def personalization(recipient: Recipient) -> dict:
    """One reader's envelope; equal to what the helpers' Personalization.get() returns."""
    entry: dict = {"to": [{"email": recipient.address}]}
    if recipient.headers:
        entry["headers"] = recipient.headers
    if recipient.substitutions:
        entry["substitutions"] = recipient.substitutions
    if recipient.custom_args:
        entry["custom_args"] = recipient.custom_args
    return entry


class Encoded(NamedTuple):
    people: bytes  # the personalizations array, as JSON
    kept: Sequence[Recipient]  # the recipients it holds, in its order
    refused: dict[str, str]  # address -> why that reader's personalization cannot be written


def encode_people(recipients: Sequence[Recipient]) -> Encoded:
    """The personalizations array: the fast template for a ReaderBatch, else json.dumps. A reader
    whose values cannot be encoded (a lone surrogate) is left out and named, the others go on."""
    people = batch_personalizations(recipients) if isinstance(recipients, ReaderBatch) else None
    if people is not None:
        return Encoded(people, recipients, {})
    try:
        return Encoded(
            json.dumps([personalization(r) for r in recipients], ensure_ascii=False, separators=(",", ":")).encode(),
            recipients,
            {},
        )
    except (TypeError, ValueError):  # one reader's values (UnicodeEncodeError is a ValueError): find whose
        pass
    kept, parts, refused = [], [], {}
    for recipient in recipients:
        try:
            parts.append(json.dumps(personalization(recipient), ensure_ascii=False, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            refused[recipient.address] = f"the message cannot be built: {exc}"
            continue
        kept.append(recipient)
    return Encoded(b"[" + b",".join(parts) + b"]", kept, refused)


def request_body(letter_json: bytes, recipients: Sequence[Recipient]) -> bytes:
    """The whole request: personalizations first, then the pre-serialized letter part (`{...}`)."""
    return _with_letter(letter_json, encode_people(recipients).people)


def _with_letter(letter_json: bytes, people: bytes) -> bytes:
    return b'{"personalizations":' + people + b"," + letter_json[1:]


# The hot path. Every reader of a send has the same shape (digest.mail.message.ReaderBatch), so
# a batch is written from its (id, address, token) rows with one f-string per reader instead of
# json.dumps over nested dicts (about 0.5 ms instead of 7 ms per 1000 readers, the Recipients
# included). The result is used only when no value needs JSON escaping, checked on the whole
# batch at once; anything else goes through json.dumps.
_CONTROL = bytes(range(0x20))  # JSON strings may not hold these unescaped
_QUOTES_PER_READER = 32  # the double quotes in one templated personalization (checked by the tests)


def batch_personalizations(batch: ReaderBatch) -> bytes | None:
    """The personalizations array of a ReaderBatch as JSON, or None if a value needs escaping."""
    edition, prefix = batch.edition, batch.unsubscribe_prefix
    try:
        text = (
            "["
            + ",".join(
                f'{{"to":[{{"email":"{a}"}}],"headers":{{"List-Unsubscribe":"<{prefix}{t}>",'
                f'"List-Unsubscribe-Post":"{ONE_CLICK}"}},"substitutions":{{"{READER_TOKEN}":"{t}"}},'
                f'"custom_args":{{"{EDITION_ARG}":"{edition}","{READER_ARG}":"{i:d}"}}}}'
                for i, a, t in batch.rows
            )
            + "]"
        ).encode()
    except (TypeError, ValueError, UnicodeEncodeError):
        return None  # an id that is not a number, a lone surrogate
    # A value with a quote adds quotes to the count; backslashes and control characters are
    # looked for directly. Any of them needs escaping: json.dumps does it.
    if (
        text.count(b'"') != _QUOTES_PER_READER * len(batch.rows)
        or b"\\" in text
        or len(text.translate(None, _CONTROL)) != len(text)
    ):
        return None
    return text


def _messages(response: httpx.Response) -> list[dict]:
    try:
        errors = response.json().get("errors", [])
        return [e for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        return []


def _describe(response: httpx.Response) -> str:
    said = "; ".join(str(e.get("message", "")) for e in _messages(response) if e.get("message"))
    return f"SendGrid answered {response.status_code}" + (f": {said}" if said else "")


def _reset_time(response: httpx.Response) -> float:
    """X-RateLimit-Reset is a Unix time; fall back on Retry-After (seconds), then one second."""
    now = time.time()
    for name, relative in (("X-RateLimit-Reset", False), ("Retry-After", True)):
        raw = response.headers.get(name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        return now + value if relative else value
    return now + 1.0


def interpret(response: httpx.Response, recipients: Sequence[Recipient]) -> SendResult:
    """What one answer of mail/send means for each reader in the request."""
    status = response.status_code
    if 200 <= status < 300:
        return SendResult(accepted=addresses_of(recipients), message_id=response.headers.get("X-Message-Id"))
    if status == 429:
        raise RateLimited(_describe(response), _reset_time(response))
    if status in (401, 403):
        raise SenderRefused(
            f"{_describe(response)}. Check SENDGRID_API_KEY: it must be valid and allowed "
            "to send mail (Mail Send permission)."
        )
    if status >= 500:
        return SendResult.all_unsent(recipients, _describe(response))
    if status == 400:
        rejected: dict[str, str] = {}
        for error in _messages(response):
            match = _FIELD.match(str(error.get("field") or ""))
            if match and int(match.group(1)) < len(recipients):
                rejected[recipients[int(match.group(1))].address] = str(error.get("message") or "refused by SendGrid")
        if rejected:
            # SendGrid refuses the whole request: the other readers were not sent and may go again.
            unsent = [r.address for r in recipients if r.address not in rejected]
            return SendResult(rejected=rejected, unsent=unsent, error="sent again without the refused readers")
    hint = " (is SENDGRID_API_URL right?)" if status in (404, 405) else ""
    raise RequestRefused(f"{_describe(response)}{hint}")


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The TLS settings every client shares: loading the CA bundle takes tens of milliseconds, and a
    weekly send in waves makes a client per wave."""
    return ssl.create_default_context(cafile=certifi.where())


class SendGridSender:
    name = "sendgrid"
    max_batch = MAX_PERSONALIZATIONS

    def __init__(
        self,
        api_key: str | None,
        api_url: str = "https://api.sendgrid.com",
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        click_tracking: bool = False,
    ):
        if not api_key:
            raise ConfigError("SENDGRID_API_KEY is not set: DIGEST_BACKEND=sendgrid needs an API key")
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"SENDGRID_API_URL must start with https:// (or http:// for a local test server), got {api_url!r}"
            )
        self.api_url = api_url.rstrip("/")
        self.click_tracking = click_tracking
        self._client = httpx.Client(
            base_url=self.api_url,
            verify=_tls_context(),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        )

    @classmethod
    def from_settings(cls, settings) -> SendGridSender:
        return cls(settings.sendgrid_api_key, settings.sendgrid_api_url, click_tracking=settings.click_tracking)

    def _letter_part(self, letter: Letter) -> bytes:
        return letter_json(letter, self.click_tracking)

    def send(self, letter: Letter, recipients: Sequence[Recipient]) -> SendResult:
        if len(recipients) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} readers per request, got {len(recipients)}")
        encoded = encode_people(recipients)
        result = (
            self._post(_with_letter(self._letter_part(letter), encoded.people), encoded.kept)
            if encoded.kept
            else SendResult()
        )
        result.rejected.update(encoded.refused)
        return result

    def _post(self, body: bytes, recipients: Sequence[Recipient]) -> SendResult:
        try:
            response = self._client.post(MAIL_SEND, content=body)
        except _NOT_SENT as exc:
            return SendResult.all_unsent(recipients, f"could not reach SendGrid at {self.api_url}: {exc!r}")
        except httpx.TransportError as exc:
            # The body left (or may have): a read timeout, a dropped connection.
            return SendResult.all_uncertain(recipients, f"no answer from SendGrid at {self.api_url}: {exc!r}")
        return interpret(response, recipients)

    def close(self) -> None:
        self._client.close()
