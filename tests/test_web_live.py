"""The web app served by a real uvicorn on loopback, driven over HTTP with httpx (SQLite and PostgreSQL)."""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import sqlalchemy as sa
from helpers import pause, wait_for

from digest.content.models import Tool
from digest.settings import Settings
from digest.store import session_scope
from digest.web import create_app
from digest.web.server import base_url, bind, serving
from subscribers.models import Subscriber


@contextmanager
def live_app(engine, tmp_path: Path, **changes):
    """The app on a free loopback port, with links pointing at that port. Yields (base URL, settings)."""
    sock = bind()
    values = {
        "database_url": str(engine.url),
        "outbox": tmp_path / "outbox",
        "secret_key": "live-secret",
        "base_url": base_url(sock),
        "subscribe_rate_limit": "1000/minute",
        **changes,
    }
    settings = Settings(**values)
    with serving(create_app(settings, engine), sock) as url:
        yield url, settings


def outbox(settings: Settings) -> list[email.message.EmailMessage]:
    folder = settings.outbox
    return (
        [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in sorted(folder.glob("*.eml"))]
        if folder.exists()
        else []
    )


def stored(engine) -> list[Subscriber]:
    with session_scope(engine) as session:
        return list(session.exec(sa.select(Subscriber).order_by(Subscriber.id)).scalars())


def test_a_reader_joins_confirms_chooses_topics_and_leaves_with_one_click_over_http(engine, tmp_path):
    with session_scope(engine) as session:
        session.add(Tool(slug="t", name="T", category="Video", tagline="", description="", pricing=""))
    with live_app(engine, tmp_path) as (url, settings), httpx.Client(base_url=url) as http:
        answer = http.post("/subscribe", json={"email": "Ada@Example.com"})
        assert answer.status_code == 202
        (mail,) = wait_for(lambda: outbox(settings))
        assert mail["To"] == "ada@example.com"
        link = re.search(r"(http://\S+/confirm/\S+)", mail.get_body(("plain",)).get_content()).group(1)
        assert link.startswith(url)
        assert http.get(link).status_code == 200 and stored(engine)[0].status == "pending"  # the link asks
        confirmed = http.post(link)  # the button on its page confirms
        assert confirmed.status_code == 200 and "You're in!" in confirmed.text
        reader = stored(engine)[0]
        assert (reader.status, reader.confirmed_ip) == ("active", "127.0.0.1")

        saved = http.post(
            f"/preferences/{reader.token}", data={"topics": "Video", "timezone": "Europe/Berlin"}, follow_redirects=True
        )
        assert saved.status_code == 200 and "Your preferences are saved." in saved.text  # after the 303
        assert (stored(engine)[0].topics, stored(engine)[0].timezone) == (["Video"], "Europe/Berlin")

        # What a mailbox provider does for RFC 8058: a bare POST, no cookie, no page visited first.
        with httpx.Client() as provider:
            left = provider.post(
                f"{url}/unsubscribe/{reader.token}",
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        assert left.status_code == 200
        assert stored(engine)[0].status == "unsubscribed"


def test_the_same_address_sent_sixteen_times_at_once_is_stored_once(engine, tmp_path):
    with live_app(engine, tmp_path) as (url, settings), httpx.Client(base_url=url) as http:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(
                pool.map(lambda _: http.post("/subscribe", json={"email": "ada@example.com"}).status_code, range(16))
            )
        assert statuses == [202] * 16
        wait_for(lambda: outbox(settings))
        pause(0.3)  # let any straggling background run finish
    assert [r.email for r in stored(engine)] == ["ada@example.com"]
    assert len(outbox(settings)) == 1


class SlowSendGrid(BaseHTTPRequestHandler):
    """A SendGrid-compatible mail/send endpoint that takes its time to answer."""

    delay = 1.5
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        time.sleep(self.delay)
        type(self).received.append(json.loads(body))
        self.send_response(202)
        self.send_header("X-Message-Id", "slow-1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_subscribing_does_not_wait_for_the_mail_provider(engine, tmp_path):
    provider = ThreadingHTTPServer(("127.0.0.1", 0), SlowSendGrid)
    SlowSendGrid.received = []
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    try:
        api = f"http://127.0.0.1:{provider.server_address[1]}"
        with (
            live_app(engine, tmp_path, backend="sendgrid", sendgrid_api_key="SG.test", sendgrid_api_url=api) as (
                url,
                _,
            ),
            httpx.Client(base_url=url) as http,
        ):
            started = time.monotonic()
            answer = http.post("/subscribe", json={"email": "ada@example.com"})
            took = time.monotonic() - started
            assert answer.status_code == 202
            assert took < SlowSendGrid.delay / 2, f"the response waited {took:.2f}s"
            wait_for(lambda: SlowSendGrid.received)
        (request,) = SlowSendGrid.received
        assert request["personalizations"][0]["to"] == [{"email": "ada@example.com"}]
        assert stored(engine)[0].confirmation_sent_at is not None
    finally:
        provider.shutdown()


def test_answers_are_not_held_back_by_nagles_algorithm(engine, tmp_path):
    """uvicorn writes an answer's head and body apart; with Nagle's algorithm on, the body waited for the
    client's delayed ACK (40 ms on Linux) on every answer. asyncio turns it off only on sockets that say
    they are TCP, which digest.web.server.bind's now do."""
    sock = bind()
    sock.listen()
    client = socket.create_connection(sock.getsockname()[:2])
    accepted, _ = sock.accept()
    assert accepted.proto == socket.IPPROTO_TCP
    accepted.close(), client.close(), sock.close()
    with live_app(engine, tmp_path) as (url, _settings), httpx.Client(base_url=url) as http:
        took = []
        for _ in range(10):
            began = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            took.append(time.perf_counter() - began)
    assert min(took) < 0.035, f"the fastest of 10 answers took {min(took) * 1000:.0f} ms"
