"""Confirmation mails are at least once: kill -9 anywhere, restart, every acknowledged sign-up is
mailed (issue 12, item 3).

A reader counts as mailed only once the provider took the mail. A batch is claimed in the name of
the process sending it; when that process dies, the next sender sees it is gone (an advisory lock on
PostgreSQL, a lock file on SQLite) and sends the batch again. The only duplicates a crash can cause
are the readers of the batch in flight when it died.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import sqlalchemy as sa
from helpers import (
    add_readers,
    digest_env,
    digest_process,
    digest_serve,
    free_port,
    running,
    scaled,
    start_process,
    wait_for,
)
from sendgrid_server import SendGridServer

from digest.delivery.confirmations import send_pending
from digest.mail.sendgrid import SendGridSender
from digest.settings import Settings
from digest.store import open_store
from subscribers import status
from subscribers.models import Subscriber

CLIENTS = 8


def confirmation_counts(server) -> Counter:
    return Counter(
        address for address, p in server.recipients() if p.get("custom_args", {}).get("purpose") == "confirmation"
    )


def stored_emails(engine) -> set[str]:
    table = Subscriber.__table__
    with engine.connect() as connection:
        return set(connection.execute(sa.select(table.c.email)).scalars())


def claimed_count(engine) -> int:
    table = Subscriber.__table__
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.confirmation_claim.is_not(None), table.c.confirmation_sent_at.is_(None))
        ).scalar_one()


def sendgrid_settings(db_url: str, server) -> Settings:
    return Settings(
        database_url=db_url,
        backend="sendgrid",
        sendgrid_api_key="k",
        sendgrid_api_url=server.url,
        secret_key="crash-secret",
    )


CLAIM_AND_HANG = """
import sys, time
from digest.delivery.presence import Presence
from digest.store import open_store, session_scope
from subscribers import confirmations
engine = open_store(sys.argv[1])
presence = Presence(engine)
with session_scope(engine) as session:
    claimed = confirmations.claim(session, int(sys.argv[2]), presence.id)
print(len(claimed), flush=True)
time.sleep(600)
"""


def test_the_claims_of_a_process_that_died_are_sent_again_and_a_live_ones_are_left_alone(db_url):
    engine = open_store(db_url)
    add_readers(engine, 30, status=status.PENDING)
    holder = start_process(
        [sys.executable, "-c", CLAIM_AND_HANG, db_url, "10"], stdout=subprocess.PIPE, text=True, env=digest_env()
    )
    with running(holder):
        assert holder.stdout.readline().strip() == "10"
        with SendGridServer(api_key="k") as server:
            settings = sendgrid_settings(db_url, server)
            assert send_pending(engine, settings) == 20  # the holder is alive: its ten are its own
            assert sum(confirmation_counts(server).values()) == 20 and claimed_count(engine) == 10
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            assert send_pending(engine, settings) == 10  # gone: taken over and sent
            counts = confirmation_counts(server)
            assert len(counts) == 30 and set(counts.values()) == {1} and claimed_count(engine) == 0
    engine.dispose()


class SignUps:
    """CLIENTS threads posting sign-ups as fast as the server answers; keeps the addresses answered 202."""

    def __init__(self, port: int, tag: str):
        self.url, self.tag = f"http://127.0.0.1:{port}/subscribe", tag
        self.acknowledged: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._post, args=(n,), daemon=True) for n in range(CLIENTS)]

    def _post(self, client: int) -> None:
        with httpx.Client(timeout=scaled(10)) as http:
            n = 0
            while not self.stop.is_set():
                address = f"{self.tag}-{client}-{n}@example.com"
                n += 1
                try:
                    answer = http.post(self.url, json={"email": address})
                except httpx.HTTPError:
                    continue  # the server is gone: this one was never acknowledged
                if answer.status_code == 202:
                    with self.lock:
                        self.acknowledged.append(address)

    def __enter__(self) -> SignUps:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(scaled(15))


def test_sign_ups_under_load_survive_kill_9_of_digest_serve_and_every_one_is_mailed_after_restart(
    db_url, tmp_path, rng
):
    engine = open_store(db_url)
    with SendGridServer(api_key="k") as server:
        server.delay = 0.5  # a provider that takes its time: the kill lands with a batch in flight
        port = free_port()
        env = digest_env(
            DIGEST_DATABASE_URL=db_url,
            DIGEST_BACKEND="sendgrid",
            SENDGRID_API_KEY="k",
            SENDGRID_API_URL=server.url,
            DIGEST_SECRET_KEY="crash-secret",
            DIGEST_BASE_URL=f"http://127.0.0.1:{port}",
            DIGEST_SUBSCRIBE_RATE_LIMIT="1000000/second",
        )
        # Each server is stopped (its process group) when its block ends, however the test ends.
        with digest_serve(env, tmp_path / "first.log", port) as first, SignUps(port, "crash") as load:
            wait_for(lambda: len(load.acknowledged) >= 200, 60, "sign-ups to be acknowledged")
            time.sleep(rng.uniform(0.2, 1.5))  # a random moment (not a wait: not scaled)
            requests = server.requests  # then the next batch of confirmation mails, in flight:
            wait_for(lambda: server.requests > requests, 60, "a batch of confirmation mails")
            time.sleep(rng.uniform(0, 0.3))  # the provider has it (it records on arrival), no answer yet
            first.send_signal(signal.SIGKILL)
            first.wait()
        acknowledged = set(load.acknowledged)
        mailed_before = set(confirmation_counts(server))
        orphaned = claimed_count(engine)  # claimed by the dead server, their outcome never recorded
        assert acknowledged <= stored_emails(engine)  # every acknowledged sign-up was committed

        with digest_serve(env, tmp_path / "second.log", port):  # no new sign-up: the restart alone sends what is owed
            wait_for(
                lambda: acknowledged <= set(confirmation_counts(server)),
                120,
                "every acknowledged sign-up's confirmation mail",
            )
            wait_for(lambda: claimed_count(engine) == 0, 60, "the queue to settle")
        counts = confirmation_counts(server)
        duplicates = sum(n - 1 for n in counts.values())
        print(
            f"\n[{engine.dialect.name}] acknowledged {len(acknowledged)} sign-ups; {len(mailed_before)} mailed "
            f"before kill -9, {orphaned} claimed by the dead server, {len(acknowledged - mailed_before)} "
            f"mailed after the restart; {duplicates} duplicate mail(s) (bound: {orphaned} orphaned claims, "
            f"at most one provider batch of {SendGridSender.max_batch})"
        )
        assert all(counts[a] >= 1 for a in acknowledged)
        assert 1 <= orphaned <= SendGridSender.max_batch and duplicates <= orphaned
        assert max(counts.values()) <= 2
    engine.dispose()


def test_a_kill_9_of_subscribers_import_mid_mailing_loses_no_confirmation(db_url, tmp_path):
    engine = open_store(db_url)
    readers = [f"imported{n}@example.com" for n in range(2500)]
    path = tmp_path / "readers.csv"
    path.write_text("email\n" + "\n".join(readers) + "\n")
    with SendGridServer(api_key="k") as server:
        server.delay = 3.0  # each request takes a while: the kill lands with one in flight
        env = digest_env(
            DIGEST_DATABASE_URL=db_url,
            DIGEST_BACKEND="sendgrid",
            SENDGRID_API_KEY="k",
            SENDGRID_API_URL=server.url,
            DIGEST_SECRET_KEY="crash-secret",
        )
        with running(digest_process(["subscribers", "import", str(path)], env)) as importing:
            assert importing.stdout.readline().startswith("Imported 2,500 readers (pending)")  # committed
            wait_for(lambda: server.requests >= 1, 60, "the first batch of confirmation mails")
            importing.send_signal(signal.SIGKILL)
            importing.wait()
        orphaned = claimed_count(engine)
        server.delay = 0.0
        sent = send_pending(engine, sendgrid_settings(db_url, server))  # what the scheduler's timer runs
        counts = confirmation_counts(server)
        duplicates = sum(n - 1 for n in counts.values())
        print(
            f"\n[{engine.dialect.name}] import killed with {orphaned} claimed; {sent} sent after; "
            f"{duplicates} duplicate(s)"
        )
        assert set(counts) == set(readers) and orphaned >= 1
        assert duplicates <= orphaned <= SendGridSender.max_batch
    engine.dispose()
