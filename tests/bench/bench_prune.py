"""Old editions pruned: `stats` and `editions show` over many editions' worth of ledger rows (SQLite).

    python tests/bench/bench_prune.py              52 editions x 100,000 readers (5.2M ledger rows)
    DIGEST_BENCH_EDITIONS=52 DIGEST_BENCH_READERS=200000 ...   the issue's 10.4M rows
    DIGEST_BENCH_SMOKE=1 ... bench_prune.py        4 editions x 500 readers, nothing timed (CI)

Two stores hold the same READERS active readers. The reference store has one sent edition (a `sent`
ledger row per reader, and an open event for one reader in ten); the other has EDITIONS such editions,
then `digest db prune` (digest.stats.prune) prunes all but the newest, which it never prunes. Timed,
ROUNDS alternate rounds, best of each: `digest stats --json` (load_report: every edition's figures and
the growth) and `editions show N --json` (describe_edition) of the newest edition, in each store; the
many-edition store is also timed before pruning, to show what pruning saves. Target (issue 23): with
many editions pruned, no slower than with one (ratio about 1.0); the prune itself is timed too.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # runnable from a checkout without installing

from digest.delivery.states import DeliveryState
from digest.delivery.summary import describe_edition
from digest.editions.status import EditionStatus
from digest.stats.figures import load_report
from digest.stats.prune import prune
from digest.store import open_store, session_scope
from digest.timeutil import utcnow

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
EDITIONS = 4 if SMOKE else int(os.environ.get("DIGEST_BENCH_EDITIONS", "52"))
READERS = 500 if SMOKE else int(os.environ.get("DIGEST_BENCH_READERS", "100000"))
ROUNDS = 1 if SMOKE else int(os.environ.get("DIGEST_BENCH_ROUNDS", "3"))
NOW = "2026-03-01 00:00:00.000000"


def fill(url: str, editions: int):
    engine = open_store(url)
    with engine.begin() as connection:
        sql = connection.exec_driver_sql
        sql(
            "INSERT INTO subscriber (id, email, status, topics, timezone, token, created_at, updated_at) "
            "VALUES (?, ?, 'active', '[]', 'UTC', ?, ?, ?)",
            [(i, f"reader{i}@example.com", f"t{i:022d}", NOW, NOW) for i in range(1, READERS + 1)],
        )
        for number in range(1, editions + 1):
            sent_at = f"2025-{1 + (number - 1) // 5:02d}-{1 + (number - 1) % 5 * 5:02d} 09:00:00.000000"
            sql(
                "INSERT INTO edition (id, number, week, status, built_at, sent_at, frozen_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (number, number, f"2025-W{number:02d}", str(EditionStatus.SENT), sent_at, sent_at, sent_at),
            )
            sql(
                "INSERT INTO delivery (edition_id, subscriber_id, state, request_id, provider_message_id, claimed_at, "
                "finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        number,
                        i,
                        str(DeliveryState.SENT),
                        f"r{number}-{i // 1000}",
                        f"sg{number}-{i // 1000}",
                        sent_at,
                        sent_at,
                    )
                    for i in range(1, READERS + 1)
                ],
            )
            sql(
                "INSERT INTO event (sg_event_id, event, email, reader_id, edition_number, occurred_at, "
                "received_at, raw) VALUES (?, 'open', ?, ?, ?, ?, ?, '{}')",
                [
                    (f"e{number}-{i}", f"reader{i}@example.com", i, number, sent_at, sent_at)
                    for i in range(1, READERS + 1, 10)
                ],
            )
    return engine


def timed(engine, number: int) -> tuple[float, float]:
    """Seconds for `stats --json` and `editions show N --json`, as the commands compute them."""
    zone = ZoneInfo("UTC")
    start = time.perf_counter()
    with session_scope(engine) as session:
        report = load_report(session, zone).as_dict()
    middle = time.perf_counter()
    with session_scope(engine) as session:
        shown = describe_edition(session, number)
    end = time.perf_counter()
    assert report["editions"][-1]["sent"] == READERS and sum(shown["readers"].values()) == READERS
    return middle - start, end - middle


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="digest-bench-prune-") as folder:
        started = time.perf_counter()
        one = fill(f"sqlite:///{folder}/one.db", 1)
        many = fill(f"sqlite:///{folder}/many.db", EDITIONS)
        print(f"{EDITIONS} editions x {READERS:,} readers: {EDITIONS * READERS:,} ledger rows, "
              f"{EDITIONS * READERS // 10:,} events; filled in {time.perf_counter() - started:.1f} s")  # fmt: skip
        before = [min(timed(many, EDITIONS)[k] for _ in range(ROUNDS)) for k in (0, 1)]
        started = time.perf_counter()
        pruned = prune(many, utcnow())
        took = time.perf_counter() - started
        rows = sum(p.ledger_rows for p in pruned)
        assert len(pruned) == EDITIONS - 1
        print(f"prune: {len(pruned)} editions, {rows:,} ledger rows in {took:.1f} s ({rows / took:,.0f} rows/s)")
        best_one, best_many = [float("inf")] * 2, [float("inf")] * 2
        for _ in range(ROUNDS):  # alternate the stores, best of each
            best_one = [min(a, b) for a, b in zip(best_one, timed(one, 1), strict=True)]
            best_many = [min(a, b) for a, b in zip(best_many, timed(many, EDITIONS), strict=True)]
        if SMOKE:
            print("smoke run: nothing timed")
            return
        for k, name in enumerate(("stats --json", f"editions show {EDITIONS} --json")):
            print(
                f"{name:<24} one edition {best_one[k] * 1000:8.1f} ms   {EDITIONS} pruned "
                f"{best_many[k] * 1000:8.1f} ms (x{best_many[k] / best_one[k]:.2f})   "
                f"{EDITIONS} before pruning {before[k] * 1000:8.1f} ms (x{before[k] / best_one[k]:.2f})"
            )


if __name__ == "__main__":
    main()
