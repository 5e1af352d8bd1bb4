"""The application's weekly job: which week a slot sends, idempotent sends, skips with a reason, the operator view.

The helpers at the top (comparisons through the real importer, readers in the
real table, settings pointed at the SendGrid-compatible test server) are shared
with tests/test_scheduler_processes.py.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import add_readers, comparisons_file, scaled
from sendgrid_server import SendGridServer

from digest.cli import main
from digest.content.importer import import_paths
from digest.delivery.ledger import Delivery
from digest.editions.models import Edition
from digest.jobs import WEEKLY_JOB, build_scheduler, run_week, week_for_slot
from digest.settings import Settings
from digest.store import session_scope
from schedules import ShiftedClock, runs
from subscribers.models import Subscriber

PARIS = ZoneInfo("Europe/Paris")


# --- helpers ---------------------------------------------------------------------------------


def add_comparisons(engine, folder: Path, published: list[datetime], tag: str = "c") -> list[str]:
    """Import one comparison per moment in `published`, through the real JSON importer."""
    path = comparisons_file(folder, published, tag)
    with session_scope(engine) as session:
        import_paths(session, [path], site_url="https://verdicts.example.com")
    return [item["title"] for item in json.loads(path.read_text(encoding="utf-8"))["comparisons"]]


def settings_for(db_url: str, server: SendGridServer, **extra: str) -> Settings:
    env = {
        "DIGEST_DATABASE_URL": db_url,
        "DIGEST_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": server.api_key,
        "SENDGRID_API_URL": server.url,
        "DIGEST_TIMEZONE": "Europe/Paris",
        "DIGEST_SEND_DAY": "monday",
        "DIGEST_SEND_TIME": "08:00",
        **extra,
    }
    return Settings.from_env(env)


def ledger_of(engine) -> dict[str, str]:
    """address -> delivery state, over every edition (tests here send one edition at a time)."""
    delivery, subscriber = Delivery.__table__, Subscriber.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(subscriber.c.email, delivery.c.state).join(
                subscriber, subscriber.c.id == delivery.c.subscriber_id
            )
        ).all()
    return {email: state for email, state in rows}


def editions_of(engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                sa.select(Edition.__table__.c.week, Edition.__table__.c.status).order_by(Edition.__table__.c.number)
            )
        ]


@pytest.fixture
def sendgrid():
    with SendGridServer(api_key="test-key") as server:
        yield server


SLOT = datetime(2026, 3, 30, 8, 0, tzinfo=PARIS).astimezone(UTC)  # Monday, W14, just after DST
LAST_WEEK = datetime(2026, 3, 25, 12, 0, tzinfo=PARIS)  # Wednesday of W13
READERS = ["ada@example.com", "grace@example.com", "linus@example.com"]


# --- which week a slot sends -----------------------------------------------------------------


def run_until_done(engine, scheduler, seconds: float = 10) -> None:
    """Run the real scheduler until the week's run is recorded as done (or `seconds`, scaled, pass), then stop it."""
    scheduler.start()
    try:
        deadline = time.monotonic() + scaled(seconds)
        while time.monotonic() < deadline:
            record = runs.find(engine, WEEKLY_JOB, SLOT)
            if record is not None and record.outcome == "done":
                return
            time.sleep(0.05)
    finally:
        scheduler.stop()


@pytest.mark.parametrize(
    "local_slot, week",
    [
        (datetime(2026, 3, 30, 8, 0), "2026-W13"),  # a Monday: the week that just ended
        (datetime(2026, 3, 30, 0, 30), "2026-W13"),  # just after midnight, the night after DST began
        (datetime(2026, 4, 3, 17, 0), "2026-W13"),  # a Friday: still the last complete week
        (datetime(2026, 1, 4, 8, 0), "2025-W52"),  # Sunday 4 January 2026 is in 2026-W01; the week before is 2025-W52
        (datetime(2027, 1, 4, 8, 0), "2026-W53"),  # 2026 has 53 ISO weeks
    ],
)
def test_a_slot_sends_the_last_complete_iso_week_before_it(local_slot, week):
    settings = Settings.from_env({"DIGEST_TIMEZONE": "Europe/Paris"})
    assert week_for_slot(local_slot.replace(tzinfo=PARIS), settings) == week


# --- the job ---------------------------------------------------------------------------------


def test_running_the_weekly_job_twice_for_one_week_sends_nothing_the_second_time(engine, db_url, tmp_path, sendgrid):
    add_comparisons(engine, tmp_path, [LAST_WEEK, LAST_WEEK + timedelta(days=1)])
    add_readers(engine, READERS)
    add_readers(engine, ["pending@example.com"], status="pending")
    settings = settings_for(db_url, sendgrid)

    first = run_week(engine, settings, SLOT)
    assert first.status == "done"
    assert "3 sent by this run" in first.detail and "2026-W13" in first.detail
    assert sendgrid.counts() == {address: 1 for address in READERS}

    second = run_week(engine, settings, SLOT)
    assert second.status == "done"
    assert "already sent; nothing to do" in second.detail
    assert sendgrid.counts() == {address: 1 for address in READERS}
    assert ledger_of(engine) == {address: "sent" for address in READERS}
    assert editions_of(engine) == [("2026-W13", "sent")]


def test_a_week_with_nothing_new_is_skipped_with_a_reason_and_builds_nothing(engine, db_url, tmp_path, sendgrid):
    add_comparisons(engine, tmp_path, [LAST_WEEK - timedelta(days=7)])  # the week before: not this slot's week
    add_readers(engine, READERS)
    outcome = run_week(engine, settings_for(db_url, sendgrid), SLOT)
    assert outcome.status == "skipped"
    assert outcome.detail == "no new comparisons in 2026-W13"
    assert editions_of(engine) == [] and sendgrid.requests == 0


def test_a_week_with_fewer_than_the_minimum_is_skipped_with_a_reason(engine, db_url, tmp_path, sendgrid):
    add_comparisons(engine, tmp_path, [LAST_WEEK, LAST_WEEK])
    add_readers(engine, READERS)
    outcome = run_week(engine, settings_for(db_url, sendgrid, DIGEST_MIN_ITEMS="3"), SLOT)
    assert outcome.status == "skipped"
    assert "only 2 new comparisons in 2026-W13" in outcome.detail and "DIGEST_MIN_ITEMS is 3" in outcome.detail
    assert editions_of(engine) == [] and sendgrid.requests == 0


def test_a_send_stopped_on_request_is_unfinished_and_the_next_run_completes_it(sqlite_url, tmp_path, sendgrid):
    from digest.store import open_store

    engine = open_store(sqlite_url)
    add_comparisons(engine, tmp_path, [LAST_WEEK])
    add_readers(engine, READERS)
    settings = settings_for(sqlite_url, sendgrid)
    stopped = run_week(engine, settings, SLOT, should_stop=lambda: True)
    assert stopped.status == "unfinished" and "3 readers not yet mailed" in stopped.detail
    assert sendgrid.requests == 0
    resumed = run_week(engine, settings, SLOT)
    assert resumed.status == "done" and sendgrid.counts() == {address: 1 for address in READERS}
    engine.dispose()


def test_the_scheduler_fires_the_weekly_send_at_the_configured_local_time(engine, db_url, tmp_path, sendgrid):
    add_comparisons(engine, tmp_path, [LAST_WEEK])
    add_readers(engine, READERS)
    settings = settings_for(db_url, sendgrid)
    scheduler = build_scheduler(
        engine, settings, clock=ShiftedClock(SLOT - timedelta(seconds=1.5)), confirmations=False
    )
    run_until_done(engine, scheduler)
    record = runs.find(engine, WEEKLY_JOB, SLOT)
    assert record is not None and record.outcome == "done", record
    assert record.started_at >= SLOT - timedelta(seconds=1.5)  # not a catch-up at start: the real fire
    assert sendgrid.counts() == {address: 1 for address in READERS}


# --- the operator's view ---------------------------------------------------------------------


def test_editions_list_shows_each_editions_week_status_and_ledger_counts(engine, db_url, tmp_path, sendgrid, cli_env):
    runner = CliRunner()
    empty = runner.invoke(main, ["editions", "list"])
    assert empty.exit_code == 0 and "No editions yet" in empty.output

    add_comparisons(engine, tmp_path, [LAST_WEEK])
    add_readers(engine, READERS)
    sendgrid.reject({"linus@example.com"})
    run_week(engine, settings_for(db_url, sendgrid), SLOT)
    with session_scope(engine) as session:  # a reader who leaves after the send is not counted again
        session.execute(
            sa.update(Subscriber).where(Subscriber.email == "ada@example.com").values(status="unsubscribed")
        )

    result = runner.invoke(main, ["editions", "list"])
    assert result.exit_code == 0, result.output
    header, row = result.stdout.strip().splitlines()
    assert header.split()[:7] == ["#", "week", "status", "sent", "failed", "uncertain", "skipped"]
    assert row.split()[:7] == ["1", "2026-W13", "sent", "2", "1", "0", "0"]


def test_editions_list_rejects_a_bad_limit_naming_the_option(cli_env):
    result = CliRunner().invoke(main, ["editions", "list", "--limit", "0"])
    assert result.exit_code == 2 and "--limit" in result.output and "Traceback" not in result.output


def test_status_shows_the_next_run_and_the_last_run_with_its_outcome(
    engine, db_url, tmp_path, sendgrid, cli_env, monkeypatch
):
    monkeypatch.setenv("DIGEST_TIMEZONE", "Europe/Paris")
    runner = CliRunner()
    before = runner.invoke(main, ["scheduler", "status"])
    assert before.exit_code == 0, before.output
    assert (
        "every monday at 08:00 in each reader's own time zone (Europe/Paris for readers who gave none)" in before.output
    )
    assert "Last run:     none yet" in before.output
    next_line = next(line for line in before.stdout.splitlines() if line.startswith("Next send day:"))
    assert "first wave Mon " in next_line and " 08:00 CE" in next_line  # CET or CEST, whichever the date is in

    add_comparisons(engine, tmp_path, [LAST_WEEK])
    add_readers(engine, READERS)
    scheduler = build_scheduler(
        engine, settings_for(db_url, sendgrid), clock=ShiftedClock(SLOT + timedelta(hours=2)), confirmations=False
    )
    run_until_done(engine, scheduler)  # two hours late: the catch-up sends it
    after = runner.invoke(main, ["scheduler", "status"])
    assert after.exit_code == 0, after.output
    assert "Last run:     Mon 2026-03-30 08:00 CEST (06:00 UTC): done" in after.output
    assert "edition 1 for 2026-W13: 3 sent by this run" in after.output


def test_scheduler_next_prints_k_runs_in_local_time_and_utc_for_the_same_instants(cli_env, monkeypatch):
    monkeypatch.setenv("DIGEST_TIMEZONE", "America/New_York")
    monkeypatch.setenv("DIGEST_SEND_DAY", "sunday")
    monkeypatch.setenv("DIGEST_SEND_TIME", "09:30")
    result = CliRunner().invoke(main, ["scheduler", "next", "-n", "30"])  # 30 weeks: at least one DST change
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()[1:]
    assert len(lines) == 30
    offsets = set()
    for line in lines:
        parts = line.split()  # Sun 2026-03-08 09:30 EDT   2026-03-08 13:30 UTC   edition of 2026-W10
        local = datetime.strptime(f"{parts[1]} {parts[2]}", "%Y-%m-%d %H:%M").replace(
            tzinfo=ZoneInfo("America/New_York")
        )
        utc = datetime.strptime(f"{parts[4]} {parts[5]}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        assert parts[0] == "Sun" and local.time() == clock_time(9, 30)
        assert local == utc, line
        offsets.add(local.utcoffset())
    assert offsets == {timedelta(hours=-4), timedelta(hours=-5)}


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["scheduler", "next", "-n", "0"], {}, "-n"),
        (["scheduler", "next", "-n", "many"], {}, "-n"),
        (["scheduler", "next"], {"DIGEST_SEND_DAY": "funday"}, "DIGEST_SEND_DAY must be a weekday name"),
        (["scheduler", "next"], {"DIGEST_SEND_TIME": "25:00"}, "DIGEST_SEND_TIME must be a time of day"),
        (["scheduler", "next"], {"DIGEST_TIMEZONE": "Mars/Olympus"}, "DIGEST_TIMEZONE must be an IANA time zone"),
        (["status"], {"DIGEST_CATCH_UP": "soon"}, "DIGEST_CATCH_UP must be a duration"),
        (["scheduler", "run", "--lease-ttl", "1"], {}, "--lease-ttl"),
    ],
)
def test_bad_schedule_input_is_named_without_a_traceback(cli_env, monkeypatch, args, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output
