"""The real APScheduler, on a shifted clock: weekly slots fire on time across DST, catch-up, leases."""

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest
from helpers import pause, scaled

from digest.store import open_store
from schedules import Outcome, Scheduler, ShiftedClock, WeeklySchedule, runs

PARIS = ZoneInfo("Europe/Paris")
MONDAY_8 = WeeklySchedule.named("monday", clock_time(8, 0), PARIS)
DAY = timedelta(hours=24)


def paris(*args):
    return datetime(*args, tzinfo=PARIS)


def wait_for(condition, timeout=6.0):
    """Whether `condition` came to hold within `timeout` seconds (scaled by DIGEST_TEST_WAIT_SCALE)."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Recorder:
    """A weekly job that remembers each run: the slot it was for and the clock when it ran."""

    def __init__(self, outcome=None, pause=0.0):
        self.calls, self.outcome, self.pause = [], outcome, pause
        self.lock = threading.Lock()

    def __call__(self, context):
        with self.lock:
            self.calls.append((context.slot, context.now(), context.resumed))
        time.sleep(self.pause)
        return self.outcome


def started(engine, clock, job, catch_up=DAY, **options):
    scheduler = Scheduler(engine, clock=clock, **options)
    scheduler.weekly("weekly", MONDAY_8, job, catch_up=catch_up)
    scheduler.start()
    return scheduler


@pytest.mark.parametrize(
    "start, slot, following",
    [
        # The Monday before Paris springs forward, and the Monday after.
        (paris(2026, 3, 23, 7, 59, 58, 500000), "2026-03-23T07:00:00+00:00", "2026-03-30T06:00:00+00:00"),
        (paris(2026, 3, 30, 7, 59, 58, 500000), "2026-03-30T06:00:00+00:00", "2026-04-06T06:00:00+00:00"),
        # The Monday before Paris falls back.
        (paris(2026, 10, 19, 7, 59, 58, 500000), "2026-10-19T06:00:00+00:00", "2026-10-26T07:00:00+00:00"),
    ],
    ids=["before-spring-forward", "after-spring-forward", "before-fall-back"],
)
def test_the_weekly_job_fires_at_eight_local_time_across_a_dst_change(sqlite_url, start, slot, following):
    engine = open_store(sqlite_url)
    job = Recorder()
    scheduler = started(engine, ShiftedClock(start), job)
    try:
        assert wait_for(lambda: job.calls)
        assert wait_for(lambda: runs.find(engine, "weekly", job.calls[0][0]).outcome == "done")
        ((fired_for, fired_at, _),) = job.calls
        assert fired_for.isoformat() == slot
        assert fired_for.astimezone(PARIS).time() == clock_time(8, 0)
        assert fired_for <= fired_at < fired_for + timedelta(seconds=1)  # on time, not an hour off
        assert scheduler.next_fire("weekly").isoformat() == following
    finally:
        scheduler.stop()
        engine.dispose()


def test_a_run_missed_while_down_catches_up_once_on_start(engine):
    job = Recorder()
    slot = paris(2026, 3, 30, 8, 0).astimezone(UTC)
    first = started(engine, ShiftedClock(paris(2026, 3, 30, 10, 0)), job)  # two hours late
    try:
        assert wait_for(
            lambda: (
                runs.find(engine, "weekly", slot) is not None and runs.find(engine, "weekly", slot).outcome == "done"
            )
        )
    finally:
        first.stop()
    assert [call[0] for call in job.calls] == [slot]

    second = started(engine, ShiftedClock(paris(2026, 3, 30, 10, 5)), job)  # restarted again, same week
    try:
        pause(1.0)  # time to (wrongly) run it again
    finally:
        second.stop()
    assert [call[0] for call in job.calls] == [slot]  # not twice
    assert runs.find(engine, "weekly", slot).attempts == 1


def test_a_miss_older_than_the_catch_up_window_is_logged_and_not_run(engine, caplog):
    job = Recorder()
    slot = paris(2026, 3, 30, 8, 0).astimezone(UTC)
    caplog.set_level(logging.INFO, logger="schedules")
    scheduler = started(engine, ShiftedClock(paris(2026, 3, 31, 9, 0)), job)  # 25 hours late
    try:
        assert wait_for(lambda: runs.find(engine, "weekly", slot) is not None)
        pause(0.3)
    finally:
        scheduler.stop()
    assert job.calls == []
    record = runs.find(engine, "weekly", slot)
    assert record.outcome == "missed"
    assert "missed by 25.0 h" in record.detail and "24.0 h" in record.detail
    assert any("missed by 25.0 h" in message for message in caplog.messages)


def test_a_run_stopped_midway_is_resumed_by_the_next_start_even_past_the_window(sqlite_url):
    engine = open_store(sqlite_url)
    slot = paris(2026, 3, 30, 8, 0).astimezone(UTC)
    stopped = Recorder(outcome=Outcome.unfinished("stopped after 3 of 10 readers"))
    first = started(engine, ShiftedClock(paris(2026, 3, 30, 9, 0)), stopped)
    try:
        assert wait_for(lambda: stopped.calls and runs.find(engine, "weekly", slot).detail is not None)
    finally:
        first.stop()
    assert runs.find(engine, "weekly", slot).outcome == "running"

    finishing = Recorder(outcome=Outcome.done("7 sent"))
    second = started(engine, ShiftedClock(paris(2026, 4, 1, 9, 0)), finishing)  # two days later
    try:
        assert wait_for(lambda: runs.find(engine, "weekly", slot).outcome == "done")
    finally:
        second.stop()
    assert finishing.calls[0][0] == slot and finishing.calls[0][2] is True  # resumed
    assert runs.find(engine, "weekly", slot).attempts == 2
    engine.dispose()


def test_a_failing_job_is_recorded_and_the_scheduler_keeps_going(sqlite_url, caplog):
    engine = open_store(sqlite_url)

    def broken(context):
        raise RuntimeError("SendGrid said no")

    slot = paris(2026, 3, 30, 8, 0).astimezone(UTC)
    scheduler = started(engine, ShiftedClock(paris(2026, 3, 30, 9, 0)), broken)
    try:
        assert wait_for(
            lambda: (
                runs.find(engine, "weekly", slot) is not None and runs.find(engine, "weekly", slot).outcome == "failed"
            )
        )
        assert scheduler.running
    finally:
        scheduler.stop()
    assert runs.find(engine, "weekly", slot).detail == "RuntimeError: SendGrid said no"
    engine.dispose()


def test_two_schedulers_due_at_the_same_moment_run_the_slot_once(engine, db_url):
    other_engine = open_store(db_url)
    job = Recorder(pause=0.5)  # long enough that the second instance finds the lease taken
    start = paris(2026, 3, 30, 7, 59, 59)
    one = started(engine, ShiftedClock(start), job, lease_ttl=timedelta(seconds=1))
    two = started(other_engine, ShiftedClock(start), job, lease_ttl=timedelta(seconds=1))
    slot = paris(2026, 3, 30, 8, 0).astimezone(UTC)
    try:
        assert wait_for(
            lambda: (
                runs.find(engine, "weekly", slot) is not None and runs.find(engine, "weekly", slot).outcome == "done"
            )
        )
        pause(2.0)  # past the lease's expiry: the other instance looks again and finds it settled
    finally:
        one.stop()
        two.stop()
        other_engine.dispose()
    assert [call[0] for call in job.calls] == [slot]


def test_an_interval_chore_runs_on_one_instance_at_a_time(engine, db_url):
    other_engine = open_store(db_url)
    active, overlaps, beats = [0], [], []
    lock = threading.Lock()

    def chore(context):
        with lock:
            active[0] += 1
            overlaps.append(active[0])
            beats.append(context.holder)
        time.sleep(0.4)
        with lock:
            active[0] -= 1

    schedulers = []
    for each in (engine, other_engine):
        scheduler = Scheduler(each, lease_ttl=timedelta(seconds=5))
        scheduler.every("confirmations", timedelta(seconds=1), chore)
        scheduler.start()
        schedulers.append(scheduler)
    try:
        pause(2.5)  # a few beats of the chore
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        other_engine.dispose()
    assert beats, "the chore never ran"
    assert max(overlaps) == 1


def test_overlapping_looks_at_one_slot_within_one_process_run_it_once(sqlite_url):
    engine = open_store(sqlite_url)
    job = Recorder(pause=0.3)
    scheduler = Scheduler(engine, clock=ShiftedClock(paris(2026, 3, 30, 9, 0)))
    scheduler.weekly("weekly", MONDAY_8, job, catch_up=DAY)
    slot = paris(2026, 3, 30, 8, 0).astimezone(UTC)
    results = []
    threads = [threading.Thread(target=lambda: results.append(scheduler.run_slot("weekly", slot))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(job.calls) == 1
    assert sorted(r.decision for r in results) == ["run", "settled", "settled"]
    engine.dispose()


def test_a_holder_that_lost_its_lease_mid_run_stops_and_leaves_the_record_to_the_new_holder(sqlite_url):
    from schedules import leases

    engine = open_store(sqlite_url)
    slot = paris(2026, 3, 30, 8, 0).astimezone(UTC)
    taken_over = threading.Event()

    def long_send(context):
        taken_over.wait(scaled(5))
        deadline = time.monotonic() + scaled(5)
        while not context.should_stop() and time.monotonic() < deadline:
            time.sleep(0.05)
        return Outcome.unfinished("stopped: lost the lease")

    scheduler = Scheduler(engine, clock=ShiftedClock(paris(2026, 3, 30, 9, 0)), lease_ttl=timedelta(seconds=1))
    scheduler.weekly("weekly", MONDAY_8, long_send, catch_up=DAY)
    results = []
    worker = threading.Thread(target=lambda: results.append(scheduler.run_slot("weekly", slot)))
    worker.start()
    assert wait_for(lambda: runs.find(engine, "weekly", slot) is not None)
    # Another instance, whose clock says our lease ran out, takes over and finishes the week.
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert leases.acquire(engine, "weekly", "other-instance", timedelta(seconds=60), later)
    runs.write(engine, "weekly", slot, "done", detail="finished by the other instance", holder="other-instance")
    taken_over.set()
    worker.join(scaled(10))
    assert results[0].decision == "lost"
    record = runs.find(engine, "weekly", slot)
    assert (record.outcome, record.holder) == ("done", "other-instance")
    engine.dispose()
