"""Two reader-side costs that used to be timed tests: a large CSV import, and building readers' links.

    python tests/bench/bench_readers.py            100,000 CSV rows; 1,000,000 links
    DIGEST_BENCH_SMOKE=1 ... bench_readers.py       2,000 rows; 20,000 links (CI)

1. `digest subscribers import FILE.csv --confirmed` on a fresh SQLite store,
   against the reference of the same rows written by one bare `executemany`
   INSERT through sqlite3 into the same table (no validation, no consent record).
2. `subscribers.links.unsubscribe_url` for every reader, against the reference of
   the same URL built by a bare f-string.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # runnable from a checkout without installing

from click.testing import CliRunner

from digest.cli import main
from digest.store import open_store
from subscribers import links
from subscribers.tokens import new_reader_token

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
ROWS = 2_000 if SMOKE else 100_000
LINKS = 20_000 if SMOKE else 1_000_000


def csv_import(folder: Path) -> None:
    path = folder / "readers.csv"
    path.write_text("email,timezone\n" + "".join(f"Reader{i}@Example{i % 89}.com,Europe/Paris\n" for i in range(ROWS)))
    url = f"sqlite:///{folder / 'import.db'}"
    open_store(url).dispose()  # migrations are not what is measured
    started = time.perf_counter()
    result = CliRunner().invoke(
        main,
        ["subscribers", "import", str(path), "--confirmed", "--no-mail"],
        env={"DIGEST_DATABASE_URL": url},
        catch_exceptions=False,
    )
    took = time.perf_counter() - started
    assert result.exit_code == 0, result.output

    reference_url = folder / "reference.db"
    open_store(f"sqlite:///{reference_url}").dispose()
    rows = [
        (
            f"reader{i}@example{i % 89}.com",
            "active",
            "[]",
            "Europe/Paris",
            new_reader_token(),
            "2026-12-01 00:00:00",
            "2026-12-01 00:00:00",
        )
        for i in range(ROWS)
    ]
    connection = sqlite3.connect(reference_url)
    started = time.perf_counter()
    connection.executemany(
        "INSERT INTO subscriber (email, status, topics, timezone, token, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    connection.commit()
    reference = time.perf_counter() - started
    connection.close()
    print(
        f"CSV import of {ROWS:,} rows: {took:6.2f} s ({ROWS / took:,.0f} rows/s)   "
        f"reference bare executemany {reference:6.2f} s ({ROWS / reference:,.0f} rows/s)   "
        f"ratio {took / reference:.1f}x"
    )


def unsubscribe_links() -> None:
    tokens = [secrets.token_urlsafe(24) for _ in range(1000)]
    rounds = LINKS // len(tokens)
    started = time.perf_counter()
    for _ in range(rounds):
        for token in tokens:
            links.unsubscribe_url("https://n.example", token)
    took = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(rounds):
        for token in tokens:
            f"https://n.example/unsubscribe/{token}"  # the reference: the bare string
    reference = time.perf_counter() - started
    print(
        f"unsubscribe links, {LINKS:,}: {took:6.3f} s ({LINKS / took:,.0f}/s)   "
        f"reference f-string {reference:6.3f} s   ratio {took / reference:.1f}x"
    )


def main_() -> None:
    with tempfile.TemporaryDirectory() as folder:
        csv_import(Path(folder))
    unsubscribe_links()


if __name__ == "__main__":
    main_()
