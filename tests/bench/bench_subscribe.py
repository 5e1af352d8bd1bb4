"""Load on POST /subscribe: `digest serve` with SQLite, 16 connections, against a minimal reference.

    /work/venv/bin/python tests/bench/bench_subscribe.py      ~10 s of load per server
    DIGEST_BENCH_SMOKE=1 ... bench_subscribe.py                a few hundred requests (CI)

The servers run as their own processes on loopback, one after the other, each
under the same load (16 keep-alive connections, every request a new address,
each connection sending its next request as soon as the answer is in). The load
generator is a few lines of asyncio writing HTTP/1.1 by hand, so that it costs
the 2-core machines this runs on little CPU and measures the servers, not itself:

    subscribe   `digest serve` (the real command, the real app, SQLite in WAL mode), POST /subscribe
                with JSON: validation, rate limit, one transaction; after the response a background
                task sends the confirmation mails through DIGEST_BACKEND=sendgrid to a SendGrid-
                compatible sink on loopback (its own process), as in production
    +outbox     the same with the default development backend, which writes each confirmation
                mail as a MIME file (about 5 ms of CPU per mail, in the server's process)
    reference   a minimal FastAPI app under the same uvicorn settings: POST /items inserts one row
                into SQLite (WAL, synchronous=NORMAL, as digest's store) and commits

For each it prints requests per second and p50/p99 latency, then checks that
every subscription the server accepted (202) is in the database.
Targets (issue 4): subscribe >= reference throughput, subscribe p99 < 50 ms.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import BaseModel

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
CONNECTIONS = 16
WARMUP = 50 if SMOKE else 300
DURATION = 1.5 if SMOKE else 10.0  # seconds of measured load per server
ROOT = Path(__file__).resolve().parents[2]


# --- the reference server (this file, run with --reference PORT DB) ---------------------------------


class Item(BaseModel):
    email: str


def reference_app(db_path: str):
    import threading

    from fastapi import FastAPI

    local = threading.local()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(db_path, timeout=30, check_same_thread=False)
            local.db.execute("PRAGMA journal_mode=WAL")
            local.db.execute("PRAGMA synchronous=NORMAL")
        return local.db

    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)")

    app = FastAPI()

    @app.post("/items", status_code=201)
    def create(item: Item) -> dict:
        db = connection()
        cursor = db.execute("INSERT INTO item (email) VALUES (?)", (item.email,))
        db.commit()
        return {"id": cursor.lastrowid}

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    return app


def serve_sink(port: int) -> None:
    """A SendGrid-compatible POST /v3/mail/send that accepts everything and counts the recipients."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    count = [0]
    lock = threading.Lock()

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with lock:
                count[0] += len(body["personalizations"])
            self._answer(202, b"")

        def do_GET(self):
            self._answer(200, str(count[0]).encode())

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("X-Message-Id", "sink")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()


def serve_reference(port: int, db_path: str) -> None:
    from digest.web.server import listen, run

    run(reference_app(db_path), listen(port=port))  # the same uvicorn settings as `digest serve`


# --- the load generator ---------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads the answer, written out by hand.

    httpx costs about as much CPU per request as the reference server does: on a 2-core machine it
    became the limit of the reference's figures and queued requests in its own event loop, which
    counted as server latency. This costs a small fraction of that, the same for every server.
    """

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: bytes) -> int:
        """The response's status code, once the whole response has arrived."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), self.host.encode(), self.port, len(body), body)
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, headers = head.partition(b"\r\n")
        length, close = None, False
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise RuntimeError(f"the server answered without a Content-Length: {head!r}")
        await self.reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split(b" ", 2)[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def load(url: str, path: str, ok: int, run: Run) -> None:
    counter = iter(range(10**9))
    host, port = httpx.URL(url).host, httpx.URL(url).port

    async def worker(connection: Connection, deadline: float | None, budget: list[int]) -> None:
        while (deadline is None and budget[0] > 0) or (deadline is not None and time.perf_counter() < deadline):
            if deadline is None:
                budget[0] -= 1
            address = f"reader{next(counter)}@bench.example"
            body = b'{"email": "%s"}' % address.encode()
            started = time.perf_counter()
            status = await connection.post_json(path, body)
            took = time.perf_counter() - started
            if deadline is not None:
                run.latencies.append(took)
                run.statuses[status] = run.statuses.get(status, 0) + 1
            if status == ok:
                run.accepted.append(address)

    connections = [Connection(host, port) for _ in range(CONNECTIONS)]
    try:
        warm = [WARMUP]
        await asyncio.gather(*(worker(c, None, warm) for c in connections))
        started = time.perf_counter()
        await asyncio.gather(*(worker(c, started + DURATION, [0]) for c in connections))
        run.elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()


# --- running both ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server at {url} exited with status {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not start within {timeout} s")


def start(command: list[str], env: dict[str, str], url: str) -> subprocess.Popen:
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(url, process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(name: str, command: list[str], env: dict[str, str], port: int, path: str, ok: int) -> Run:
    url = f"http://127.0.0.1:{port}"
    process = start(command, env, url)
    try:
        run = Run(name)
        asyncio.run(load(url, path, ok, run))
        time.sleep(1.0)  # let the last background sends finish
        return run
    finally:
        stop(process)


def stored(db_path: Path, table: str, addresses: list[str]) -> int:
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TEMP TABLE wanted (email TEXT PRIMARY KEY)")
        db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(a,) for a in addresses])
        return db.execute(f"SELECT count(*) FROM {table} JOIN wanted USING (email)").fetchone()[0]


def still_queued(db_path: Path) -> int:
    """Readers whose confirmation mail had not been taken from the queue when the server stopped."""
    with sqlite3.connect(db_path) as db:
        return db.execute(
            "SELECT count(*) FROM subscriber WHERE status = 'pending' AND confirmation_sent_at IS NULL"
        ).fetchone()[0]


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench_subscribe_"))
    me = [sys.executable, str(Path(__file__).resolve())]
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DIGEST_", "SENDGRID_"))}
    sink_port = free_port()
    sink = start([*me, "--sink", str(sink_port)], base, f"http://127.0.0.1:{sink_port}")
    print(
        f"{CONNECTIONS} connections, {DURATION:.1f} s of load each after {WARMUP} warm-up requests"
        f"{' (smoke size)' if SMOKE else ''}; data in {folder}"
    )
    try:
        runs, checks = [], []
        for name, backend in (("subscribe", "sendgrid"), ("+outbox", "outbox")):
            port, db = free_port(), folder / f"digest-{backend}.db"
            env = {
                **base,
                "DIGEST_DATABASE_URL": f"sqlite:///{db}",
                "DIGEST_OUTBOX": str(folder / "outbox"),
                "DIGEST_BASE_URL": f"http://127.0.0.1:{port}",
                "DIGEST_SECRET_KEY": "bench-secret",
                "DIGEST_BACKEND": backend,
                "SENDGRID_API_KEY": "SG.bench",
                "SENDGRID_API_URL": f"http://127.0.0.1:{sink_port}",
                # One load generator is one client: lift the per-client limit that would stop it.
                "DIGEST_SUBSCRIBE_RATE_LIMIT": "1000000/minute",
            }
            # `digest serve` never creates a store: make it first, as an operator does.
            subprocess.run(
                [sys.executable, "-m", "digest", "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL
            )
            run = measure(
                name, [sys.executable, "-m", "digest", "serve", "--port", str(port)], env, port, "/subscribe", 202
            )
            runs.append(run)
            checks.append((run, db))
        ref_port = free_port()
        reference = measure(
            "reference",
            [*me, "--reference", str(ref_port), str(folder / "reference.db")],
            base,
            ref_port,
            "/items",
            201,
        )
        runs.append(reference)
        handed_over = int(httpx.get(f"http://127.0.0.1:{sink_port}/count").text)
    finally:
        stop(sink)

    print(f"{'':<11}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    for run in runs:
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(run.statuses.items()))
        print(
            f"{run.name:<11}{len(run.latencies):>10}{run.rps:>10.0f}{run.percentile(50):>9.1f}"
            f"{run.percentile(99):>9.1f}  {statuses}"
        )
    complete = True
    for run, db in checks:
        found = stored(db, "subscriber", run.accepted)
        complete &= found == len(run.accepted)
        print(
            f"{run.name}: accepted subscriptions in the database: {found} of {len(run.accepted)}"
            f" ({'all' if found == len(run.accepted) else 'MISSING SOME'})"
        )
    mails = len(list((folder / "outbox").glob("*.eml"))) if (folder / "outbox").exists() else 0
    waiting = [still_queued(db) for _, db in checks]
    print(
        f"confirmation mails: {handed_over} handed to the SendGrid sink ({waiting[0]} still queued), "
        f"{mails} written to the outbox ({waiting[1]} still queued when the server stopped; "
        "the scheduler sends those)"
    )
    subscribe = runs[0]
    print(
        f"subscribe vs reference: {subscribe.rps / reference.rps:.2f}x the throughput "
        f"({'meets' if subscribe.rps >= reference.rps else 'below'} the target of >= 1x); "
        f"p99 {subscribe.percentile(99):.1f} ms ({'meets' if subscribe.percentile(99) < 50 else 'over'} "
        f"the target of < 50 ms)"
    )
    if not complete:
        raise SystemExit(1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--reference":
        sys.path.insert(0, str(ROOT))
        serve_reference(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "--sink":
        serve_sink(int(sys.argv[2]))
    else:
        main()
