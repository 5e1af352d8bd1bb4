"""Benchmark: the week's send to 1,000,000 readers in their variants and time zones, all waves, against the
single-variant send of the same readers in the same run.

    .venv/bin/python tests/bench/bench_variants.py          # 1,000,000 readers
    DIGEST_BENCH_SMOKE=1 .venv/bin/python tests/bench/bench_variants.py    # 5,000 readers (CI)
    DIGEST_BENCH_DB=postgresql .venv/bin/python tests/bench/bench_variants.py   # the same on PostgreSQL

With DIGEST_BENCH_DB=postgresql the three stores are databases on DIGEST_BENCH_PG_URL's server
(readers by COPY, then VACUUM ANALYZE), each round's copy made from its filled database as a
template, all dropped afterwards.

Three SQLite stores hold the same readers (same ids, addresses and tokens) and the
same week of ten comparisons over eight categories:
  - personal: each reader has one of 64 distinct topic sets and one of 40 time zones
    (zones and topic sets are spread independently over the ids, as sign-ups come);
  - single: the same readers in the same zones, with no topics: one variant;
  - one send: the same readers with no topics and no zone: one variant, one wave.
Readers are bulk-inserted before the clock starts. A minimal HTTP sink on
loopback answers 202 (the same as tests/bench/bench_send.py). Each measured part
runs in its own process, so its peak RSS is its own:
  - personal and single: the send day's waves, oldest first, each run as the
    scheduler runs it (`Scheduler.run_slot`: the catch-up rule, the lease, the run
    record, then `digest.jobs.run_wave`: the first wave builds and freezes the
    edition, each wave reads its zones' readers, queues them by variant, renders
    each variant the first time it is needed), on a clock set to each wave's moment;
  - one send: `send_edition` of the edition to every reader at once (a manual send).
The waves of the single and personal stores run in alternate rounds (single,
personal, single, personal), each on a fresh copy of its filled store, and the best
round of each is reported, with every round's ratio: this machine is noisy.
Each reports readers per second, wall time and peak RSS; the personal send also
how many variants and waves it had, and the render cost (variants x ms, measured
apart). Target: personal >= 0.8x the single-variant send of the same readers
(same zones, same waves), peak RSS under 200 MB. The one-send line shows what
sending in waves at all costs on SQLite: a wave's readers are spread across the
ledger's index, so each wave writes to all of its pages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # runnable from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_send import PG_ADMIN_URL, POSTGRES, measured, run_sink

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
READERS = 5_000 if SMOKE else int(os.environ.get("DIGEST_BENCH_READERS", 1_000_000))
ROUNDS = 1 if SMOKE else int(os.environ.get("DIGEST_BENCH_ROUNDS", 3))  # of the single and personal waves, alternately
HERE = Path(__file__).resolve()
BASE_URL = "https://verdicts.example.com"
SEND_DAY = datetime(2026, 3, 30).date()  # a Monday; the edition is the week before (2026-W13)
PUBLISHED = "2026-03-25 09:00:00.000000"
CATEGORIES = ("Voice", "Evaluation", "Code Assistants", "Image Generation", "Agents", "Search", "Video", "Data")
PAIRS = [(0, 0), (1, 1), (2, 3), (4, 5), (6, 7), (0, 4), (1, 2), (3, 6), (5, 7), (2, 2)]  # ten comparisons
ZONES = (
    "Pacific/Kiritimati",
    "Pacific/Auckland",
    "Australia/Sydney",
    "Australia/Brisbane",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Singapore",
    "Asia/Bangkok",
    "Asia/Dhaka",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Asia/Karachi",
    "Asia/Dubai",
    "Europe/Moscow",
    "Europe/Istanbul",
    "Africa/Nairobi",
    "Europe/Helsinki",
    "Africa/Cairo",
    "Europe/Berlin",
    "Europe/Paris",
    "Africa/Lagos",
    "Europe/London",
    "Europe/Lisbon",
    "Atlantic/Azores",
    "Atlantic/Cape_Verde",
    "America/Noronha",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "America/Halifax",
    "America/New_York",
    "America/Toronto",
    "America/Chicago",
    "America/Mexico_City",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "Pacific/Pago_Pago",
)


def topic_sets() -> list[list[str]]:
    """64 distinct topic sets over the eight categories: every single one, every pair, 28 triples."""
    sets = [[c] for c in CATEGORIES] + [list(p) for p in combinations(CATEGORIES, 2)]
    sets += [list(t) for t in combinations(CATEGORIES, 3)][: 64 - len(sets)]
    assert len(sets) == 64 and len(ZONES) == 40
    return sets


def token_of(i: int) -> str:
    return f"{i:012d}" + "x" * 31


# -- the stores ----------------------------------------------------------------------------------------


def fill_store(url: str, topics: bool, zones: bool) -> None:
    from digest.store import open_store

    engine = open_store(url)
    sets = [json.dumps(s) for s in topic_sets()]
    now = "2026-01-01 00:00:00.000000"
    postgres = engine.dialect.name == "postgresql"

    def sql(text: str) -> str:  # the driver's placeholders
        return text.replace("?", "%s") if postgres else text

    with engine.begin() as connection:
        for i, (left, right) in enumerate(PAIRS, start=1):
            for side, category in ((1, CATEGORIES[left]), (2, CATEGORIES[right])):
                connection.exec_driver_sql(
                    sql(
                        "INSERT INTO tool (id, slug, name, category, tagline, description, pricing) "
                        "VALUES (?, ?, ?, ?, 'A tagline', 'What it does.', 'Paid')"
                    ),
                    (2 * i + side - 2, f"tool-{i}-{side}", f"Tool {i}{'ab'[side - 1]}", category),
                )
            connection.exec_driver_sql(
                sql(
                    "INSERT INTO comparison (id, slug, title, summary, url, published_at, updated_at) "
                    "VALUES (?, ?, ?, 'Which one ships.', ?, ?, ?)"
                ),
                (i, f"tool-{i}-1-vs-tool-{i}-2", f"Tool {i}a vs Tool {i}b", f"{BASE_URL}/compare/{i}", PUBLISHED, now),
            )
            for position, side in enumerate((1, 2)):
                connection.exec_driver_sql(
                    sql(
                        "INSERT INTO entry (comparison_id, tool_id, position, panel_ship, community, entry_price) "
                        "VALUES (?, ?, ?, ?, NULL, 'Free')"
                    ),
                    (i, 2 * i + side - 2, position, 80 - 30 * position),
                )
                connection.exec_driver_sql(
                    sql(
                        "INSERT INTO review (comparison_id, tool_id, lens, position, quote, verdict) "
                        "VALUES (?, ?, 'builder', ?, 'It ships. The docs are good.', 'ship')"
                    ),
                    (i, 2 * i + side - 2, position),
                )

        def reader(i: int) -> tuple:
            return (
                i,
                f"reader{i}@example.com",
                "active",
                sets[(i // 40) % 64] if topics else "[]",
                ZONES[i % 40] if zones else None,
                token_of(i),
                now,
                now,
            )

        columns = "id, email, status, topics, timezone, token, created_at, updated_at"
        if postgres:  # COPY, then the sequences past the ids given
            cursor = connection.connection.driver_connection.cursor()
            with cursor.copy(f"COPY subscriber ({columns}) FROM STDIN") as copy:
                for i in range(1, READERS + 1):
                    copy.write_row(reader(i))
            for table in ("subscriber", "tool", "comparison"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        else:
            for first in range(1, READERS + 1, 100_000):
                connection.exec_driver_sql(
                    f"INSERT INTO subscriber ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [reader(i) for i in range(first, min(first + 100_000, READERS + 1))],
                )
    if postgres:  # as autovacuum would, before a weekly send
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def settings_for(url: str, api_url: str):
    from digest.settings import Settings

    return Settings.from_env(
        {
            "DIGEST_DATABASE_URL": url,
            "DIGEST_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": "k",
            "SENDGRID_API_URL": api_url,
            "DIGEST_BASE_URL": BASE_URL,
            "DIGEST_TIMEZONE": "UTC",
            "DIGEST_SEND_DAY": "monday",
            "DIGEST_SEND_TIME": "08:00",
        }
    )


# -- the two sends -------------------------------------------------------------------------------------


def run_one_send(url: str, api_url: str) -> dict:
    from digest.delivery import send_edition
    from digest.editions.service import build_edition
    from digest.store import open_store, session_scope

    engine = open_store(url)
    settings = settings_for(url, api_url)
    with session_scope(engine) as session:
        number = build_edition(session, settings, "2026-W13").edition.number
    began = time.perf_counter()
    summary = send_edition(engine, settings, number)
    wall = time.perf_counter() - began
    assert summary.status == "sent" and summary.sent == READERS, summary
    return {"readers": summary.sent, "wall": wall, "variants": len(summary.variants)}


class SetClock:
    """A clock the benchmark sets to each wave's moment (schedules' Clock seam, no waiting)."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def to_machine(self, moment: datetime) -> datetime:
        return moment

    def from_machine(self, moment: datetime) -> datetime:
        return moment


def scheduled_waves(url: str, api_url: str, send_day) -> tuple[dict, int, float]:
    """Every wave of `send_day` run as the scheduler runs them, on a clock set to each wave's moment:
    the ledger's and the variants' counts afterwards, how many waves, and the seconds they took."""
    from sqlalchemy import func, select

    from digest.delivery.ledger import Delivery
    from digest.editions.models import EditionVariant
    from digest.jobs import WEEKLY_JOB, build_scheduler, waves_of, zones_in_use
    from digest.store import open_store

    engine = open_store(url)
    settings = settings_for(url, api_url)
    waves = waves_of(settings).cycle(zones_in_use(engine, settings), send_day)
    clock = SetClock(waves[0].slot)
    scheduler = build_scheduler(engine, settings, clock=clock, confirmations=False)
    began = time.perf_counter()
    for wave in waves:
        clock.moment = wave.slot + timedelta(seconds=1)
        result = scheduler.run_slot(WEEKLY_JOB, wave.slot)
        assert result.outcome == "done", result
    wall = time.perf_counter() - began
    delivery = Delivery.__table__
    with engine.connect() as connection:
        counts = {
            "sent": connection.execute(
                select(func.count()).select_from(delivery).where(delivery.c.state == "sent")
            ).scalar(),
            "rows": connection.execute(select(func.count()).select_from(delivery)).scalar(),
            "variants": connection.execute(select(func.count()).select_from(EditionVariant.__table__)).scalar(),
            "statuses": dict(connection.exec_driver_sql("SELECT week, status FROM edition").all()),
        }
    engine.dispose()
    return counts, len(waves), wall


def run_waves(url: str, api_url: str) -> dict:
    counts, waves, wall = scheduled_waves(url, api_url, SEND_DAY)
    assert counts["sent"] == READERS and set(counts["statuses"].values()) == {"sent"}, counts
    return {"readers": counts["sent"], "wall": wall, "variants": counts["variants"], "waves": waves}


def run_render(url: str) -> dict:
    """Each variant rendered once (Jinja, MJML, the text part) from the store: what a send pays per variant."""
    from digest.content.models import Comparison
    from digest.editions.models import Edition, EditionVariant
    from digest.editions.service import offered
    from digest.editions.variants import Chooser
    from digest.render import render_comparisons
    from digest.settings import Settings
    from digest.store import open_store, session_scope

    engine = open_store(url)
    with session_scope(engine) as session:
        edition = session.query(Edition).one()
        keys = [v.comparisons for v in session.query(EditionVariant).all()]
        chooser = Chooser(offered(session, edition))
        by_id = {c.id: c for c in session.query(Comparison).all()}
        began = time.perf_counter()
        for key in keys:
            render_comparisons(
                session,
                Settings(base_url=BASE_URL),
                number=edition.number,
                week=edition.week,
                comparisons=[by_id[c.id] for c in chooser.comparisons(key)],
            )
        each = (time.perf_counter() - began) / len(keys) * 1000
    return {"variants": len(keys), "ms_each": each}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, stores(folder) as urls:
        port_file = f"{folder}/port"
        sink = subprocess.Popen([sys.executable, str(HERE.parent / "bench_send.py"), "sink", port_file])
        try:
            began = time.perf_counter()
            fill_store(urls["personal"], topics=True, zones=True)
            fill_store(urls["single"], topics=False, zones=True)
            fill_store(urls["one"], topics=False, zones=False)
            filled = time.perf_counter() - began
            while not Path(port_file).exists() or not Path(port_file).read_text():
                time.sleep(0.01)
            api_url = f"http://127.0.0.1:{Path(port_file).read_text()}"
            runs: dict[str, list[dict]] = {"single": [], "personal": []}
            for _ in range(ROUNDS):  # alternately, each on a fresh copy of its store: a noisy moment hits both
                for name in ("single", "personal"):
                    runs[name].append(child_of("waves", fresh_copy(folder, name), api_url))
            single, personal = (max(runs[name], key=lambda r: r["readers"] / r["wall"]) for name in runs)
            one = child_of("one", urls["one"], api_url)
            render = child_of("render", copy_url(folder, "personal", ROUNDS - 1))
        finally:
            sink.terminate()
            sink.wait()
    rate = {name: r["readers"] / r["wall"] for name, r in (("single", single), ("personal", personal), ("one", one))}
    print(
        f"bench_variants: {READERS:,} readers, 64 topic sets, 40 time zones, "
        f"{'PostgreSQL' if POSTGRES else 'SQLite'} store, SendGrid sender -> "
        f"loopback sink"
    )
    print(
        f"  stores filled in {filled:.1f} s (not timed below); the best of {ROUNDS} alternate rounds of the "
        f"waves (each round's personal / single: "
        f"{', '.join(f'{p_:.2f}x' for p_ in ratios(runs['personal'], runs['single']))})"
    )
    for name, label, r in (
        ("single", f"single variant, {single['waves']} waves:", single),
        ("personal", f"personal, {personal['variants']} variants in {personal['waves']} waves:", personal),
        ("one", "one send, one variant, no zones:", one),
    ):
        print(
            f"  {label:<38}{rate[name]:>10,.0f} readers/s  wall {r['wall']:6.2f} s  "
            f"peak RSS {r['peak_rss_mb']:6.1f} MB  (cpu {r['cpu']:.2f} s)"
        )
    print(
        f"  render cost: {render['variants']} variants x {render['ms_each']:.2f} ms = "
        f"{render['variants'] * render['ms_each']:.0f} ms"
    )
    print(f"  personal / single: {rate['personal'] / rate['single']:.2f}x  (target >= 0.8x, peak RSS < 200 MB)")
    print(f"  personal / one send: {rate['personal'] / rate['one']:.2f}x  (waves and variants against one plain send)")


NAMES = ("personal", "single", "one")
_copies: dict[str, int] = {}


def _pg_name(folder: str, name: str) -> str:
    return f"digest_bench_{abs(hash(folder)) % 10**8}_{name}"


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"


@contextmanager
def stores(folder: str):
    """name -> URL of the three stores: SQLite files in `folder`, or PostgreSQL databases (dropped after)."""
    if not POSTGRES:
        yield {name: f"sqlite:///{folder}/{name}.db" for name in NAMES}
        return
    import psycopg

    made = [_pg_name(folder, name) for name in NAMES]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for database in made:
            admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield {name: _pg_url(_pg_name(folder, name)) for name in NAMES}
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            for database in made + [_pg_name(folder, f"{n}_{i}") for n in NAMES for i in range(_copies.get(n, 0))]:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def copy_url(folder: str, name: str, index: int) -> str:
    if POSTGRES:
        return _pg_url(_pg_name(folder, f"{name}_{index}"))
    return f"sqlite:///{folder}/{name}-{index}.db"


def fresh_copy(folder: str, name: str) -> str:
    """A copy of a filled store (the send writes its ledger): `name-0.db`, `name-1.db`, ... (PostgreSQL:
    a database made from the filled one as its template)."""
    if POSTGRES:
        import psycopg

        index = _copies.get(name, 0)
        _copies[name] = index + 1
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                f'CREATE DATABASE "{_pg_name(folder, f"{name}_{index}")}" TEMPLATE "{_pg_name(folder, name)}"'
            )
        return copy_url(folder, name, index)
    copies = sorted(Path(folder).glob(f"{name}-*.db"))
    target = Path(folder) / f"{name}-{len(copies)}.db"
    shutil.copyfile(Path(folder) / f"{name}.db", target)
    os.sync()  # the copy's dirty pages written out now, not during the send that follows
    return f"sqlite:///{target}"


def ratios(personal: list[dict], single: list[dict]) -> list[float]:
    return [(p["readers"] / p["wall"]) / (s["readers"] / s["wall"]) for p, s in zip(personal, single)]


def child_of(mode: str, *args: str, script: Path = HERE) -> dict:
    """What `script mode args...` printed last, as JSON (each measured part runs in a process of its own)."""
    out = subprocess.run([sys.executable, str(script), mode, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sink":
        run_sink(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] in ("one", "waves", "render"):
        measured({"one": run_one_send, "waves": run_waves, "render": run_render}[sys.argv[1]], *sys.argv[2:])
    else:
        main()
