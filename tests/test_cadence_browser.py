"""The preferences page's cadence choice and its "next mail" line, in headless Chromium, on the real
clock, at 375 and 1280 px: the send day is today at 00:00 UTC and its wave has gone (the reader had
the edition). Choosing monthly, the page says the first send day of a month to come; choosing every
two weeks, next week's send day (the first after the choice); both saved by the form's own button,
the choice shown ticked, and the page axe-clean."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from helpers import add_reader, axe_violations, comparison, serve_site, set_preferences, severe

from digest.jobs import run_wave
from digest.mail.memory import MemorySender
from digest.store import session_scope
from digest.timeutil import utcnow
from schedules.weekly import WEEKDAYS
from subscribers import links
from subscribers.models import Subscriber

UTC = ZoneInfo("UTC")


def first_monthly(today: date) -> date:
    """The next day after today on today's weekday that is among the first seven of its month."""
    day = today + timedelta(days=7)
    while day.day > 7:
        day += timedelta(days=7)
    return day


def said(day: date) -> str:
    return f"Your next edition arrives {day:%A} {day.day} {day:%B} at 00:00, UTC time"


@pytest.mark.parametrize("width", [375, 1280])
def test_choosing_a_cadence_on_the_preferences_page_moves_the_next_mail_line(
    sqlite_url, browser, axe_script, artifacts, width
):
    today = utcnow().date()
    fields = {"send_day": WEEKDAYS[today.weekday()], "send_time": time(0, 0), "timezone": UTC}
    with serve_site(sqlite_url, **fields) as site:
        engine, settings = site.engine, site.settings
        with session_scope(engine) as session:
            comparison(session, "relaybench-vs-quillpatch", f"{today - timedelta(days=7):%Y-%m-%d} 00:00")
        slot = datetime.combine(today, time(0, 0), tzinfo=UTC)
        reader, token = add_reader(engine, "reader@example.com")
        set_preferences(engine, [reader], when=slot - timedelta(days=1))
        run_wave(engine, settings, slot, ("UTC",), sender=MemorySender(), final=True)

        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)  # for axe
        page = context.new_page()
        try:
            page.goto(links.preferences_url(settings.base_url, token))
            assert page.get_by_label("Weekly").is_checked()
            assert page.locator("#next-edition").inner_text().startswith(said(today + timedelta(days=7)))

            page.get_by_label("Monthly (first send day of the month)").check()
            page.get_by_role("button", name="Save preferences").click()
            page.wait_for_url("**saved=true")
            assert page.get_by_label("Monthly (first send day of the month)").is_checked()
            assert page.locator("#next-edition").inner_text().startswith(said(first_monthly(today)))
            page.screenshot(path=artifacts / f"cadence-monthly-{width}.png", full_page=True)
            assert severe(axe_violations(page, axe_script)) == []

            page.get_by_label("Every two weeks").check()
            page.get_by_role("button", name="Save preferences").click()
            page.wait_for_url("**saved=true")
            assert page.get_by_label("Every two weeks").is_checked()
            assert page.locator("#next-edition").inner_text().startswith(said(today + timedelta(days=7)))
            assert severe(axe_violations(page, axe_script)) == []
        finally:
            context.close()
        with session_scope(engine) as session:
            stored = session.get(Subscriber, reader)
            assert (stored.cadence, stored.cadence_since) == ("fortnightly", today + timedelta(days=1))
