"""The preferences page's "next mail" line, in headless Chromium, on the real clock: the send day is
today at 00:00 UTC, its wave has gone. A reader who had the edition is told next week's date; one
who confirms now is told it comes within minutes, and it does (the scheduler's job for late
readers); then they too are told next week's. The page stays axe-clean."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from helpers import add_reader, axe_violations, comparison, serve_site, set_preferences, severe

from digest.jobs import run_wave, send_late_readers
from digest.mail.memory import MemorySender
from digest.store import session_scope
from digest.timeutil import utcnow
from schedules.weekly import WEEKDAYS
from subscribers import links, service
from subscribers.models import Subscriber

UTC = ZoneInfo("UTC")


def test_the_next_mail_line_says_when_and_the_mail_comes(sqlite_url, browser, axe_script, artifacts):
    now = utcnow()
    today = now.date()
    fields = {"send_day": WEEKDAYS[today.weekday()], "send_time": time(0, 0), "timezone": UTC}
    with serve_site(sqlite_url, **fields) as site:
        engine, settings = site.engine, site.settings
        with session_scope(engine) as session:
            comparison(session, "relaybench-vs-quillpatch", f"{today - timedelta(days=7):%Y-%m-%d} 00:00")
        slot = datetime.combine(today, time(0, 0), tzinfo=UTC)
        had_it, had_token = add_reader(engine, "had-it@example.com")
        set_preferences(engine, [had_it], when=slot - timedelta(days=1))
        run_wave(engine, settings, slot, ("UTC",), sender=MemorySender(), final=False)
        late, late_token = add_reader(engine, "late@example.com", status="pending")
        with session_scope(engine) as session:
            service.confirm(session, session.get(Subscriber, late).token, None, utcnow())

        next_week = today + timedelta(days=7)
        every_week = f"{next_week:%A} {next_week.day} {next_week:%B} at 00:00, UTC time"
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        try:
            page.goto(links.preferences_url(settings.base_url, had_token))
            assert page.locator("#next-edition").inner_text().startswith(f"Your next edition arrives {every_week}")
            page.goto(links.preferences_url(settings.base_url, late_token))
            line = page.locator("#next-edition").inner_text()
            assert line.startswith("Your next edition arrives within a few minutes, by "), line
            assert "this week's edition, which you have not had yet" in line
            page.screenshot(path=artifacts / "next-mail-late.png", full_page=True)
            assert severe(axe_violations(page, axe_script)) == []

            sender = MemorySender()
            send_late_readers(engine, settings, utcnow(), sender=sender)
            assert sender.addresses() == ["late@example.com"]
            page.reload()
            assert page.locator("#next-edition").inner_text().startswith(f"Your next edition arrives {every_week}")
        finally:
            context.close()
