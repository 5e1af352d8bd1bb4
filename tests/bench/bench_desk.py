"""The desk's pages at scale: /desk, an edition's page, the live send view and its JSON update.

    python tests/bench/bench_desk.py               1,000,000 readers and a 1,000,000-row ledger (SQLite)
    DIGEST_BENCH_DB=postgresql ... bench_desk.py   the same in a new PostgreSQL database on DIGEST_BENCH_PG_URL's
                                                   server (postgresql://postgres@127.0.0.1:5432/postgres), dropped after
    DIGEST_BENCH_SMOKE=1 ... bench_desk.py         2,000 readers and rows, a few requests, nothing timed (CI)

The store holds READERS active readers over 24 time zones and four topic sets, edition 1 being sent
(a ledger row for every reader, 1% failed) and edition 2, a draft with three variants. `digest serve`'s
app answers on loopback (uvicorn, as in production) to a bearer-token client, ROUNDS requests per page,
alternating pages; the reference is GET /healthz (the app's cheapest answer, one SELECT 1) in the same
run. Target (issue 20): every desk page under 200 ms at the 95th percentile, the live update under 50 ms.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # runnable from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/helpers.py: comparisons to send

import httpx
from bench_send import POSTGRES, database  # the same store choice as the send benchmark
from helpers import comparison

from digest.editions.service import build_edition
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.web import create_app
from digest.web.server import base_url, bind, serving

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
READERS = 2_000 if SMOKE else 1_000_000
ROUNDS = 3 if SMOKE else 30
TOKEN = "bench-admin-token"
ZONES = [
    "UTC", "Europe/London", "Europe/Paris", "Europe/Helsinki", "Europe/Moscow", "Asia/Dubai", "Asia/Karachi",
    "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney",
    "Pacific/Auckland", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
    "America/Chicago", "America/New_York", "America/Sao_Paulo", "Atlantic/Azores", "Africa/Lagos", "Africa/Nairobi",
]  # fmt: skip
TOPICS = ['["Voice"]', '["Video"]', "[]", '["Voice", "Video"]']
PAGES = {
    "GET /desk (the week, edition 1 being sent)": "/desk",
    "GET /desk/editions/2 (a draft: planned variants)": "/desk/editions/2",
    "GET /desk/editions/1/send (the live view)": "/desk/editions/1/send",
    "GET /desk/editions/1/send/live (its update)": "/desk/editions/1/send/live",
    "GET /desk/stats (every edition's figures, charts)": "/desk/stats",
    "GET /desk/editions/1/stats (per variant, charts)": "/desk/editions/1/stats",
    "reference GET /healthz": "/healthz",
}


def fill_store(url: str, settings: Settings) -> None:
    engine = open_store(url)
    now = "2026-03-01 00:00:00.000000"
    with session_scope(engine) as session:
        comparison(session, "w10-voice", "2026-03-03 09:00", tool_fields=({"category": "Voice"},) * 2)
        comparison(session, "w10-video", "2026-03-04 09:00", tool_fields=({"category": "Video"},) * 2)
        build_edition(session, settings, "2026-W10")
        for slug, topic, day in (("w11-voice", "Voice", 10), ("w11-video", "Video", 11), ("w11-code", "Code", 12)):
            comparison(session, slug, f"2026-03-{day} 09:00", tool_fields=({"category": topic},) * 2)
        build_edition(session, settings, "2026-W11")
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    with engine.begin() as connection:
        if postgres:
            _copy(connection, "subscriber", READER_COLUMNS, (_reader(i, now) for i in range(1, READERS + 1)))
            connection.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('subscriber', 'id'), {READERS})")
        else:
            _insert(connection, "subscriber", READER_COLUMNS, [_reader(i, now) for i in range(1, READERS + 1)])
        ids = [row[0] for row in connection.exec_driver_sql("SELECT id FROM comparison ORDER BY id LIMIT 2")]
        variants = _variants(connection, ids, mark)
        connection.exec_driver_sql(
            f"UPDATE edition SET status = 'sending', frozen_at = {mark} WHERE number = 1", (now,)
        )
        rows = (_ledger_row(i, variants, now) for i in range(1, READERS + 1))
        if postgres:
            _copy(connection, "delivery", LEDGER_COLUMNS, rows)
        else:
            _insert(connection, "delivery", LEDGER_COLUMNS, list(rows))
    if postgres:  # as autovacuum would have, before anyone looks at a send of this size
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def _variants(connection, ids: list[int], mark: str) -> list[int]:
    """Edition 1's three variants (both comparisons, each alone); their ids."""
    variants = []
    for key in (f"{ids[1]},{ids[0]}", str(ids[0]), str(ids[1])):
        connection.exec_driver_sql(f"INSERT INTO edition_variant (edition_id, comparisons) VALUES (1, {mark})", (key,))
        variants.append(connection.exec_driver_sql("SELECT max(id) FROM edition_variant").scalar())
    return variants


def _reader(i: int, now: str) -> tuple:
    return (i, f"reader{i}@example.com", "active", TOPICS[i % 4], ZONES[i % 24], f"t{i:022d}", now, now)


def _ledger_row(i: int, variants: list[int], now: str) -> tuple:
    failed = i % 100 == 0
    variant = variants[(2, 0, 0, 1)[i % 4] if i % 4 != 3 else 0]
    error = "Does not contain a valid address." if failed else None
    return (1, i, "failed" if failed else "sent", f"w1-{i // 1000}", now, now, variant, error)


READER_COLUMNS = ("id", "email", "status", "topics", "timezone", "token", "created_at", "updated_at")
LEDGER_COLUMNS = (
    "edition_id",
    "subscriber_id",
    "state",
    "request_id",
    "claimed_at",
    "finished_at",
    "variant_id",
    "error",
)


def _insert(connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """SQLite: the rows by INSERT, 100,000 at a time."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for first in range(0, len(rows), 100_000):
        connection.exec_driver_sql(sql, rows[first : first + 100_000])


def _copy(connection, table: str, columns: tuple[str, ...], rows) -> None:
    """PostgreSQL: the same rows by COPY."""
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, database(folder) as url:
        settings = replace(Settings(), database_url=url, admin_token=TOKEN, outbox=Path(folder) / "outbox")
        started = time.perf_counter()
        fill_store(url, settings)
        store = "PostgreSQL" if POSTGRES else "SQLite"
        print(
            f"store ({store}): {READERS:,} readers, a {READERS:,}-row ledger, in {time.perf_counter() - started:.0f} s"
        )
        engine = open_store(url)
        sock = bind()
        settings = replace(settings, base_url=base_url(sock))
        app = create_app(settings, engine)
        timings: dict[str, list[float]] = {name: [] for name in PAGES}
        with (
            serving(app, sock),
            httpx.Client(
                base_url=settings.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
            ) as client,
        ):
            for path in PAGES.values():  # once each, unmeasured: caches and the first render
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            for _ in range(ROUNDS):
                for name, path in PAGES.items():
                    began = time.perf_counter()
                    answer = client.get(path)
                    timings[name].append((time.perf_counter() - began) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
            live = client.get("/desk/editions/1/send/live").json()["cells"]
            app.state.desk_figures.settle(timeout=120)  # no recount left running into the dropped database
        engine.dispose()
        sock.close()
    assert live["total-sent"] == f"{READERS - READERS // 100:,}", live["total-sent"]
    reference = statistics.median(timings["reference GET /healthz"])
    figures = {}
    for name, values in timings.items():
        figures[name] = {"p50_ms": round(p(values, 0.5), 1), "p95_ms": round(p(values, 0.95), 1)}
        if SMOKE:
            print(f"{name}: answered {len(values)} times")
        else:
            print(
                f"{name:<52} p50 {p(values, 0.5):8.1f} ms   p95 {p(values, 0.95):8.1f} ms   "
                f"({p(values, 0.5) / reference:,.0f}x the reference's median)"
            )
    if not SMOKE:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
