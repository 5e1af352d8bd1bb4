"""End to end over HTTP: readers subscribe with topics and a time zone, confirm, change their preferences,
and the scheduler's waves bring each of them their variant at 08:00 their time.

The web app and the SendGrid-compatible server on loopback, real confirmation mails and links, the
preferences page, then the real scheduler on a shifted clock for each wave of Sunday 29 March 2026 (the
day Europe's clocks go forward).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from helpers import (
    confirmation_links,
    fire_wave,
    follow_confirmation,
    mails_of,
    preferences_path,
    serve_site,
    topical,
    wait_until,
)
from sendgrid_server import SendGridServer

from digest.store import session_scope
from digest.timeutil import utcnow

UTC = UTC
VOICE, EVALS = "Murmurcast vs Tidewell", "Relaybench vs Lanternops"
PARIS_WAVE = datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST
LONDON_WAVE = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 08:00 BST: readers with no zone
LA_WAVE = datetime(2026, 3, 29, 15, 0, tzinfo=UTC)  # 08:00 PDT


def next_sunday_eight(zone: str) -> str:
    """How the preferences page should put the next Sunday 08:00 in `zone`, found by walking the days."""
    tz, now = ZoneInfo(zone), utcnow()
    day = now.astimezone(tz).date()
    while day.weekday() != 6 or datetime.combine(day, clock_time(8), tz) <= now:
        day += timedelta(days=1)
    return f"{day:%A} {day.day} {day:%B} at 08:00"


def test_sign_up_with_topics_and_a_zone_confirm_change_preferences_then_each_wave_brings_each_variant(db_url):
    with (
        SendGridServer(api_key="k") as sendgrid,
        serve_site(
            db_url,
            backend="sendgrid",
            sendgrid_api_key="k",
            sendgrid_api_url=sendgrid.url,
            timezone=ZoneInfo("Europe/London"),
            send_day="sunday",
            send_time=clock_time(8, 0),
        ) as site,
    ):
        with session_scope(site.engine) as session:
            topical(session, "murmurcast-vs-tidewell", "2026-03-18 09:00", ("Voice", "Voice"), VOICE)
            topical(session, "relaybench-vs-lanternops", "2026-03-19 09:00", ("Evaluation", "Evaluation"), EVALS)

        signups = {
            "ana@example.com": {"topics": ["Voice"], "timezone": "Asia/Tokyo"},
            "ben@example.com": {"topics": [], "timezone": "America/Los_Angeles"},
            "cy@example.com": {"topics": ["Evaluation"]},
        }
        for address, choice in signups.items():
            answer = site.http.post("/subscribe", json={"email": address, **choice})
            assert answer.status_code == 202, answer.text
        wait_until(lambda: len(confirmation_links(sendgrid)) == 3, 15, "three confirmation mails")
        preferences = {}
        for address, link in confirmation_links(sendgrid).items():
            confirmed = follow_confirmation(site.http, link.removeprefix(site.url))
            assert confirmed.status_code == 200, confirmed.text
            preferences[address] = preferences_path(confirmed.text)

        # Ana moves to Paris and adds a topic; the page then says when her next edition comes, in her time.
        saved = site.http.post(
            preferences["ana@example.com"], json={"topics": ["Evaluation", "Voice"], "timezone": "Europe/Paris"}
        )
        assert saved.status_code == 200, saved.text
        page = site.http.get(preferences["ana@example.com"]).text
        assert f"Your next edition arrives {next_sunday_eight('Europe/Paris')}, your time (Europe/Paris)." in page
        page = site.http.get(preferences["cy@example.com"]).text
        assert f"Your next edition arrives {next_sunday_eight('Europe/London')}, Europe/London time" in page

        expected = [
            (PARIS_WAVE, "ana@example.com", f"{EVALS}, and 1 more"),
            (LONDON_WAVE, "cy@example.com", EVALS),
            (LA_WAVE, "ben@example.com", f"{EVALS}, and 1 more"),
        ]
        for slot, address, subject in expected:
            before = len(sendgrid.accepted)
            clock = fire_wave(site.engine, site.settings, slot)
            editions = [
                (a, arrived)
                for a, arrived in zip(sendgrid.accepted[before:], sendgrid.arrivals[before:])
                if a.body["personalizations"][0].get("custom_args", {}).get("edition")
            ]
            assert [p["to"][0]["email"] for a, _ in editions for p in a.body["personalizations"]] == [address]
            arrived = clock.from_machine(datetime.fromtimestamp(editions[0][1], UTC))
            assert slot <= arrived < slot + timedelta(seconds=20)
            assert [m.subject for m in editions_of(sendgrid, address)] == [subject]
        [ana], [cy], [ben] = (
            editions_of(sendgrid, a) for a in ("ana@example.com", "cy@example.com", "ben@example.com")
        )
        assert VOICE in ana.text and EVALS in ana.html and VOICE not in cy.text and VOICE not in cy.html
        assert VOICE in ben.html and EVALS in ben.text


def editions_of(server, address: str):
    return [m for m in mails_of(server).get(address, []) if m.custom_args.get("edition")]
