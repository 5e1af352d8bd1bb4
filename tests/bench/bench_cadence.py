"""Benchmark: the first send day of a month to 1,000,000 readers with their own cadences, topics and time
zones, every wave, against the single-variant send of the same readers in the same waves.

    .venv/bin/python tests/bench/bench_cadence.py          # 1,000,000 readers
    DIGEST_BENCH_SMOKE=1 .venv/bin/python tests/bench/bench_cadence.py    # 6,000 readers (CI)

Two SQLite stores hold the same readers (same ids, addresses, tokens and zones: bench_variants'
40 zones) and the same five weekly editions of ten comparisons over eight categories (2026-W10 to
W13 sent, W14 the send day's, Monday 6 April 2026: the first send day of April):
  - cadences: each reader has one of 3 cadences, one of 64 topic sets and one of 40 zones, spread
    independently over the ids, and their own cadence day: fortnightly readers' days fall on both
    parities (half of them are due), and one reader in fifty of each cadence joined in the last
    four weeks (shorter windows of their own). Monthly readers are all due and get a letter
    gathering every comparison of their topics since 2 March (five editions, clipped to fit,
    the rest listed), fortnightly ones since 23 March; readers not due are read and left alone.
  - single: the same readers, weekly, no topics: one variant, everybody mailed.
The waves run as the scheduler runs them (`Scheduler.run_slot`, then `digest.jobs.run_wave`), on a
clock set to each wave's moment, in alternate rounds (single, cadences, ...) each on a fresh copy of
its store; the best round of each is compared, every round's ratio printed (the machine is noisy).
Both walk the same 1,000,000 readers in the same waves: the rate is readers handled per second
(mailed, or found not due). Target: cadences >= 0.8x single, peak RSS under 200 MB. The rendering
cost is distinct contents x ms: every distinct letter the send renders (window x topics x loop),
each rendered once more apart and timed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # runnable from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_send import measured, run_sink
from bench_variants import CATEGORIES, PAIRS, ZONES, child_of, scheduled_waves, settings_for, token_of, topic_sets

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
READERS = 6_000 if SMOKE else int(os.environ.get("DIGEST_BENCH_READERS", 1_000_000))
ROUNDS = 1 if SMOKE else int(os.environ.get("DIGEST_BENCH_ROUNDS", 3))
HERE = Path(__file__).resolve()
BASE_URL = "https://verdicts.example.com"
SEND_DAY = date(2026, 4, 6)  # the first Monday of April: its edition is 2026-W14's
WEEKS = ("2026-W10", "2026-W11", "2026-W12", "2026-W13", "2026-W14")  # sent 9, 16, 23, 30 March; then 6 April
CADENCES = ("weekly", "fortnightly", "monthly")
LONG_AGO = date(2025, 1, 6)  # a Monday


def cadence_of(i: int) -> tuple[str, str]:
    """A reader's cadence and its day, spread over the ids independently of their topics ((i // 40) % 64)
    and zone (i % 40) by a multiplicative hash."""
    mixed = (i * 2654435761) & 0xFFFFFFFF
    every = CADENCES[(mixed >> 8) % 3]
    if i % 50 == 7:  # a recent joiner (2%): a day in the last four weeks, a window of their own
        return every, str(date(2026, 3, 10) + timedelta(days=(mixed >> 12) % 27))
    return every, str(LONG_AGO + timedelta(weeks=(mixed >> 16) % 52))  # both fortnight parities


def fill_store(url: str, cadences: bool) -> None:
    from digest.editions.service import build_edition
    from digest.store import open_store, session_scope

    engine = open_store(url)
    sets = [json.dumps(s) for s in topic_sets()]
    now = "2026-01-01 00:00:00.000000"
    with engine.begin() as connection:
        for w in range(len(WEEKS)):
            published = f"{date(2026, 3, 4) + timedelta(weeks=w)} 09:00:00.000000"  # a Wednesday of each week
            for p, (left, right) in enumerate(PAIRS, start=1):
                i = 10 * w + p
                for side, category in ((1, CATEGORIES[left]), (2, CATEGORIES[right])):
                    connection.exec_driver_sql(
                        "INSERT INTO tool (id, slug, name, category, tagline, description, pricing) "
                        "VALUES (?, ?, ?, ?, 'A tagline', 'What it does.', 'Paid')",
                        (2 * i + side - 2, f"tool-{i}-{side}", f"Tool {i}{'ab'[side - 1]}", category),
                    )
                connection.exec_driver_sql(
                    "INSERT INTO comparison (id, slug, title, summary, url, published_at, updated_at) "
                    "VALUES (?, ?, ?, 'Which one ships.', ?, ?, ?)",
                    (
                        i,
                        f"tool-{i}-1-vs-tool-{i}-2",
                        f"Tool {i}a vs Tool {i}b",
                        f"{BASE_URL}/compare/{i}",
                        published,
                        now,
                    ),
                )
                for position, side in enumerate((1, 2)):
                    connection.exec_driver_sql(
                        "INSERT INTO entry (comparison_id, tool_id, position, panel_ship, community, entry_price) "
                        "VALUES (?, ?, ?, ?, NULL, 'Free')",
                        (i, 2 * i + side - 2, position, 80 - 30 * position),
                    )
                    connection.exec_driver_sql(
                        "INSERT INTO review (comparison_id, tool_id, lens, position, quote, verdict) "
                        "VALUES (?, ?, 'builder', ?, 'It ships. The docs are good.', 'ship')",
                        (i, 2 * i + side - 2, position),
                    )
        for first in range(1, READERS + 1, 100_000):
            connection.exec_driver_sql(
                "INSERT INTO subscriber (id, email, status, topics, timezone, token, created_at, updated_at, "
                "cadence, cadence_since) VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i,
                        f"reader{i}@example.com",
                        sets[(i // 40) % 64] if cadences else "[]",
                        ZONES[i % 40],
                        token_of(i),
                        now,
                        now,
                        *(cadence_of(i) if cadences else ("weekly", str(LONG_AGO))),
                    )
                    for i in range(first, min(first + 100_000, READERS + 1))
                ],
            )
    settings = settings_for(url, "http://127.0.0.1:9")
    with session_scope(engine) as session:
        for week in WEEKS[:-1]:  # the four editions before: built and sent
            build_edition(session, settings, week, now=datetime(2026, 4, 1))
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE edition SET status = 'sent', frozen_at = '2026-03-30 08:00:00.000000', "
            "sent_at = '2026-03-30 09:00:00.000000'"
        )
    engine.dispose()


def run_waves(url: str, api_url: str) -> dict:
    counts, waves, wall = scheduled_waves(url, api_url, SEND_DAY)
    sent, rows = counts["sent"], counts["rows"]
    assert sent == rows and counts["statuses"][WEEKS[-1]] == "sent", counts
    return {
        "readers": READERS,
        "sent": sent,
        "not_due": READERS - rows,
        "wall": wall,
        "variants": counts["variants"],
        "waves": waves,
    }


def run_render(url: str) -> dict:
    """Every distinct letter the send renders (each reader group's choice, as the send makes it), each
    rendered once more and timed: what a send pays per distinct content."""
    from digest.delivery.letters import NOT_DUE, VariantLetters
    from digest.editions.models import Edition
    from digest.editions.service import offered
    from digest.settings import Settings
    from digest.store import open_store, session_scope

    engine = open_store(url)
    settings = Settings.from_env(
        {"DIGEST_DATABASE_URL": url, "DIGEST_BASE_URL": BASE_URL, "DIGEST_TIMEZONE": "UTC", "DIGEST_SEND_DAY": "monday"}
    )
    with session_scope(engine) as session:
        edition = session.query(Edition).filter(Edition.week == WEEKS[-1]).one()
        shown = offered(session, edition)
        session.expunge(edition)
    with engine.connect() as connection:
        groups = connection.exec_driver_sql(
            "SELECT DISTINCT topics, cadence, cadence_since FROM subscriber WHERE status = 'active'"
        ).all()
    letters = VariantLetters(engine, settings, edition, shown)
    keys = {letters.choose(topics, None, every, since) for topics, every, since in groups} - {None, NOT_DUE}
    began = time.perf_counter()
    for key in keys:
        letters.letter(key)
    each = (time.perf_counter() - began) / len(keys) * 1000
    return {"contents": len(keys), "ms_each": each, "windows": sum(1 for key in keys if "|w" in key)}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        urls = {name: f"sqlite:///{folder}/{name}.db" for name in ("cadences", "single")}
        port_file = f"{folder}/port"
        sink = subprocess.Popen([sys.executable, str(HERE.parent / "bench_send.py"), "sink", port_file])
        try:
            began = time.perf_counter()
            fill_store(urls["cadences"], cadences=True)
            fill_store(urls["single"], cadences=False)
            filled = time.perf_counter() - began
            while not Path(port_file).exists() or not Path(port_file).read_text():
                time.sleep(0.01)
            api_url = f"http://127.0.0.1:{Path(port_file).read_text()}"
            runs: dict[str, list[dict]] = {"single": [], "cadences": []}
            for _ in range(ROUNDS):
                for name in ("single", "cadences"):
                    runs[name].append(child_of("waves", fresh_copy(folder, name), api_url, script=HERE))
            single, cadenced = (max(runs[name], key=lambda r: r["readers"] / r["wall"]) for name in runs)
            render = child_of("render", f"sqlite:///{folder}/cadences-{ROUNDS - 1}.db", script=HERE)  # sent: W14 built
        finally:
            sink.terminate()
            sink.wait()
    rate = {name: r["readers"] / r["wall"] for name, r in (("single", single), ("cadences", cadenced))}
    print(
        f"bench_cadence: {READERS:,} readers, 3 cadences x 64 topic sets x 40 time zones, per-reader windows, "
        f"SQLite store, SendGrid sender -> loopback sink"
    )
    every = ", ".join(
        f"{r['readers'] / r['wall'] / (s['readers'] / s['wall']):.2f}x"
        for r, s in zip(runs["cadences"], runs["single"])
    )
    print(
        f"  stores filled in {filled:.1f} s (not timed); best of {ROUNDS} alternate rounds "
        f"(each round's ratio: {every})"
    )
    for name, label, r in (
        ("single", f"single variant, {single['waves']} waves:", single),
        ("cadences", f"cadences, {cadenced['variants']} variants in {cadenced['waves']} waves:", cadenced),
    ):
        print(
            f"  {label:<40}{rate[name]:>10,.0f} readers/s  wall {r['wall']:6.2f} s  "
            f"peak RSS {r['peak_rss_mb']:6.1f} MB  (cpu {r['cpu']:.2f} s; {r['sent']:,} mailed, "
            f"{r['not_due']:,} not due)"
        )
    print(
        f"  rendering cost: {render['contents']} distinct contents ({render['windows']} gathering several editions) "
        f"x {render['ms_each']:.2f} ms = {render['contents'] * render['ms_each']:.0f} ms"
    )
    print(f"  cadences / single: {rate['cadences'] / rate['single']:.2f}x  (target >= 0.8x, peak RSS < 200 MB)")
    for number, pair in enumerate(zip(runs["single"], runs["cadences"]), start=1):
        said = [
            f"{name} {r['readers'] / r['wall']:,.0f}/s (wall {r['wall']:.1f} s, cpu {r['cpu']:.1f} s, "
            f"{r['peak_rss_mb']:.0f} MB)"
            for name, r in zip(("single", "cadences"), pair)
        ]
        ratio = pair[1]["readers"] / pair[1]["wall"] / (pair[0]["readers"] / pair[0]["wall"])
        print(f"  round {number}: {', '.join(said)}: {ratio:.2f}x")


def fresh_copy(folder: str, name: str) -> str:
    copies = sorted(Path(folder).glob(f"{name}-*.db"))
    target = Path(folder) / f"{name}-{len(copies)}.db"
    shutil.copyfile(Path(folder) / f"{name}.db", target)
    os.sync()
    return f"sqlite:///{target}"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sink":
        run_sink(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] in ("waves", "render"):
        measured({"waves": run_waves, "render": run_render}[sys.argv[1]], *sys.argv[2:])
    else:
        main()
