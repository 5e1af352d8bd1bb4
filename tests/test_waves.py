"""The weekly send in waves: each reader at the send time in their own time zone, with the real scheduler.

The send day is Sunday 29 March 2026, 08:00: the day Europe's clocks go forward (01:00 UTC), three
weeks after America's did. Readers in Pacific/Kiritimati (UTC+14), Asia/Tokyo, Europe/Paris,
America/Los_Angeles and with no zone (the newsletter's, Europe/London) make five waves:

    Sat 18:00 UTC  Kiritimati     Sat 23:00 UTC  Tokyo     Sun 06:00 UTC  Paris (CEST, after the change)
    Sun 07:00 UTC  London (BST)   Sun 15:00 UTC  Los Angeles (PDT)

Each wave runs on the real APScheduler under a shifted clock (schedules.clock.ShiftedClock) started
just before it; the SendGrid-compatible server records when each request arrived, read back on that
clock. A scheduler that stops between waves and starts again, one that was down through a wave, and
two running side by side are in here too; so are `digest scheduler run --once` and `status` on the
real clock.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from helpers import add_reader, fire_wave, ledger, mails_of, set_preferences, topical, wait_until
from sendgrid_server import SendGridServer

from digest.cli import main
from digest.jobs import WEEKLY_JOB, build_scheduler, waves_of
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import utcnow
from schedules import ShiftedClock, WaveSchedule, runs
from schedules.weekly import WEEKDAYS
from subscribers import service
from subscribers.validation import Preferences

UTC = UTC
SUNDAY = datetime(2026, 3, 29).date()
ZONES = {
    "kiritimati@example.com": "Pacific/Kiritimati",
    "tokyo@example.com": "Asia/Tokyo",
    "paris@example.com": "Europe/Paris",
    "nozone@example.com": None,
    "la@example.com": "America/Los_Angeles",
    "la-leaver@example.com": "America/Los_Angeles",
}
WAVES = [  # (slot, the readers it mails)
    (datetime(2026, 3, 28, 18, 0, tzinfo=UTC), {"kiritimati@example.com"}),
    (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), {"tokyo@example.com"}),
    (datetime(2026, 3, 29, 6, 0, tzinfo=UTC), {"paris@example.com"}),
    (datetime(2026, 3, 29, 7, 0, tzinfo=UTC), {"nozone@example.com"}),
    (datetime(2026, 3, 29, 15, 0, tzinfo=UTC), {"la@example.com"}),
]
VOICE, EVALS = "Murmurcast vs Tidewell", "Relaybench vs Lanternops"


# --- the pure schedule --------------------------------------------------------------------------------


def test_the_waves_of_a_send_day_keep_eight_oclock_in_each_zone_across_the_dst_change():
    schedule = WaveSchedule(WEEKDAYS.index("sunday"), clock_time(8, 0))
    zones = [
        "Pacific/Kiritimati",
        "Asia/Tokyo",
        "Europe/Paris",
        "Europe/London",
        "America/Los_Angeles",
        "Europe/Berlin",
    ]
    waves = schedule.cycle(zones, SUNDAY)
    assert [w.slot for w in waves] == [slot for slot, _ in WAVES]
    assert waves[2].zones == ("Europe/Berlin", "Europe/Paris")  # the same moment: one wave
    for wave in waves:
        for zone in wave.zones:
            local = wave.slot.astimezone(ZoneInfo(zone))
            assert (local.date(), local.time()) == (SUNDAY, clock_time(8, 0))
    # A week earlier Paris was still on CET: its 08:00 was an hour later in UTC.
    assert schedule.cycle(["Europe/Paris"], SUNDAY - timedelta(days=7))[0].slot.hour == 7
    assert schedule.zones_at(zones, waves[2].slot) == ("Europe/Berlin", "Europe/Paris")
    assert schedule.current_day(zones, waves[0].slot - timedelta(minutes=1)) == SUNDAY - timedelta(days=7)
    assert schedule.current_day(zones, waves[0].slot) == SUNDAY
    assert schedule.next_wave(zones, waves[1].slot).slot == waves[2].slot


# --- the real scheduler ---------------------------------------------------------------------------------


@pytest.fixture
def sendgrid():
    with SendGridServer(api_key="k") as server:
        yield server


def settings_for(db_url, server, **extra) -> Settings:
    return Settings.from_env(
        {
            "DIGEST_DATABASE_URL": db_url,
            "DIGEST_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": "k",
            "SENDGRID_API_URL": server.url,
            "DIGEST_TIMEZONE": "Europe/London",
            "DIGEST_SEND_DAY": "sunday",
            "DIGEST_SEND_TIME": "08:00",
            **extra,
        }
    )


def seed(engine) -> dict[str, int]:
    """The week before the send day (2026-W12): a Voice and an Evaluation comparison; the readers."""
    with session_scope(engine) as session:
        topical(session, "murmurcast-vs-tidewell", "2026-03-18 09:00", ("Voice", "Voice"), VOICE)
        topical(session, "relaybench-vs-lanternops", "2026-03-19 09:00", ("Evaluation", "Evaluation"), EVALS)
    ids = {}
    for address, zone in ZONES.items():
        ids[address], _ = add_reader(engine, address)
        set_preferences(engine, [ids[address]], timezone=zone)
    return ids


def arrivals(server, clock, since: int) -> dict[str, datetime]:
    """address -> when its request arrived, read on `clock`, for the requests after the first `since`."""
    found = {}
    for accepted, arrived in list(zip(server.accepted, server.arrivals))[since:]:
        moment = clock.from_machine(datetime.fromtimestamp(arrived, UTC))
        for person in accepted.body["personalizations"]:
            found[person["to"][0]["email"]] = moment
    return found


def change_topics(engine, address: str, topics: tuple[str, ...]) -> None:
    with session_scope(engine) as session:
        token = service.by_email(session, address).token
        service.change_preferences(
            session, token, Preferences(topics=topics, timezone=service.by_email(session, address).timezone), utcnow()
        )


def test_each_reader_is_mailed_once_at_eight_in_their_own_zone_wave_by_wave(engine, db_url, sendgrid):
    seed(engine)
    settings = settings_for(db_url, sendgrid)
    mailed: set[str] = set()
    for index, (slot, readers) in enumerate(WAVES):
        if index == 1:
            # After the first wave froze the edition: a late comparison (dated last week) waits for the next
            # edition, Paris narrows its topics, and one Los Angeles reader leaves.
            with session_scope(engine) as session:
                topical(session, "late-vs-later", "2026-03-20 09:00", ("Voice", "Voice"), "Late vs Later")
            change_topics(engine, "paris@example.com", ("Evaluation",))
            with session_scope(engine) as session:
                service.unsubscribe(session, service.by_email(session, "la-leaver@example.com").token, utcnow())
        before = len(sendgrid.accepted)
        clock = fire_wave(engine, settings, slot)
        arrived = arrivals(sendgrid, clock, before)
        assert set(arrived) == readers, f"wave {slot}"
        for address, moment in arrived.items():  # at their local 08:00, not an hour off
            assert slot <= moment < slot + timedelta(seconds=20), (address, moment)
            local = slot.astimezone(ZoneInfo(ZONES[address] or "Europe/London"))
            assert (local.date(), local.time()) == (SUNDAY, clock_time(8, 0))
        record = runs.find(engine, WEEKLY_JOB, slot)
        assert record.outcome == "done" and record.attempts == 1, record
        mailed |= readers

    counts = Counter(address for address, _ in sendgrid.recipients())
    assert counts == {address: 1 for address in mailed}  # each once
    mails = mails_of(sendgrid)
    assert mails["paris@example.com"][0].subject == EVALS  # the topics they had when their wave came
    assert mails["tokyo@example.com"][0].subject == f"{EVALS}, and 1 more"  # frozen: no late comparison
    assert all("Late vs Later" not in m[0].text for m in mails.values())
    states = ledger(engine, 1)
    assert Counter(states.values()) == {"sent": 5, "skipped": 1}  # the leaver: skipped, not mailed
    with engine.connect() as connection:
        status = connection.exec_driver_sql("SELECT status FROM edition WHERE number = 1").scalar()
    assert status == "sent"  # once the last wave was done


def test_after_each_wave_the_scheduler_waits_for_the_next_zones_time(engine, db_url, sendgrid):
    seed(engine)
    settings = settings_for(db_url, sendgrid)
    scheduler = build_scheduler(
        engine,
        settings,
        clock=ShiftedClock(WAVES[0][0] - timedelta(seconds=1.5)),
        confirmations=False,
        recheck=timedelta(hours=12),
    )  # zones asked again rarely
    scheduler.start()
    try:
        wait_until(
            lambda: (r := runs.find(engine, WEEKLY_JOB, WAVES[0][0])) is not None and r.outcome == "done",
            30,
            "the first wave",
        )
        assert scheduler.next_fire(WEEKLY_JOB) == scheduler.next_slot(WEEKLY_JOB) == WAVES[1][0]  # Tokyo, 5 h on
    finally:
        scheduler.stop()
    assert set(mails_of(sendgrid)) == {"kiritimati@example.com"}


def test_a_scheduler_down_through_a_wave_catches_it_up_once_and_a_too_old_one_is_missed(engine, db_url, sendgrid):
    seed(engine)
    settings = settings_for(db_url, sendgrid, DIGEST_CATCH_UP="3h")
    fire_wave(engine, settings, WAVES[0][0])  # Kiritimati on time
    # Down from then until 08:30 UTC on Sunday: Tokyo's wave (9.5 h ago) is past the 3 h window,
    # Paris's and London's (2.5 h and 1.5 h ago) are caught up, once each, in order.
    start = datetime(2026, 3, 29, 8, 30, tzinfo=UTC)
    before = len(sendgrid.accepted)
    clock = fire_wave(engine, settings, WAVES[3][0], start=start)
    arrived = arrivals(sendgrid, clock, before)
    assert set(arrived) == {"paris@example.com", "nozone@example.com"}
    assert arrived["paris@example.com"] <= arrived["nozone@example.com"]
    assert runs.find(engine, WEEKLY_JOB, WAVES[1][0]).outcome == "missed"
    assert [runs.find(engine, WEEKLY_JOB, slot).outcome for slot, _ in WAVES[2:4]] == ["done", "done"]
    again = fire_wave(engine, settings, WAVES[3][0], start=start + timedelta(minutes=5))  # restarted once more
    assert arrivals(sendgrid, again, before + 2) == {}
    assert [runs.find(engine, WEEKLY_JOB, slot).attempts for slot, _ in WAVES[2:4]] == [1, 1]
    assert "tokyo@example.com" not in mails_of(sendgrid)


def test_two_schedulers_side_by_side_mail_each_reader_of_a_wave_once(engine, db_url, sendgrid):
    seed(engine)
    sendgrid.delay = 0.3  # a slow provider: the second instance surely finds the wave under way
    settings = settings_for(db_url, sendgrid)
    for slot, _ in WAVES[:3]:
        fire_wave(engine, settings, slot, schedulers=2)
    assert sendgrid.counts() == {"kiritimati@example.com": 1, "tokyo@example.com": 1, "paris@example.com": 1}
    assert [runs.find(engine, WEEKLY_JOB, slot).attempts for slot, _ in WAVES[:3]] == [1, 1, 1]


def test_an_edition_paused_by_its_complaint_rate_holds_the_later_waves(engine, db_url, sendgrid):
    seed(engine)
    settings = settings_for(db_url, sendgrid)
    fire_wave(engine, settings, WAVES[0][0])
    with engine.begin() as connection:  # as the brake leaves it
        connection.exec_driver_sql("UPDATE edition SET status = 'paused' WHERE number = 1")
    fire_wave(engine, settings, WAVES[1][0])
    record = runs.find(engine, WEEKLY_JOB, WAVES[1][0])
    assert record.outcome == "paused" and "digest editions send --edition 1" in record.detail
    assert set(mails_of(sendgrid)) == {"kiritimati@example.com"}


# --- `digest scheduler run --once` and `status`, on the real clock -------------------------------------


def test_run_once_does_what_is_due_and_status_lists_the_waves(cli_env, engine, sendgrid, monkeypatch):
    slot = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    env = {
        "DIGEST_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": "k",
        "SENDGRID_API_URL": sendgrid.url,
        "DIGEST_TIMEZONE": "UTC",
        "DIGEST_SEND_DAY": WEEKDAYS[slot.weekday()],
        "DIGEST_SEND_TIME": slot.strftime("%H:%M"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with session_scope(engine) as session:
        topical(session, "murmurcast-vs-tidewell", slot - timedelta(days=7), ("Voice", "Voice"), VOICE)
    for address, zone in (
        ("utc@example.com", None),
        ("tokyo@example.com", "Asia/Tokyo"),
        ("honolulu@example.com", "Pacific/Honolulu"),
    ):
        reader, _ = add_reader(engine, address)
        set_preferences(engine, [reader], timezone=zone)
    runner = CliRunner()

    first = runner.invoke(main, ["scheduler", "run", "--once"])
    assert first.exit_code == 0, first.output
    # UTC's wave is due now; Tokyo's came nine hours ago (within DIGEST_CATCH_UP); Honolulu's is ahead.
    assert sendgrid.counts() == {"utc@example.com": 1, "tokyo@example.com": 1}
    again = runner.invoke(main, ["scheduler", "run", "--once"])
    assert again.exit_code == 0 and sendgrid.counts() == {"utc@example.com": 1, "tokyo@example.com": 1}

    status = runner.invoke(main, ["scheduler", "status"])
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    assert any(line.startswith("Send day:") and "3 waves, 2 done, 1 waiting" in line for line in lines), status.output
    honolulu = next(line for line in lines if "Pacific/Honolulu" in line)
    assert "waiting, in 10.0 h" in honolulu and "1 reader" in honolulu
    assert "done: edition 1" in next(line for line in lines if "Asia/Tokyo" in line)
    assert "UTC (and readers with no zone)" in status.output
    assert waves_of(Settings.from_env()).describe() in lines[0]
