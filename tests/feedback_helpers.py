"""Shared by the feedback tests (webhook, suppression, stats, votes, archive): holds no tests itself.

    KeyPair           an ECDSA P-256 key made in the test, signing bodies as SendGrid does
    sendgrid_event    one event as SendGrid posts it, custom args as top-level keys
    Site              the real web app served on loopback over a real store (create_app + uvicorn)
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator, Sequence

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from digest.settings import Settings
from digest.store import open_store


class KeyPair:
    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_b64(self) -> str:
        """The form SendGrid's settings page shows (base64 DER, no PEM armour)."""
        der = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def sign(self, body: bytes, timestamp: str) -> str:
        return base64.b64encode(self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {"Content-Type": "application/json", SIGNATURE_HEADER: self.sign(body, stamp),
                TIMESTAMP_HEADER: stamp}


def sendgrid_event(event: str, email: str, *, edition: int | None = 1, reader: int | None = None,
                   sg_event_id: str | None = None, timestamp: int | None = None, **extra) -> dict:
    item = {"email": email, "timestamp": int(time.time()) if timestamp is None else timestamp,
            "event": event, "sg_event_id": sg_event_id or uuid.uuid4().hex,
            "sg_message_id": f"{uuid.uuid4().hex[:22]}.filter0001", "smtp-id": f"<{uuid.uuid4().hex}@example.com>"}
    if edition is not None:
        item["edition"] = str(edition)
    if reader is not None:
        item["reader_id"] = str(reader)
    item.update(extra)
    return item


def body_of(events: Sequence[dict]) -> bytes:
    """Compact JSON with a trailing newline, as SendGrid sends it."""
    return (json.dumps(list(events), separators=(",", ":")) + "\r\n").encode()


class Site:
    """The whole web app on 127.0.0.1:<free port>, with its own settings and store."""

    def __init__(self, settings: Settings, engine, url: str):
        self.settings, self.engine, self.url = settings, engine, url
        self.http = httpx.Client(base_url=url, timeout=10.0)

    def post_events(self, keys: KeyPair, events: Sequence[dict] | bytes, *, timestamp: int | None = None,
                    headers: dict | None = None) -> httpx.Response:
        body = events if isinstance(events, bytes) else body_of(events)
        sent = keys.headers(body, timestamp) if headers is None else headers
        return self.http.post("/webhooks/sendgrid", content=body, headers=sent)


@contextmanager
def serve_site(db_url: str, **settings_fields) -> Iterator[Site]:
    from digest.web import create_app
    from digest.web.server import base_url, bind, serving

    sock = bind()
    url = base_url(sock)
    settings = replace(Settings(), database_url=db_url, base_url=url, **settings_fields)
    engine = open_store(db_url)
    app = create_app(settings, engine)
    try:
        with serving(app, sock) as served:
            site = Site(settings, engine, served)
            try:
                yield site
            finally:
                site.http.close()
    finally:
        sock.close()
        engine.dispose()


def add_reader(engine, email: str, status: str = "active", confirmed_at=None) -> tuple[int, str]:
    """One reader with a real reader token (as subscribers makes them); returns (id, token)."""
    from digest.timeutil import utcnow
    from subscribers.models import Subscriber
    from subscribers.tokens import new_reader_token

    token = new_reader_token()
    now = utcnow()
    with engine.begin() as connection:
        reader_id = connection.execute(Subscriber.__table__.insert().values(
            email=email, status=status, topics=[], token=token, created_at=now, updated_at=now,
            confirmed_at=confirmed_at if confirmed_at is not None else (None if status == "pending" else now),
        )).inserted_primary_key[0]
    return reader_id, token
