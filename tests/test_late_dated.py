"""A comparison dated after its week's first wave (issue 22, item 6): never a failed wave nor a traceback;
it goes out with the next edition, and the send plan and the build say so before the first wave. The
archive and feed date an edition by when its first wave left, for good.

The send day is Monday 24 May 2027, 08:00 (in the future, so a comparison dated after the first wave is
dated after the real clock too, as it was when the bug struck): Kiritimati (UTC+14) goes first, on Sunday
18:00 UTC; London (BST) at 07:00 UTC. "Late vs Later" is dated Sunday 20:00 UTC, in the same ISO week.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from helpers import add_reader, fire_wave, mails_of, set_preferences, topical
from sendgrid_server import SendGridServer

from digest.cli import main
from digest.delivery.plan import send_plan
from digest.editions.models import Edition
from digest.editions.service import build_edition, edition_comparisons, get_edition
from digest.jobs import WEEKLY_JOB
from digest.render.archive import archived_editions, atom_feed
from digest.send_days import first_wave
from digest.settings import Settings
from digest.store import session_scope
from schedules import runs

KIRITIMATI = datetime(2027, 5, 23, 18, 0, tzinfo=UTC)
LONDON = datetime(2027, 5, 24, 7, 0, tzinfo=UTC)
WEEK, NEXT = "2027-W20", "2027-W21"


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
            "DIGEST_SEND_DAY": "monday",
            "DIGEST_SEND_TIME": "08:00",
        }
    )


def seed(engine, settings) -> int:
    with session_scope(engine) as session:
        topical(session, "early-vs-one", "2027-05-19 09:00", ("Agents", "Agents"), "Early vs One")
        topical(session, "late-vs-later", "2027-05-23 20:00", ("Agents", "Agents"), "Late vs Later")
        number = build_edition(session, settings, WEEK).edition.number
    kiritimati, _ = add_reader(engine, "kiritimati@example.com")
    set_preferences(engine, [kiritimati], timezone="Pacific/Kiritimati")
    add_reader(engine, "london@example.com")
    return number


def test_a_comparison_dated_after_the_first_wave_is_carried_with_no_error_and_said_before(
    engine, db_url, sendgrid, caplog, monkeypatch
):
    settings = settings_for(db_url, sendgrid)
    number = seed(engine, settings)
    assert first_wave(engine, settings, WEEK) == KIRITIMATI

    # Before the first wave, the send plan and the build name it.
    plan = send_plan(engine, settings, number, first_wave=KIRITIMATI, include_future=True)
    assert [slug for slug, _ in plan.carried] == ["late-vs-later"]
    assert "Carried to the next edition" in plan.as_text("sendgrid") and "late-vs-later" in plan.as_text("sendgrid")
    for name, value in {"DIGEST_DATABASE_URL": db_url, "DIGEST_TIMEZONE": "Europe/London"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIGEST_SEND_DAY", "monday")
    shown = CliRunner().invoke(main, ["editions", "build", "--week", WEEK])
    assert "carried to the next edition" in shown.output and "late-vs-later" in shown.output

    caplog.set_level(logging.INFO)
    for slot in (KIRITIMATI, LONDON):
        fire_wave(engine, settings, slot)
        record = runs.find(engine, WEEKLY_JOB, slot)
        assert record.outcome == "done" and record.attempts == 1, record
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == []
    assert any("carried to the next edition: late-vs-later" in r.getMessage() for r in caplog.records)

    mails = mails_of(sendgrid)
    assert set(mails) == {"kiritimati@example.com", "london@example.com"}
    for [mail] in mails.values():  # each on time, once, without the late one
        assert "Early vs One" in mail.text and "Late vs Later" not in mail.text
    with session_scope(engine) as session:
        assert [c.slug for c in edition_comparisons(session, get_edition(session, number))] == ["early-vs-one"]
        following = build_edition(session, settings, NEXT).edition
        assert [c.slug for c in edition_comparisons(session, following)] == ["late-vs-later"]  # carried, not lost


def test_the_archive_and_feed_date_an_edition_by_its_first_wave_for_good(engine, db_url, sendgrid):
    settings = settings_for(db_url, sendgrid)
    seed(engine, settings)
    fire_wave(engine, settings, KIRITIMATI)
    with session_scope(engine) as session:
        frozen_at = session.exec(Edition.__table__.select()).first().frozen_at
        [half_sent] = archived_editions(session)
    assert half_sent.published == frozen_at
    feed = atom_feed([half_sent], settings, frozen_at)
    fire_wave(engine, settings, LONDON)  # the last wave: the edition is sent now
    with session_scope(engine) as session:
        [sent] = archived_editions(session)
        assert session.exec(Edition.__table__.select()).first().sent_at > frozen_at
    assert sent.published == frozen_at
    assert atom_feed([sent], settings, frozen_at) == feed
