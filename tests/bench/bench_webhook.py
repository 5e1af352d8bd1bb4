"""How long SendGrid waits for POST /webhooks/sendgrid with a batch of 1,000 events.

    /work/venv/bin/python tests/bench/bench_webhook.py         1,000 events per batch
    DIGEST_BENCH_SMOKE=1 ... bench_webhook.py                   50 events, a few rounds (CI)

Each round posts a fresh signed batch (new sg_event_ids; delivered, open, click,
a few bounces and complaints for real readers) to a SQLite store, and prints
milliseconds per batch (best and median) for:

    http        the whole request over loopback: uvicorn, signature, parsing, one transaction
    in-process  verify + parse + ingest (bulk insert ON CONFLICT DO NOTHING, then suppression)
    retry       the same batch again: every event already stored, nothing changes
    reference   bare json.loads + a plain bulk INSERT of the same rows (no checks, no dedupe)

Then a burst: BURST fresh signed batches (50 of 1,000 events; 50,000 events) posted back to back over
HTTP, every answer checked (200, every event stored), and the median answer time of the first and the
last ten batches compared: it must not grow as the event table does.

DIGEST_BENCH_DB=postgresql runs it all on a fresh PostgreSQL database (DIGEST_BENCH_PG_URL's server).
Targets: the http figure for 1,000 events under 100 ms on PostgreSQL (SendGrid retries slow answers),
the burst without an error and without growth.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # runnable from a checkout without installing

import base64

import httpx
import sqlalchemy as sa
from bench_send import POSTGRES, database  # the same store choice as the send benchmark
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.delivery.ledger import Delivery, mailed_at
from digest.editions.models import Edition
from digest.events.ingest import ingest
from digest.events.models import Event
from digest.events.parse import parse_batch
from digest.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verifier_for
from digest.settings import Settings
from digest.store import open_store
from digest.timeutil import utcnow
from subscribers.models import Subscriber

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
EVENTS = 50 if SMOKE else 1000
ROUNDS = 3 if SMOKE else 15
BURST = 5 if SMOKE else 50  # batches of EVENTS, back to back
READERS = 2000
KINDS = ("processed", "delivered", "delivered", "open", "open", "click")


def make_batch(n: int) -> list[dict]:
    now = int(time.time())
    batch = []
    for i in range(n):
        reader = 1 + (i * 7919) % READERS
        kind = "bounce" if i % 200 == 7 else "spamreport" if i % 500 == 11 else KINDS[i % len(KINDS)]
        item = {
            "email": f"reader{reader}@example.com",
            "timestamp": now - i % 300,
            "event": kind,
            "sg_event_id": uuid.uuid4().hex + uuid.uuid4().hex[:6],
            "sg_message_id": f"{uuid.uuid4().hex}.f0",
            "smtp-id": f"<{uuid.uuid4().hex}@example.com>",
            "category": ["edition", "edition-1"],
            "edition": "1",
            "reader_id": str(reader),
        }
        if kind == "bounce":
            item.update(type="bounce", reason="550 5.1.1 no such user", status="5.1.1")
        if kind == "click":
            item["url"] = "https://verdicts.example.com/compare/relaybench-vs-quillpatch"
        if kind == "open":
            item["useragent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
        batch.append(item)
    return batch


def add_readers(engine) -> None:
    """READERS active readers, and edition 1 mailed to each an hour ago (its `sent` ledger rows): the
    batches' clicks on it come late enough to count as engagement (digest.events.clicks)."""
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            Subscriber.__table__.insert(),
            [
                {
                    "id": i,
                    "email": f"reader{i}@example.com",
                    "status": "active",
                    "topics": [],
                    "token": f"{i:043d}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, READERS + 1)
            ],
        )
        edition = connection.execute(
            Edition.__table__.insert().returning(Edition.__table__.c.id),
            {"number": 1, "week": "2026-W47", "status": "sent", "built_at": now, "frozen_at": now},
        ).scalar_one()
        sent = now - timedelta(hours=1)
        connection.execute(
            Delivery.__table__.insert(),
            [
                {"edition_id": edition, "subscriber_id": i, "state": "sent", "claimed_at": sent, "finished_at": sent}
                for i in range(1, READERS + 1)
            ],
        )
    if POSTGRES:  # as autovacuum leaves a table after a send wrote it: its statistics known
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def show(name: str, samples: list[float]) -> None:
    print(
        f"  {name:<11} best {min(samples):8.2f} ms   median {statistics.median(samples):8.2f} ms"
        f"   ({EVENTS / (statistics.median(samples) / 1000):,.0f} events/s)"
    )


def main() -> None:
    from digest.web import create_app
    from digest.web.server import base_url, bind, serving

    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()

    def signed(body: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        return {"Content-Type": "application/json", SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: stamp}

    with tempfile.TemporaryDirectory() as folder, database(folder) as url:
        engine = open_store(url)
        add_readers(engine)
        verifier = verifier_for(public)
        results: dict[str, list[float]] = {"http": [], "in-process": [], "retry": [], "reference": []}
        sock = bind()
        settings = replace(Settings(), database_url=url, base_url=base_url(sock), webhook_public_key=public)
        with serving(create_app(settings, engine), sock) as served, httpx.Client(base_url=served) as http:
            for _ in range(ROUNDS):
                body = json.dumps(make_batch(EVENTS)).encode()

                def post(stored: int):
                    # Signed as it is sent: SendGrid signs a retry afresh too.
                    answer = http.post("/webhooks/sendgrid", content=body, headers=signed(body))
                    assert answer.status_code == 200 and answer.json()["stored"] == stored, answer.text

                results["http"].append(timed(lambda: post(EVENTS)))
                results["retry"].append(timed(lambda: post(0)))

                body = json.dumps(make_batch(EVENTS)).encode()
                headers = signed(body)

                def in_process():
                    now = utcnow()
                    verifier.check(body, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER], now)
                    rows = parse_batch(body, now).rows
                    with engine.begin() as connection:
                        assert ingest(connection, rows, now, mailed_at=mailed_at).stored == EVENTS

                results["in-process"].append(timed(in_process))

                body = json.dumps(make_batch(EVENTS)).encode()

                def reference():
                    now = utcnow()
                    rows = [
                        {
                            "sg_event_id": e["sg_event_id"],
                            "event": e["event"],
                            "bounce_type": e.get("type"),
                            "email": e["email"],
                            "reader_id": int(e["reader_id"]),
                            "edition_number": 1,
                            "occurred_at": now,
                            "received_at": now,
                            "raw": e,
                        }
                        for e in json.loads(body)
                    ]
                    with engine.begin() as connection:
                        connection.execute(Event.__table__.insert(), rows)

                results["reference"].append(timed(reference))
            burst = []
            for _ in range(BURST):
                body = json.dumps(make_batch(EVENTS)).encode()
                burst.append(timed(lambda: post(EVENTS)))  # post() asserts 200 and every event stored
        with engine.connect() as connection:
            stored = connection.execute(sa.select(sa.func.count()).select_from(Event.__table__)).scalar()
            size = connection.exec_driver_sql("SELECT pg_total_relation_size('event')").scalar() if POSTGRES else None
        engine.dispose()
    print(
        f"POST /webhooks/sendgrid, {EVENTS:,} events per batch, {ROUNDS} rounds, "
        + ("PostgreSQL" if POSTGRES else "SQLite")
        + (" (smoke size)" if SMOKE else "")
    )
    for name, samples in results.items():
        show(name, samples)
    first, last = statistics.median(burst[:10]), statistics.median(burst[-10:])
    print(
        f"  burst: {BURST} batches ({BURST * EVENTS:,} events) back to back, no error; median answer "
        f"{first:.2f} ms for the first ten, {last:.2f} ms for the last ten ({last / first:.2f}x); "
        f"{stored:,} events in the store" + (f", {size / stored:,.0f} bytes each on disk" if size else "")
    )
    print(
        f"  overhead of the real path over the reference: "
        f"{statistics.median(results['in-process']) / statistics.median(results['reference']):.1f}x (in-process)"
    )


if __name__ == "__main__":
    main()
