"""Missed waves (issue 24, item 11): an edition is sent to every wave's readers, or left for the editor.

The send day is Sunday 29 March 2026, 08:00, as in test_waves.py: five waves from Kiritimati (Sat 18:00
UTC) to Los Angeles (Sun 15:00 UTC). A scheduler that first starts after some waves are older than
DIGEST_CATCH_UP records them missed and never begins a send that could reach only the later zones; one
whose send had begun sends the waves still within the window but never marks the edition sent: it is
paused for the editor, and `digest editions send` mails the rest, each reader once. `digest scheduler
status` shows such waves as missed, never "due now".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from helpers import add_reader, edition_status, fire_wave, ledger, mails_of, set_preferences, topical
from sendgrid_server import SendGridServer

from digest.cli import main
from digest.delivery import send_edition
from digest.jobs import WEEKLY_JOB
from digest.settings import Settings
from digest.store import session_scope
from schedules import runs
from schedules.weekly import WEEKDAYS

ZONES = {
    "kiritimati@example.com": "Pacific/Kiritimati",
    "tokyo@example.com": "Asia/Tokyo",
    "paris@example.com": "Europe/Paris",
    "nozone@example.com": None,
    "la@example.com": "America/Los_Angeles",
}
WAVES = [
    datetime(2026, 3, 28, 18, 0, tzinfo=UTC),  # Kiritimati
    datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # Tokyo
    datetime(2026, 3, 29, 6, 0, tzinfo=UTC),  # Paris
    datetime(2026, 3, 29, 7, 0, tzinfo=UTC),  # London: readers with no zone
    datetime(2026, 3, 29, 15, 0, tzinfo=UTC),  # Los Angeles
]
MONDAY_MORNING = datetime(2026, 3, 30, 10, 0, tzinfo=UTC)  # only Los Angeles's wave is under 24 h old


@pytest.fixture
def sendgrid():
    with SendGridServer(api_key="k") as server:
        yield server


def settings_for(db_url, server) -> Settings:
    return Settings.from_env(
        {
            "DIGEST_DATABASE_URL": db_url,
            "DIGEST_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": "k",
            "SENDGRID_API_URL": server.url,
            "DIGEST_TIMEZONE": "Europe/London",
            "DIGEST_SEND_DAY": "sunday",
            "DIGEST_SEND_TIME": "08:00",
            "DIGEST_CATCH_UP": "24h",
        }
    )


def seed(engine) -> None:
    with session_scope(engine) as session:
        topical(session, "murmurcast-vs-tidewell", "2026-03-18 09:00", ("Voice", "Voice"), "Murmurcast vs Tidewell")
    for address, zone in ZONES.items():
        reader, _ = add_reader(engine, address)
        set_preferences(engine, [reader], timezone=zone)


def outcomes(engine) -> list[str]:
    return [runs.find(engine, WEEKLY_JOB, slot).outcome for slot in WAVES]


def test_a_fresh_scheduler_mid_week_records_the_old_waves_missed_and_begins_no_partial_send(engine, db_url, sendgrid):
    seed(engine)
    settings = settings_for(db_url, sendgrid)
    fire_wave(engine, settings, WAVES[4], start=MONDAY_MORNING)
    assert sendgrid.accepted == []  # not Los Angeles alone: nobody
    assert outcomes(engine) == ["missed"] * 4 + ["paused"]
    held = runs.find(engine, WEEKLY_JOB, WAVES[4]).detail
    assert "left for the editor" in held and "digest editions send --edition 1" in held, held
    assert "Sat 18:00 UTC (Pacific/Kiritimati)" in held and "Sun 07:00 UTC (Europe/London)" in held, held
    assert edition_status(engine, 1) == "draft"  # built for the editor to look at, never marked sent
    assert ledger(engine, 1) == {}


def test_a_send_begun_on_time_goes_on_within_the_window_and_is_paused_for_the_editor(engine, db_url, sendgrid):
    seed(engine)
    settings = settings_for(db_url, sendgrid)
    fire_wave(engine, settings, WAVES[0])  # Kiritimati on time: the send has begun
    fire_wave(engine, settings, WAVES[4], start=MONDAY_MORNING)  # down until Monday morning
    assert set(mails_of(sendgrid)) == {"kiritimati@example.com", "la@example.com"}
    assert outcomes(engine) == ["done", "missed", "missed", "missed", "done"]
    last = runs.find(engine, WEEKLY_JOB, WAVES[4]).detail
    assert "paused for the editor, not marked sent" in last and "digest editions send --edition 1" in last, last
    assert edition_status(engine, 1) == "paused"

    # The editor sends the rest: the missed zones' readers, each once, and the edition is sent.
    summary = send_edition(engine, settings, 1)
    assert summary.status == "sent"
    assert sendgrid.counts() == {address: 1 for address in ZONES}
    assert edition_status(engine, 1) == "sent"


def test_a_missed_last_wave_pauses_a_begun_edition_instead_of_leaving_it_sending(engine, db_url, sendgrid):
    seed(engine)
    settings = settings_for(db_url, sendgrid)
    for slot in WAVES[:4]:
        fire_wave(engine, settings, slot)
    assert edition_status(engine, 1) == "sending"
    fire_wave(engine, settings, WAVES[4], start=WAVES[4] + timedelta(hours=25))
    record = runs.find(engine, WEEKLY_JOB, WAVES[4])
    assert record.outcome == "missed", record
    assert "missed by 25.0 h" in record.detail and "paused for the editor" in record.detail, record.detail
    assert edition_status(engine, 1) == "paused"
    assert "la@example.com" not in mails_of(sendgrid)


def test_status_shows_waves_past_the_window_as_missed_never_due_now(cli_env, engine, sendgrid, monkeypatch):
    """On the real clock: the send day's UTC slot was 30 hours ago, so Tokyo's (39 h) and UTC's waves are
    past the 24 h window and Honolulu's (20 h ago) is within it."""
    slot = (datetime.now(UTC) - timedelta(hours=30)).replace(second=0, microsecond=0)
    env = {
        "DIGEST_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": "k",
        "SENDGRID_API_URL": sendgrid.url,
        "DIGEST_TIMEZONE": "UTC",
        "DIGEST_SEND_DAY": WEEKDAYS[slot.weekday()],
        "DIGEST_SEND_TIME": slot.strftime("%H:%M"),
        "DIGEST_CATCH_UP": "24h",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with session_scope(engine) as session:
        topical(session, "murmurcast-vs-tidewell", slot - timedelta(days=7), ("Voice", "Voice"), "M vs T")
    for address, zone in (
        ("utc@example.com", None),
        ("tokyo@example.com", "Asia/Tokyo"),
        ("hnl@x.org", "Pacific/Honolulu"),
    ):
        reader, _ = add_reader(engine, address)
        set_preferences(engine, [reader], timezone=zone)
    runner = CliRunner()

    def wave_lines() -> dict[str, str]:
        result = runner.invoke(main, ["scheduler", "status"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        found = {zone: next(line for line in lines if zone in line) for zone in ("Asia/Tokyo", "UTC (and", "Honolulu")}
        found["send day"] = next(line for line in lines if line.startswith("Send day:"))
        return found

    before = wave_lines()  # before any scheduler looked
    assert "due now" not in before["Asia/Tokyo"] and "due now" not in before["UTC (and"], before
    assert "missed: 39.0 h ago, more than DIGEST_CATCH_UP (24 h)" in before["Asia/Tokyo"], before
    assert "missed: 30.0 h ago" in before["UTC (and"], before
    assert before["Honolulu"].endswith("due now"), before
    assert "3 waves, 0 done, 0 waiting, 2 missed" in before["send day"], before

    ran = runner.invoke(main, ["scheduler", "run", "--once"])
    assert ran.exit_code == 0, ran.output
    assert sendgrid.accepted == []  # Honolulu alone would be a partial send: left for the editor
    after = wave_lines()
    assert "missed: missed by 39.0 h" in after["Asia/Tokyo"], after
    assert "paused: edition 1" in after["Honolulu"] and "left for the editor" in after["Honolulu"], after
    assert "2 missed" in after["send day"] and "(edition 1, draft)" in after["send day"], after
