"""Benchmark: `send_edition` to 1,000,000 readers through the SendGrid sender, against its ceiling.

    /work/venv/bin/python tests/bench/bench_send.py          # 1,000,000 readers
    DIGEST_BENCH_SMOKE=1 python tests/bench/bench_send.py    # 5,000 readers (CI)

The store is SQLite, the embedded default: it is what one box runs, and it puts
the whole ledger (a claim and an outcome transaction per request) on the hot
path in this process, with no server to share the work. Readers are
bulk-inserted with executemany before the clock starts.

Four processes: a minimal HTTP sink on loopback (reads each request, answers
202), then, one after the other,
  - the ceiling: a bare script with no database and no digest code, posting
    the same payloads (1000 personalizations each, the same letter) over one
    keep-alive connection, each built as dicts and encoded with json.dumps;
  - the same bare script writing each payload with one f-string per reader
    (no encoder, no checks): posting and almost nothing else. The send writes
    its payloads this way too, so the gap to this line is what the ledger and
    the rest of digest cost;
  - the send: `digest.delivery.send_edition` with the SendGrid sender.
Each reports readers per second, wall time and its own peak RSS.
Target: the send at >= 60% of the ceiling, under 30 s, peak RSS under 200 MB.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
# DIGEST_BENCH_DB=postgresql runs the send against a fresh database on DIGEST_BENCH_PG_URL's server
# (200,000 readers unless DIGEST_BENCH_READERS says otherwise); the default is SQLite.
POSTGRES = os.environ.get("DIGEST_BENCH_DB", "sqlite") == "postgresql"
PG_ADMIN_URL = os.environ.get("DIGEST_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
READERS = 5_000 if SMOKE else int(os.environ.get("DIGEST_BENCH_READERS", 200_000 if POSTGRES else 1_000_000))
ROUNDS = 1 if SMOKE else int(os.environ.get("DIGEST_BENCH_ROUNDS", 3))
# DIGEST_BENCH_SENDERS=2 (PostgreSQL): also that many send processes on one edition together, each round.
SENDERS = int(os.environ.get("DIGEST_BENCH_SENDERS", 1))
BATCH = 1000
HERE = Path(__file__).resolve()
BASE_URL = "https://verdicts.example.com"
PLACEHOLDER = "%%reader_token%%"


def token_of(i: int) -> str:
    return f"{i:012d}" + "x" * 31  # 43 characters, the length of token_urlsafe(32)


def letter_html() -> str:
    """About the size of a rendered 5-comparison edition (MJML output is verbose)."""
    block = (
        '<tr><td style="padding:12px 24px;font-family:Arial,sans-serif;font-size:15px;line-height:22px;">'
        "Tool A ships at 78% with the panel; the community gives it 64%. "
        f'<a href="{BASE_URL}/vote/{PLACEHOLDER}/a-vs-b/tool-a" style="color:#1a56db;">Vote</a></td></tr>'
    )
    return (
        "<html><body><table>" + block * 120 + f'<a href="{BASE_URL}/unsubscribe/{PLACEHOLDER}">Unsubscribe</a>'
        "</table></body></html>"
    )


def letter_text() -> str:
    return "Tool A ships at 78% with the panel.\n" * 60 + f"Unsubscribe: {BASE_URL}/unsubscribe/{PLACEHOLDER}\n"


# -- the sink ------------------------------------------------------------------------------------


class Sink(asyncio.Protocol):
    ANSWER = b"HTTP/1.1 202 Accepted\r\nX-Message-Id: bench\r\nContent-Length: 0\r\n\r\n"

    def connection_made(self, transport):
        self.transport, self.buffer, self.need = transport, bytearray(), None

    def data_received(self, data):
        self.buffer += data
        while True:
            if self.need is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buffer[:end]).lower()
                start = head.find(b"content-length:")
                length = (
                    int(head[start + 15 : head.find(b"\r\n", start) if head.find(b"\r\n", start) > 0 else None])
                    if start >= 0
                    else 0
                )
                del self.buffer[: end + 4]
                self.need = length
            if len(self.buffer) < self.need:
                return
            del self.buffer[: self.need]
            self.need = None
            self.transport.write(self.ANSWER)


def run_sink(port_file: str) -> None:
    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Sink, "127.0.0.1", 0)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        await server.serve_forever()

    asyncio.run(main())


# -- the ceiling: no database, no digest -----------------------------------------------------------


def run_ceiling(url: str, how: str = "json") -> dict:
    """`json`: each request's personalizations built as dicts and encoded with json.dumps, the plain
    way (the ceiling the issue names). `templated`: written with one f-string per reader, no
    escaping checks: the least work that makes the same bytes, so posting and little else."""
    import httpx

    letter = json.dumps(
        {
            "from": {"email": "verdicts@example.com", "name": "Weekly AI Tool Verdicts"},
            "subject": "Weekly AI Tool Verdicts #1",
            "content": [{"type": "text/plain", "value": letter_text()}, {"type": "text/html", "value": letter_html()}],
            "headers": {"List-Id": "Weekly AI Tool Verdicts <weekly-ai-tool-verdicts.example.com>"},
            "categories": ["edition", "edition-1"],
        },
        separators=(",", ":"),
    ).encode()
    client = httpx.Client(base_url=url, headers={"Authorization": "Bearer k", "Content-Type": "application/json"})
    began = time.perf_counter()
    unsubscribe = f"{BASE_URL}/unsubscribe/"
    for first in range(1, READERS + 1, BATCH):
        readers = range(first, min(first + BATCH, READERS + 1))
        if how == "templated":
            people = (
                "["
                + ",".join(
                    f'{{"to":[{{"email":"reader{i}@example.com"}}],"headers":{{"List-Unsubscribe":"<{unsubscribe}{t}>",'
                    f'"List-Unsubscribe-Post":"List-Unsubscribe=One-Click"}},"substitutions":{{"{PLACEHOLDER}":"{t}"}},'
                    f'"custom_args":{{"edition":"1","reader_id":"{i}"}}}}'
                    for i in readers
                    for t in (token_of(i),)
                )
                + "]"
            ).encode()
        else:
            people = json.dumps(
                [
                    {
                        "to": [{"email": f"reader{i}@example.com"}],
                        "headers": {
                            "List-Unsubscribe": f"<{unsubscribe}{token_of(i)}>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                        },
                        "substitutions": {PLACEHOLDER: token_of(i)},
                        "custom_args": {"edition": "1", "reader_id": str(i)},
                    }
                    for i in readers
                ],
                separators=(",", ":"),
            ).encode()
        body = b'{"personalizations":' + people + b"," + letter[1:]
        response = client.post("/v3/mail/send", content=body)
        assert response.status_code == 202
    wall = time.perf_counter() - began
    return {"readers": READERS, "wall": wall}


# -- the send -------------------------------------------------------------------------------------


def fill_store(url: str) -> None:
    from digest.store import open_store

    engine = open_store(url)
    now = "2026-01-01 00:00:00.000000"
    if engine.dialect.name == "postgresql":
        fill_postgres(engine, now)
        engine.dispose()
        return
    with engine.begin() as connection:
        for first in range(1, READERS + 1, 100_000):
            connection.exec_driver_sql(
                "INSERT INTO subscriber (id, email, status, topics, token, created_at, updated_at) "
                "VALUES (?, ?, 'active', '[]', ?, ?, ?)",
                [
                    (i, f"reader{i}@example.com", token_of(i), now, now)
                    for i in range(first, min(first + 100_000, READERS + 1))
                ],
            )
        connection.exec_driver_sql(
            "INSERT INTO edition (number, week, status, built_at) VALUES (1, '2026-W47', 'draft', ?)", (now,)
        )
    engine.dispose()


def fill_postgres(engine, now: str) -> None:
    """The same readers and edition by COPY, then ANALYZE (as autovacuum would, before a weekly send)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        columns = "id, email, status, topics, token, created_at, updated_at"
        with cursor.copy(f"COPY subscriber ({columns}) FROM STDIN") as copy:
            for i in range(1, READERS + 1):
                copy.write_row((i, f"reader{i}@example.com", "active", "[]", token_of(i), now, now))
        cursor.execute("SELECT setval(pg_get_serial_sequence('subscriber', 'id'), %s)", (READERS,))
        cursor.execute(
            "INSERT INTO edition (number, week, status, built_at) VALUES (1, '2026-W47', 'draft', %s)", (now,)
        )
        raw.driver_connection.commit()
        raw.driver_connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")
        raw.driver_connection.autocommit = False
    finally:
        raw.close()


@contextmanager
def database(folder: str):
    """The store's URL: a SQLite file in `folder`, or a new PostgreSQL database (dropped afterwards)."""
    if not POSTGRES:
        yield f"sqlite:///{folder}/bench.db"
        return
    import uuid

    import psycopg

    name = f"digest_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_send(url: str, api_url: str, shared: str = "") -> dict:
    from digest.delivery import send_edition
    from digest.mail import Letter
    from digest.mail.sendgrid import SendGridSender
    from digest.settings import Settings
    from digest.store import open_store

    engine = open_store(url)
    letter = Letter(
        subject="Weekly AI Tool Verdicts #1",
        html=letter_html(),
        text=letter_text(),
        from_address="verdicts@example.com",
        from_name="Weekly AI Tool Verdicts",
        headers={"List-Id": "Weekly AI Tool Verdicts <weekly-ai-tool-verdicts.example.com>"},
        categories=("edition", "edition-1"),
    )
    sender = SendGridSender("k", api_url)
    started, began = time.time(), time.perf_counter()
    summary = send_edition(engine, Settings(database_url=url, base_url=BASE_URL), 1, sender=sender, letter=letter)
    wall = time.perf_counter() - began
    if shared:  # one of several senders: the last to finish says sent
        assert summary.status in ("sent", "sending"), summary
    else:
        assert summary.status == "sent" and summary.sent == READERS, summary
    ended = time.time()
    return {"readers": summary.sent, "wall": wall, "started": started, "ended": ended, "sent_now": summary.sent_now}


def child(mode: str, *args: str) -> dict:
    """Run one measured part in its own process, so that its peak RSS is its own."""
    print(f"  ... {mode} {args[-1]}", file=sys.stderr, flush=True)
    out = subprocess.run([sys.executable, str(HERE), mode, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """VmHWM: this process's own peak. (ru_maxrss survives exec, so a child would report its parent's.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(function, *args) -> None:
    cpu = time.process_time()
    result = function(*args)
    result["cpu"] = time.process_time() - cpu
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def reset_store(url: str) -> None:
    """The edition back to a draft with no ledger row, for the next round (not timed)."""
    from digest.store import open_store

    engine = open_store(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM delivery")
        connection.exec_driver_sql("DELETE FROM edition_variant")
        connection.exec_driver_sql("UPDATE edition SET status = 'draft', frozen_at = NULL, sent_at = NULL")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE delivery")
    engine.dispose()


def together(url: str, api_url: str, senders: int) -> dict:
    """`senders` send processes on one edition at once: wall time from the first start to the last end."""
    processes = [
        subprocess.Popen([sys.executable, str(HERE), "send", url, api_url, "shared"], stdout=subprocess.PIPE, text=True)
        for _ in range(senders)
    ]
    results = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a sender failed:\n{out}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "readers": READERS,
        "wall": max(r["ended"] for r in results) - min(r["started"] for r in results),
        "sent_each": [r["sent_now"] for r in results],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "cpu": sum(r["cpu"] for r in results),
    }


def ledger_bytes(url: str) -> float | None:
    """PostgreSQL: the ledger's size on disk (table, indexes, TOAST) per row, after the send."""
    from digest.store import open_store

    engine = open_store(url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        return None
    with engine.connect() as connection:
        size, rows = connection.exec_driver_sql(
            "SELECT pg_total_relation_size('delivery'), (SELECT count(*) FROM delivery)"
        ).one()
    engine.dispose()
    return size / rows if rows else None


def ledger_check(url: str) -> tuple[int, int]:
    """(ledger rows, distinct readers among them): equal when each reader has one row."""
    from digest.store import open_store

    engine = open_store(url)
    with engine.connect() as connection:
        rows, readers = connection.exec_driver_sql(
            "SELECT count(*), count(DISTINCT subscriber_id) FROM delivery WHERE state = 'sent'"
        ).one()
    engine.dispose()
    return rows, readers


def line(name: str, r: dict) -> str:
    return (
        f"  {name:<36} {r['readers'] / r['wall']:>10,.0f} readers/s  wall {r['wall']:6.2f} s  "
        f"peak RSS {r['peak_rss_mb']:6.1f} MB  (cpu {r['cpu']:.2f} s)"
    )


def main() -> None:
    runs: dict[str, list[dict]] = {"ceiling": [], "templated": [], "send": [], "two": []}
    with tempfile.TemporaryDirectory() as folder, database(folder) as url:
        port_file = f"{folder}/port"
        sink = subprocess.Popen([sys.executable, str(HERE), "sink", port_file])
        try:
            began = time.perf_counter()
            fill_store(url)
            filled = time.perf_counter() - began
            while not Path(port_file).exists() or not Path(port_file).read_text():
                time.sleep(0.01)
            api_url = f"http://127.0.0.1:{Path(port_file).read_text()}"
            for round_ in range(ROUNDS):  # alternate rounds; the best of each is compared
                if round_:
                    reset_store(url)
                runs["ceiling"].append(child("ceiling", api_url, "json"))
                runs["templated"].append(child("ceiling", api_url, "templated"))
                runs["send"].append(child("send", url, api_url))
                if SENDERS > 1:
                    reset_store(url)
                    runs["two"].append(together(url, api_url, SENDERS))
                    rows, readers = ledger_check(url)
                    assert rows == readers == READERS, (rows, readers)
            per_row = ledger_bytes(url)
        finally:
            sink.terminate()
            sink.wait()
    best = {name: min(r, key=lambda x: x["wall"]) for name, r in runs.items() if r}
    rate = {name: r["readers"] / r["wall"] for name, r in best.items()}
    store = "PostgreSQL" if POSTGRES else "SQLite"
    print(f"bench_send: {READERS:,} active readers, batches of {BATCH}, {store} store, SendGrid sender -> loopback")
    print(f"  store filled in {filled:.1f} s (not timed below); best of {ROUNDS} alternate round(s)")
    print(line("ceiling (bare script, json.dumps):", best["ceiling"]))
    print(line("bare posting, templated bytes:", best["templated"]))
    print(line("send_edition (ledger + sender):", best["send"]))
    print(f"  send / ceiling: {rate['send'] / rate['ceiling']:.0%}  (target >= 60%, wall < 30 s, RSS < 200 MB)")
    print(
        f"  send / templated posting: {rate['send'] / rate['templated']:.0%}  (what the ledger costs: "
        f"{(best['send']['wall'] - best['templated']['wall']) / (READERS / 1000) * 1000:.2f} ms per 1000 readers)"
    )
    if per_row is not None:
        print(f"  the ledger on disk: {per_row:,.0f} bytes per row (table and indexes, after the send)")
    if ROUNDS > 1:
        print(
            "  each round, send / templated posting: "
            + ", ".join(f"{t['wall'] / s['wall']:.2f}x" for t, s in zip(runs["templated"], runs["send"]))
        )
    if SENDERS > 1:
        print(line(f"{SENDERS} senders together, one edition:", best["two"]))
        print(
            f"  {SENDERS} senders / one sender: {rate['two'] / rate['send']:.2f}x  (target >= 1.0x); "
            f"each reader once: {READERS:,} sent rows, {READERS:,} distinct readers; readers per sender "
            + " + ".join(f"{n:,}" for n in best["two"]["sent_each"])
        )
        print(
            "  each round, together / alone: "
            + ", ".join(f"{s['wall'] / t['wall']:.2f}x" for s, t in zip(runs["send"], runs["two"]))
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sink":
        run_sink(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "ceiling":
        measured(run_ceiling, sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "send":
        measured(run_send, *sys.argv[2:])
    else:
        main()
