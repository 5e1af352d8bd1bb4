"""An edition approved after some of its waves have passed (issue 20): the scheduler holds each wave of
an unapproved edition (its run stays open and is looked at again every lease time); once an editor
approves it, the held waves still within DIGEST_CATCH_UP go out, each reader once, and the edition is
sent after the last of them. A held wave older than the window is recorded missed, as a wave no
scheduler ran in time is (issue 24, item 11): the scheduler begins no partial send, and the edition is
left for the editor, whose `digest editions send` mails everyone once.

The send day is Sunday 29 March 2026, 08:00 (tests/test_waves_missed.py's): five waves from Kiritimati
(Sat 18:00 UTC) to Los Angeles (Sun 15:00 UTC). The real scheduler (APScheduler, leases, run records) runs
on a shifted clock, with a 2-second lease so that a held wave is looked at again every 2 seconds.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from helpers import edition_status, fire_wave, wait_until
from test_waves_missed import WAVES, ZONES, seed, sendgrid, settings_for  # noqa: F401  the send day

from digest.delivery import send_edition
from digest.editors.accounts import add_editor
from digest.editors.approvals import approve
from digest.editors.roles import Role
from digest.jobs import WEEKLY_JOB, build_scheduler
from digest.store import session_scope
from schedules import ShiftedClock, runs

HELD = "waits for approval"


def _settings(db_url, server):
    return replace(settings_for(db_url, server), approvals=1)


def _scheduler(engine, settings, start):
    scheduler = build_scheduler(
        engine, settings, clock=ShiftedClock(start), confirmations=False, late=False, lease_ttl=timedelta(seconds=2)
    )
    scheduler.start()
    return scheduler


def outcomes(engine) -> list[str | None]:
    """Each wave's recorded outcome (None: no scheduler has looked at it yet)."""
    records = [runs.find(engine, WEEKLY_JOB, slot) for slot in WAVES]
    return [r.outcome if r is not None else None for r in records]


def _held(engine, slots) -> bool:
    records = [runs.find(engine, WEEKLY_JOB, slot) for slot in slots]
    return all(r is not None and r.outcome == "running" and HELD in (r.detail or "") for r in records)


def _grace_approves(engine, settings) -> None:
    with session_scope(engine) as session:
        add_editor(session, "grace", "correct horse battery", Role.EDITOR, "test")
        approve(session, settings, 1, "grace")


def test_waves_held_for_approval_go_out_once_it_comes_within_the_window(engine, db_url, sendgrid):  # noqa: F811
    seed(engine)
    settings = _settings(db_url, sendgrid)
    scheduler = _scheduler(engine, settings, WAVES[2] + timedelta(minutes=30))  # Paris's wave has just passed
    try:
        wait_until(lambda: _held(engine, WAVES[:3]), 30, "the first three waves held")
        assert sendgrid.accepted == [] and edition_status(engine, 1) == "draft"
        _grace_approves(engine, settings)  # 30 minutes after Paris's wave, 16.5 hours after Kiritimati's
        wait_until(lambda: outcomes(engine)[:3] == ["done"] * 3, 30, "the held waves sent once approved")
    finally:
        scheduler.stop()
    assert sendgrid.counts() == {"kiritimati@example.com": 1, "tokyo@example.com": 1, "paris@example.com": 1}
    assert edition_status(engine, 1) == "sending"
    for slot in WAVES[3:]:
        fire_wave(engine, settings, slot)
    assert outcomes(engine) == ["done"] * 5
    assert sendgrid.counts() == dict.fromkeys(ZONES, 1)
    assert edition_status(engine, 1) == "sent"


def test_a_held_wave_the_approval_comes_too_late_for_is_missed_and_the_edition_left_for_the_editor(
    engine,
    db_url,
    sendgrid,  # noqa: F811
):
    seed(engine)
    settings = _settings(db_url, sendgrid)
    scheduler = _scheduler(engine, settings, WAVES[1] + timedelta(hours=1))
    try:
        wait_until(lambda: _held(engine, WAVES[:2]), 30, "Kiritimati's and Tokyo's waves held")
    finally:
        scheduler.stop()
    _grace_approves(engine, settings)
    # The scheduler looks again 25 hours after Kiritimati's wave: past DIGEST_CATCH_UP (24 h) for it alone.
    scheduler = _scheduler(engine, settings, WAVES[0] + timedelta(hours=25))
    try:
        wait_until(lambda: None not in outcomes(engine) and "running" not in outcomes(engine), 30, "every wave settled")
    finally:
        scheduler.stop()
    assert outcomes(engine) == ["missed"] + ["paused"] * 4
    missed = runs.find(engine, WEEKLY_JOB, WAVES[0]).detail
    assert "had not begun 25 h after its wave (held for approval" in missed, missed
    assert "more than the catch-up window of 24 h; not sent late" in missed, missed
    left = runs.find(engine, WEEKLY_JOB, WAVES[1]).detail
    assert "left for the editor" in left and "Sat 18:00 UTC (Pacific/Kiritimati)" in left, left
    assert sendgrid.accepted == [] and edition_status(engine, 1) == "draft"  # no partial send

    assert send_edition(engine, settings, 1).status == "sent"  # the editor sends it: everyone, once
    assert sendgrid.counts() == dict.fromkeys(ZONES, 1)


def test_an_edition_approved_after_its_last_wave_is_sent_to_every_zone_and_marked_sent(engine, db_url, sendgrid):  # noqa: F811
    """Every wave held: once approved, each goes out as the scheduler looks again, in whatever order, and
    the wave that ends last, whatever its slot, marks the edition sent."""
    seed(engine)
    settings = _settings(db_url, sendgrid)
    scheduler = _scheduler(engine, settings, WAVES[4] + timedelta(hours=1))
    try:
        wait_until(lambda: _held(engine, WAVES), 30, "every wave held")
        _grace_approves(engine, settings)
        wait_until(lambda: outcomes(engine) == ["done"] * 5, 30, "every held wave sent once approved")
    finally:
        scheduler.stop()
    assert sendgrid.counts() == dict.fromkeys(ZONES, 1)
    wait_until(lambda: edition_status(engine, 1) == "sent", 5, "the edition marked sent")
