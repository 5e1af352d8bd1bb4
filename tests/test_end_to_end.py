"""The whole product, the way it runs: import, sign-ups over HTTP, the scheduler's weekly send, one-click unsubscribe.

Real parts throughout: `digest import` on JSON files, the FastAPI app over real
HTTP on loopback, double opt-in through the confirmation mail's own link, the
real APScheduler (on a clock shifted to just before Monday 08:00 in Paris) firing
the weekly job, SendGrid's API played by the SendGrid-compatible test server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from click.testing import CliRunner
from conftest import ROOT
from helpers import comparisons_file, healthy, running, scaled, start_process, wait_for
from sendgrid_server import SendGridServer
from test_weekly import add_comparisons, add_readers, ledger_of

from digest.cli import main
from digest.delivery.confirmations import CONFIRM_URL
from digest.jobs import WEEKLY_JOB, build_scheduler
from digest.settings import Settings
from digest.store import open_store
from digest.web import create_app
from digest.web.server import base_url, bind, serving
from schedules import WEEKDAYS, ShiftedClock, runs

PARIS = ZoneInfo("Europe/Paris")
FIRST_SLOT = datetime(2026, 3, 30, 8, 0, tzinfo=PARIS).astimezone(UTC)  # sends 2026-W13
SECOND_SLOT = datetime(2026, 4, 6, 8, 0, tzinfo=PARIS).astimezone(UTC)  # sends 2026-W14


def edition_mails(server, number: int) -> list[str]:
    return [address for address, p in server.recipients() if p.get("custom_args", {}).get("edition") == str(number)]


def confirmation_links(server) -> dict[str, str]:
    return {
        address: p["substitutions"][CONFIRM_URL]
        for address, p in server.recipients()
        if p.get("custom_args", {}).get("purpose") == "confirmation"
    }


def unsubscribe_link(server, address: str) -> str:
    headers = next(
        p["headers"]
        for a, p in server.recipients()
        if a == address and "headers" in p and p.get("custom_args", {}).get("edition")
    )
    return headers["List-Unsubscribe"].strip("<>")


def fire_weekly(engine, settings, slot) -> None:
    """Start the application's scheduler a moment before `slot` and let it fire."""
    scheduler = build_scheduler(engine, settings, clock=ShiftedClock(slot - timedelta(seconds=1.5)))
    scheduler.start()
    try:
        wait_for(
            lambda: (record := runs.find(engine, WEEKLY_JOB, slot)) is not None and record.outcome == "done",
            20,
            f"the weekly send for {slot}",
        )
    finally:
        scheduler.stop()


def test_import_subscribe_confirm_schedule_send_unsubscribe_and_the_next_week_skips_them(
    db_url, tmp_path, cli_env, monkeypatch
):
    with SendGridServer(api_key="test-key") as sendgrid:
        sock = bind()
        env = {
            "DIGEST_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": "test-key",
            "SENDGRID_API_URL": sendgrid.url,
            "DIGEST_TIMEZONE": "Europe/Paris",
            "DIGEST_SEND_DAY": "monday",
            "DIGEST_SEND_TIME": "08:00",
            "DIGEST_BASE_URL": base_url(sock),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = Settings.from_env()

        # An editor imports two weeks of comparisons.
        week13 = comparisons_file(
            tmp_path, [datetime(2026, 3, 24, 10, tzinfo=PARIS), datetime(2026, 3, 26, 15, tzinfo=PARIS)], tag="w13"
        )
        week14 = comparisons_file(tmp_path, [datetime(2026, 4, 1, 9, tzinfo=PARIS)], tag="w14")
        imported = CliRunner().invoke(main, ["comparisons", "import", str(week13), str(week14)])
        assert imported.exit_code == 0, imported.output

        engine = open_store(db_url)
        try:
            with serving(create_app(settings, engine), sock) as url, httpx.Client(base_url=url) as web:
                # Three people sign up; two of them click the link in their confirmation mail.
                for address in ("ada@example.com", "grace@example.com", "lurker@example.com"):
                    answer = web.post("/subscribe", json={"email": address})
                    assert answer.status_code == 202, answer.text
                wait_for(lambda: len(confirmation_links(sendgrid)) == 3, 10, "three confirmation mails")
                links = confirmation_links(sendgrid)
                for address in ("ada@example.com", "grace@example.com"):
                    confirmed = web.post(links[address].removeprefix(url))  # the button its page shows
                    assert confirmed.status_code == 200, confirmed.text

                # Monday 08:00 in Paris: the scheduler fires and the week's edition goes out.
                fire_weekly(engine, settings, FIRST_SLOT)
                assert sorted(edition_mails(sendgrid, 1)) == ["ada@example.com", "grace@example.com"]

                # Grace leaves with one click (RFC 8058: a bare POST, no cookie, no confirmation).
                left = web.post(
                    unsubscribe_link(sendgrid, "grace@example.com").removeprefix(url),
                    content="List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                assert left.status_code == 200, left.text

                # The next Monday: the next edition skips her, and the unconfirmed reader still gets nothing.
                fire_weekly(engine, settings, SECOND_SLOT)
                assert edition_mails(sendgrid, 2) == ["ada@example.com"]
                lurker_mail = [p.get("custom_args", {}) for a, p in sendgrid.recipients() if a == "lurker@example.com"]
                assert lurker_mail == [{"purpose": "confirmation", "reader_id": lurker_mail[0]["reader_id"]}]
                assert ledger_of(engine).get("grace@example.com") == "sent"  # edition 1 only: none for edition 2
        finally:
            engine.dispose()

        listing = CliRunner().invoke(main, ["editions", "list"])
        assert listing.exit_code == 0, listing.output
        rows = [line.split()[:7] for line in listing.stdout.strip().splitlines()[1:]]
        assert rows == [["2", "2026-W14", "sent", "1", "0", "0", "0"], ["1", "2026-W13", "sent", "2", "0", "0", "0"]]


def test_serve_with_scheduler_runs_web_and_the_weekly_send_in_one_process(sqlite_url, tmp_path):
    engine = open_store(sqlite_url)
    slot = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    add_comparisons(engine, tmp_path, [slot - timedelta(days=7)])
    add_readers(engine, ["ada@example.com", "grace@example.com"])
    sock = bind()
    port = sock.getsockname()[1]
    sock.close()
    with SendGridServer(api_key="test-key") as sendgrid:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
        env.update(
            {
                "DIGEST_DATABASE_URL": sqlite_url,
                "DIGEST_BACKEND": "sendgrid",
                "SENDGRID_API_KEY": "test-key",
                "SENDGRID_API_URL": sendgrid.url,
                "DIGEST_TIMEZONE": "UTC",
                "DIGEST_SEND_DAY": WEEKDAYS[slot.weekday()],
                "DIGEST_SEND_TIME": slot.strftime("%H:%M"),
            }
        )
        with open(tmp_path / "serve.log", "w") as log:
            process = start_process(
                [sys.executable, "-m", "digest", "serve", "--with-scheduler", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        with running(process):  # stopped, with its group, however the block ends
            wait_for(lambda: healthy(port), 30, "the web app")
            # The slot a minute ago is within the catch-up window: the in-process scheduler sends it.
            wait_for(
                lambda: (r := runs.find(engine, WEEKLY_JOB, slot)) is not None and r.outcome == "done",
                30,
                "the weekly send",
            )
            assert sendgrid.counts() == {"ada@example.com": 1, "grace@example.com": 1}
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=scaled(30))
        assert code == 0, (tmp_path / "serve.log").read_text()
        assert ledger_of(engine) == {"ada@example.com": "sent", "grace@example.com": "sent"}
    engine.dispose()
