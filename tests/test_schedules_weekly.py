"""The weekly arithmetic and the catch-up rule, as pure functions."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from schedules import Decision, ScheduleError, WeeklySchedule, decide

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
UTC = UTC


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_the_monday_slot_keeps_its_local_time_when_paris_springs_forward():
    schedule = WeeklySchedule.named("monday", time(8, 0), PARIS)
    first, second = schedule.upcoming(utc(2026, 3, 20), 2)
    assert first == utc(2026, 3, 23, 7, 0)  # CET, UTC+1
    assert second == utc(2026, 3, 30, 6, 0)  # CEST, UTC+2: 167 hours later
    assert [slot.astimezone(PARIS).time() for slot in (first, second)] == [time(8, 0), time(8, 0)]


def test_the_monday_slot_keeps_its_local_time_when_paris_falls_back():
    schedule = WeeklySchedule.named("Monday", time(8, 0), PARIS)
    assert schedule.upcoming(utc(2026, 10, 15), 2) == [utc(2026, 10, 19, 6, 0), utc(2026, 10, 26, 7, 0)]


def test_new_york_changes_on_its_own_date():
    schedule = WeeklySchedule.named("sunday", time(9, 30), NEW_YORK)
    assert schedule.upcoming(utc(2026, 3, 1, 12), 2) == [utc(2026, 3, 1, 14, 30), utc(2026, 3, 8, 13, 30)]


def test_a_time_in_the_spring_forward_gap_runs_once_after_the_jump():
    schedule = WeeklySchedule.named("sunday", time(2, 30), PARIS)
    slots = schedule.upcoming(utc(2026, 3, 20), 3)
    assert slots == [utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 30)]
    assert slots[1].astimezone(PARIS).time() == time(3, 30)  # 02:30 does not exist that night


def test_a_time_that_happens_twice_runs_at_the_first():
    schedule = WeeklySchedule.named("sunday", time(2, 30), PARIS)
    assert schedule.upcoming(utc(2026, 10, 20), 2) == [utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)]


def test_every_slot_is_on_the_weekday_and_a_week_apart_in_local_dates():
    schedule = WeeklySchedule.named("thursday", time(23, 45), ZoneInfo("Australia/Sydney"))
    slots = schedule.upcoming(utc(2026, 1, 1), 60)
    local = [slot.astimezone(schedule.zone) for slot in slots]
    assert all(moment.weekday() == 3 and moment.time() == time(23, 45) for moment in local)
    assert all((b.date() - a.date()).days == 7 for a, b in zip(local, local[1:]))


def test_next_is_strictly_after_and_latest_is_at_or_before():
    schedule = WeeklySchedule.named("monday", time(8, 0), PARIS)
    slot = utc(2026, 3, 30, 6, 0)
    assert schedule.latest_at_or_before(slot) == slot
    assert schedule.latest_at_or_before(slot - timedelta(microseconds=1)) == utc(2026, 3, 23, 7, 0)
    assert schedule.next_after(slot) == utc(2026, 4, 6, 6, 0)
    assert schedule.next_after(slot - timedelta(microseconds=1)) == slot


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: WeeklySchedule.named("mon", time(8), PARIS), "weekday name"),
        (lambda: WeeklySchedule(7, time(8), PARIS), r"0 \(Monday\) to 6"),
        (lambda: WeeklySchedule.named("monday", time(8), PARIS).next_after(datetime(2026, 1, 1)), "naive"),
        (lambda: WeeklySchedule.named("monday", time(8), PARIS).upcoming(utc(2026, 1, 1), 0), "at least 1"),
    ],
)
def test_malformed_schedules_say_what_is_wrong(make, message):
    with pytest.raises(ScheduleError, match=message):
        make()


SLOT = utc(2026, 3, 30, 6, 0)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    "now, outcome, expected",
    [
        (SLOT + timedelta(minutes=1), None, Decision.RUN),
        (SLOT + timedelta(hours=23), None, Decision.RUN),
        (SLOT + timedelta(hours=25), None, Decision.TOO_LATE),
        (SLOT + timedelta(hours=1), "failed", Decision.RUN),
        (SLOT + timedelta(hours=25), "failed", Decision.TOO_LATE),
        (SLOT + timedelta(hours=1), "running", Decision.RESUME),
        (SLOT + timedelta(days=3), "running", Decision.RESUME),
        (SLOT + timedelta(minutes=1), "done", Decision.SETTLED),
        (SLOT + timedelta(minutes=1), "skipped", Decision.SETTLED),
        (SLOT + timedelta(days=3), "missed", Decision.SETTLED),
        (SLOT + timedelta(hours=1), "paused", Decision.SETTLED),
        (SLOT - timedelta(seconds=1), None, Decision.NOT_YET),
    ],
)
def test_the_catch_up_rule(now, outcome, expected):
    assert decide(SLOT, now, outcome, DAY) is expected


def test_the_catch_up_rule_rejects_an_unknown_outcome():
    with pytest.raises(ScheduleError, match="unknown run outcome 'sent'"):
        decide(SLOT, SLOT, "sent", DAY)
