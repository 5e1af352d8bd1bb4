"""What the desk's plan says the first send day of a month will do, per the cadence rules, and the send
doing it (SQLite and PostgreSQL).

Editions go out every Monday of March 2026 (08:00 London); the edition of Monday 6 April, the first send
day of April, is a draft. Its plan splits the readers the way the send mails them:
    weekly                   two readers: this week's letter
    fortnightly since 1 Apr  chose it last Wednesday: a window of this edition alone, so this week's letter
    monthly                  three readers: a letter gathering the five editions since 2 March
    fortnightly since 23 Mar due: a letter gathering the editions of 30 March and 6 April
    fortnightly since 2 Mar  due 30 March and 20 April: not due
The desk's week page, its confirm-send page (axe-clean in Chromium at 375 and 1280 px) and `digest
editions send`'s plan say so; then the wave mails the seven due readers, four of them a gathered letter.
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from helpers import add_reader, axe_violations, serve_site, set_preferences, severe, topical
from test_cadence import settings_for  # London, Mondays at 08:00, the memory sender
from test_desk import PASSWORD, Editor
from test_desk_browser import WIDTHS

from digest.delivery.plan import send_plan
from digest.delivery.summary import plan_letters, send_day_for
from digest.editions.models import Edition
from digest.editions.service import build_edition, get_edition, offered
from digest.editors.accounts import add_editor
from digest.editors.roles import Role
from digest.jobs import run_wave
from digest.mail.memory import MemorySender
from digest.send_days import slot_of
from digest.settings import Settings
from digest.store import session_scope
from digest.web.desk.glance import week_at_glance
from subscribers.models import Subscriber

LONDON = "Europe/London"
MARCH = [date(2026, 3, 2) + timedelta(weeks=n) for n in range(5)]  # 2 ... 30 March: sent
APRIL = date(2026, 4, 6)  # the first send day of April: its edition (2026-W14) is the plan's
SPLIT = "3 get this week's letter, 4 a letter gathering several editions (1 fortnightly, 3 monthly)"
NOT_DUE = "1 reader not due this send day (1 fortnightly)"


def readers(engine) -> dict[str, int]:
    joined = datetime(2026, 2, 20, 12, tzinfo=UTC)
    cadences = {
        "weekly-1": ("weekly", None),
        "weekly-2": ("weekly", None),
        "switched": ("fortnightly", date(2026, 4, 1)),
        "monthly-1": ("monthly", date(2026, 1, 5)),
        "monthly-2": ("monthly", date(2026, 1, 5)),
        "monthly-3": ("monthly", date(2026, 2, 20)),
        "fortnight-due": ("fortnightly", date(2026, 3, 23)),
        "fortnight-off": ("fortnightly", date(2026, 3, 2)),
    }
    table = Subscriber.__table__
    ids = {}
    for name, (every, since) in cadences.items():
        ids[name], _ = add_reader(engine, f"{name}@example.com", confirmed_at=joined)
        set_preferences(engine, [ids[name]], timezone=LONDON, when=joined)
        with engine.begin() as connection:
            connection.execute(
                sa.update(table).where(table.c.id == ids[name]).values(cadence=every, cadence_since=since)
            )
    return ids


def april_draft(engine, settings) -> int:
    """The readers, the editions of March sent, and the draft of 6 April's (its number)."""
    with session_scope(engine) as session:
        for day in [*MARCH, APRIL]:  # two comparisons each week, Voice and Evaluation
            published = datetime.combine(day - timedelta(days=5), time(9), tzinfo=UTC)
            topical(session, f"voice-{day:%m%d}", published, ("Voice", "Voice"), f"Voice of {day:%d %B}")
            topical(session, f"evals-{day:%m%d}", published, ("Evaluation", "Evaluation"), f"Evals of {day:%d %B}")
    readers(engine)
    for day in MARCH:
        run_wave(engine, settings, slot_of(day, LONDON, settings), (LONDON,), sender=MemorySender(), final=True)
    with session_scope(engine) as session:
        return build_edition(session, settings, "2026-W14", now=datetime(2026, 4, 5, 12, tzinfo=UTC)).edition.number


def desk_fields(settings: Settings) -> dict:
    return {name: getattr(settings, name) for name in ("timezone", "send_day", "send_time", "backend")}


def test_the_plan_says_who_gets_this_weeks_letter_a_gathered_one_or_none_and_the_send_agrees(db_url, engine):
    settings = settings_for(db_url)
    number = april_draft(engine, settings)
    with session_scope(engine) as session:
        draft = get_edition(session, number)
        shown = offered(session, draft)
        assert send_day_for(settings, draft.week) == APRIL
        plan = plan_letters(session.connection(), draft.id, shown, APRIL)
    assert plan.weekly == 3 and [line.readers for line in plan.variants] == [3]
    assert plan.gathered == {"monthly": 3, "fortnightly": 1}
    assert plan.not_due == {"fortnightly": 1} and plan.unmatched == 0

    week = week_at_glance(engine, settings, number)
    assert (week.readers, week.weekly, week.split) == (7, 3, SPLIT)
    assert week.not_due == NOT_DUE
    assert week.gathered == "4 readers get a letter gathering several editions (1 fortnightly, 3 monthly)"
    said = send_plan(engine, settings, number).as_text("memory")
    assert f"It will reach 7 readers through memory: {SPLIT}; {NOT_DUE}." in said

    with serve_site(db_url, **desk_fields(settings)) as site:
        with session_scope(site.engine) as session:
            add_editor(session, "ada", PASSWORD, Role.OWNER, "test")
        ada = Editor(site, "ada")
        page = html.unescape(ada.get(f"/desk/editions/{number}").text)
        assert f'<dd id="readers">7: <span id="readers-split">{SPLIT}</span>; {NOT_DUE}</dd>' in page
        assert 'id="gathered">Not counted above: 4 readers get a letter gathering several editions' in page
        confirm = html.unescape(ada.get(f"/desk/editions/{number}/confirm-send").text)
        assert f'<span id="plan-split">{SPLIT}</span>' in confirm
        assert "Letters gathering several editions (their topics' comparisons" in confirm

    sender = MemorySender()
    run_wave(engine, settings, slot_of(APRIL, LONDON, settings), (LONDON,), sender=sender, final=True)
    gathering = {
        recipient.address.partition("@")[0]: "gathers the comparisons of" in sent.letter.html
        for sent in sender.sent
        for recipient in sent.recipients
    }
    assert gathering == {
        "weekly-1": False,
        "weekly-2": False,
        "switched": False,
        "monthly-1": True,
        "monthly-2": True,
        "monthly-3": True,
        "fortnight-due": True,
    }
    with engine.connect() as connection:
        assert connection.execute(sa.select(Edition.status).where(Edition.number == number)).scalar_one() == "sent"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_pages_saying_the_plan_have_no_serious_axe_violation(browser, sqlite_url, axe_script, width):
    settings = settings_for(sqlite_url)
    with serve_site(sqlite_url, **desk_fields(settings)) as site:
        number = april_draft(site.engine, settings)
        with session_scope(site.engine) as session:
            add_editor(session, "ada", PASSWORD, Role.OWNER, "test")
        context = browser.new_context(viewport=WIDTHS[width], bypass_csp=True)  # axe is the test's script
        try:
            page = context.new_page()
            page.goto(site.url + "/desk/login")
            page.get_by_label("Name").fill("ada")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(site.url + "/desk")
            for path, split in (("", "#readers-split"), ("/confirm-send", "#plan-split")):
                page.goto(f"{site.url}/desk/editions/{number}{path}")
                assert page.locator(split).inner_text() == SPLIT
                assert severe(axe_violations(page, axe_script)) == [], path
                assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth"), path
        finally:
            context.close()
