"""Two `digest scheduler run` processes on one database, both due at the same moment.

Each trial starts two real scheduler processes against SQLite or PostgreSQL,
with the weekly slot one minute ago (inside the catch-up window), so both want
to send it the moment they start. The SendGrid-compatible test server is the
sink. Exactly one send per reader, and the ledger agrees with the sink; the same
when the instance holding the lease is killed (SIGKILL) in the middle of its send.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT
from helpers import scaled, start_process, wait_until
from test_weekly import add_comparisons, add_readers, ledger_of

from digest.jobs import WEEKLY_JOB
from schedules import leases, runs
from schedules.weekly import WEEKDAYS

READERS = [f"reader{i}@example.com" for i in range(5)]
LATE_READERS = [f"late{i}@example.com" for i in range(3)]
LEASE_TTL = 2  # seconds: how long a killed holder keeps the week


def the_slot_a_minute_ago() -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)


def scheduler_env(db_url: str, server, slot: datetime, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(
        {
            "DIGEST_DATABASE_URL": db_url,
            "DIGEST_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": server.api_key,
            "SENDGRID_API_URL": server.url,
            "DIGEST_TIMEZONE": "UTC",
            "DIGEST_SEND_DAY": WEEKDAYS[slot.weekday()],
            "DIGEST_SEND_TIME": slot.strftime("%H:%M"),
            "DIGEST_OUTBOX": str(tmp_path / "outbox"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Instance:
    def __init__(self, env, log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = start_process(  # its group is stopped when the test ends, whatever happens here
            [sys.executable, "-m", "digest", "scheduler", "run", "--lease-ttl", str(LEASE_TTL)],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int:
        """SIGTERM, as systemd does; the exit status of a clean stop is 0."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=scaled(20))
        finally:
            self.log.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=scaled(10))
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text()

    def started(self) -> bool:
        return "stop with Ctrl-C or SIGTERM" in self.output()


def wait_for(condition, timeout: float, what: str, instances=()) -> None:
    """helpers.wait_for (scaled), with the instances' logs when it times out."""
    try:
        wait_until(condition, timeout, what)
    except AssertionError as timed_out:
        logs = "\n".join(f"--- instance {i.pid}:\n{i.output()}" for i in instances)
        pytest.fail(f"{timed_out}\n{logs}")


def settled(engine, slot) -> bool:
    record = runs.find(engine, WEEKLY_JOB, slot)
    return record is not None and record.outcome == "done"


@pytest.fixture
def sendgrid():
    from sendgrid_server import SendGridServer

    with SendGridServer(api_key="test-key") as server:
        yield server


@pytest.mark.parametrize("trial", [1, 2])
def test_two_schedulers_due_at_once_send_each_reader_exactly_once(engine, db_url, tmp_path, sendgrid, trial):
    slot = the_slot_a_minute_ago()
    add_comparisons(engine, tmp_path, [slot - timedelta(days=7)])
    add_readers(engine, READERS)
    sendgrid.hang(times=1, seconds=2.5)  # a slow provider: the other instance surely finds the send under way
    env = scheduler_env(db_url, sendgrid, slot, tmp_path)
    instances = [Instance(env, tmp_path / f"scheduler-{n}.log") for n in (1, 2)]
    try:
        wait_for(lambda: settled(engine, slot), 40, "the weekly send to finish", instances)
        wait_for(lambda: all(i.started() for i in instances), 20, "both instances to start", instances)
    finally:
        codes = [instance.stop() for instance in instances]
    assert codes == [0, 0], [i.output() for i in instances]

    assert sendgrid.counts() == {address: 1 for address in READERS}
    assert ledger_of(engine) == {address: "sent" for address in READERS}
    ran = [i for i in instances if f"{WEEKLY_JOB} for " in i.output() and ": running" in i.output()]
    assert len(ran) == 1, [i.output() for i in instances]
    loser = next(i for i in instances if i not in ran)
    assert "another instance" in loser.output() and "is running it" in loser.output(), loser.output()
    assert runs.find(engine, WEEKLY_JOB, slot).attempts == 1


@pytest.mark.parametrize("trial", [1, 2])
def test_when_the_lease_holder_is_killed_mid_send_the_other_finishes_without_doubles(
    engine, db_url, tmp_path, sendgrid, trial
):
    slot = the_slot_a_minute_ago()
    add_comparisons(engine, tmp_path, [slot - timedelta(days=7)])
    add_readers(engine, READERS)
    sendgrid.hang(times=1, seconds=60)  # the first request is received, then never answered
    env = scheduler_env(db_url, sendgrid, slot, tmp_path)
    instances = [Instance(env, tmp_path / f"scheduler-{n}.log") for n in (1, 2)]
    survivor = None
    try:
        wait_for(lambda: sendgrid.requests >= 1, 40, "the holder's first request", instances)
        holder = leases.current(engine, WEEKLY_JOB).holder
        victim = next(i for i in instances if f":{i.pid}:" in holder)
        survivor = next(i for i in instances if i is not victim)
        add_readers(engine, LATE_READERS)  # they join while the holder is stuck: someone still owes them the edition
        victim.kill()
        wait_for(lambda: settled(engine, slot), 40, "the other instance to finish the send", instances)
        wait_for(survivor.started, 20, "the survivor to start", instances)
    finally:
        for instance in instances:
            if instance is survivor or survivor is None:
                assert instance.stop() == 0, instance.output()

    # The sink got each reader once: the stuck request's readers from the dead holder,
    # the late readers from the survivor. The ledger says the same, honestly: the stuck
    # request's outcome is unknown to it (uncertain, never re-sent), the rest were sent.
    assert sendgrid.counts() == {address: 1 for address in READERS + LATE_READERS}
    ledger = ledger_of(engine)
    assert set(ledger) == set(sendgrid.counts())
    assert {ledger[address] for address in READERS} == {"uncertain"}
    assert {ledger[address] for address in LATE_READERS} == {"sent"}
    record = runs.find(engine, WEEKLY_JOB, slot)
    assert record.attempts == 2 and f":{survivor.pid}:" in record.holder
    assert "resuming" in survivor.output()
