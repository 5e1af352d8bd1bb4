"""`digest send` from the command line: outbox by default, summaries, bad input, Ctrl-C, several workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter

from click.testing import CliRunner
from helpers import add_readers, address, built_edition, ledger, ledger_rows, scaled, start_process, wait_for
from sendgrid_server import SendGridServer

from digest.cli import main
from digest.settings import Settings
from digest.store import open_store


def store_with_edition(url: str, readers: int) -> tuple:
    engine = open_store(url)
    add_readers(engine, readers)
    number = built_edition(engine, Settings(database_url=url))
    return engine, number


def test_send_mails_every_reader_into_the_outbox_once(cli_env):
    engine, number = store_with_edition(cli_env["DIGEST_DATABASE_URL"], 7)
    first = CliRunner().invoke(main, ["editions", "send", "--yes", "--week", "2026-W47"])
    assert first.exit_code == 0, first.output
    assert f"Edition {number}: sent." in first.output and "(7 by this run)" in first.output
    assert len(list(os.scandir(cli_env["DIGEST_OUTBOX"]))) == 7
    again = CliRunner().invoke(main, ["editions", "send", "--yes", "--edition", str(number)])
    assert again.exit_code == 0 and "(0 by this run)" in again.output
    assert len(list(os.scandir(cli_env["DIGEST_OUTBOX"]))) == 7
    engine.dispose()


def test_send_prints_a_json_summary(cli_env):
    engine, number = store_with_edition(cli_env["DIGEST_DATABASE_URL"], 3)
    result = CliRunner().invoke(main, ["editions", "send", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("edition", "status", "sent", "failed", "uncertain", "skipped")} == {
        "edition": number,
        "status": "sent",
        "sent": 3,
        "failed": 0,
        "uncertain": 0,
        "skipped": 0,
    }
    engine.dispose()


def test_a_dry_run_renders_counts_and_sends_nothing(cli_env):
    engine, number = store_with_edition(cli_env["DIGEST_DATABASE_URL"], 4)
    result = CliRunner().invoke(main, ["editions", "send", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry-run" in result.output and "would mail" in result.output and " 4" in result.output
    assert not os.path.exists(cli_env["DIGEST_OUTBOX"]) and ledger(engine, number) == {}
    engine.dispose()


def test_bad_options_are_named_without_a_traceback(cli_env):
    engine, number = store_with_edition(cli_env["DIGEST_DATABASE_URL"], 1)
    runner = CliRunner()
    both = runner.invoke(main, ["editions", "send", "--yes", "--edition", "1", "--week", "2026-W47"])
    assert both.exit_code == 2 and "not both" in both.output
    week = runner.invoke(main, ["editions", "send", "--yes", "--week", "47"])
    assert week.exit_code == 2 and "--week" in week.output and "2026-W47" in week.output
    missing = runner.invoke(main, ["editions", "send", "--yes", "--edition", "99"])
    assert missing.exit_code == 1 and "there is no edition 99" in missing.output
    size = runner.invoke(main, ["editions", "send", "--yes", "--batch-size", "5000"])
    assert size.exit_code == 2 and "--batch-size" in size.output
    for result in (both, week, missing, size):
        assert "Traceback" not in result.output
    engine.dispose()


def test_sendgrid_without_an_api_key_is_named(cli_env, monkeypatch):
    engine, _ = store_with_edition(cli_env["DIGEST_DATABASE_URL"], 1)
    monkeypatch.setenv("DIGEST_BACKEND", "sendgrid")
    result = CliRunner().invoke(main, ["editions", "send", "--yes", "--yes"])
    assert result.exit_code == 1 and "SENDGRID_API_KEY is not set" in result.output
    engine.dispose()


def _env(url: str, server: SendGridServer) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    return {
        **env,
        "DIGEST_DATABASE_URL": url,
        "DIGEST_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": "k",
        "SENDGRID_API_URL": server.url,
    }


def test_ctrl_c_stops_after_the_request_in_flight_with_the_ledger_exact(sqlite_url):
    engine, number = store_with_edition(sqlite_url, 200)
    with SendGridServer(api_key="k") as server:
        server.delay = 0.3  # a slow provider: each request takes a while
        process = start_process(
            [sys.executable, "-m", "digest", "editions", "send", "--yes", "--batch-size", "10"],
            env=_env(sqlite_url, server),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: server.requests >= 2, 30, "the second request", 0.01)
        process.send_signal(signal.SIGINT)  # while the second request is in flight
        out, err = process.communicate(timeout=scaled(30))
        assert process.returncode == 1, err
        assert "stopped" in out and "Stopped on request" in out and "Traceback" not in err
        states = Counter(ledger(engine, number).values())
        assert set(states) == {"sent"}  # nothing left claimed: the request in flight was recorded
        assert states["sent"] == len(server.recipients()) >= 20
        assert states["sent"] < 200
        server.delay = 0
        resumed = subprocess.run(
            [sys.executable, "-m", "digest", "editions", "send", "--yes", "--yes"],
            env=_env(sqlite_url, server),
            capture_output=True,
            text=True,
            timeout=scaled(60),
        )
    assert resumed.returncode == 0, resumed.stderr
    assert server.counts() == Counter({address(i): 1 for i in range(1, 201)})
    engine.dispose()


def test_two_workers_on_postgresql_share_the_send_and_mail_everyone_once(pg_url):
    engine, number = store_with_edition(pg_url, 3000)
    with SendGridServer(api_key="k") as server:
        # 30 requests of 50 ms: the send lasts longer than the second process takes to start (with 10 ms
        # the first, now faster on PostgreSQL, could finish before the second began).
        server.delay = 0.05
        env = _env(pg_url, server)
        workers = [
            start_process(
                [sys.executable, "-m", "digest", "editions", "send", "--yes", "--batch-size", "100", "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [worker.communicate(timeout=scaled(120)) for worker in workers]
    for worker, (_out, err) in zip(workers, results):
        assert worker.returncode == 0, err
    summaries = [json.loads(out) for out, _ in results]
    assert sum(s["sent_now"] for s in summaries) == 3000
    assert all(s["sent_now"] > 0 for s in summaries)  # both did part of the work
    assert server.counts() == Counter({address(i): 1 for i in range(1, 3001)})
    rows = ledger_rows(engine, number)
    assert len(rows) == 3000 and {r["state"] for r in rows} == {"sent"}
    assert len({r["request_id"].split("-")[0] for r in rows}) == 2  # two workers' requests
    assert "sent" in {s["status"] for s in summaries}
    engine.dispose()
