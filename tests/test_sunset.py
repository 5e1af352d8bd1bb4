"""Engagement and a respectful goodbye (DIGEST_SUNSET_AFTER=3, DIGEST_SUNSET_GRACE=14).

Weekly editions go out on Mondays from 5 January 2026, each send stamped by a ManualClock (the clock
seam). A reader mailed three editions since their last sign of life gets one re-permission mail; 14
days without an answer and they lapse (status, consent log, no more mail, counted apart in stats);
the keep-sending button (a POST; its GET changes nothing) answers it; a vote, saved preferences or a
confirmation are signs of life; a reader who joined fewer than three editions ago is left be; one who
lapsed can subscribe again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from helpers import a_letter, add_edition, add_reader, serve_site

from digest.delivery import send_edition
from digest.delivery.sunset import sunset
from digest.mail.memory import MemorySender
from digest.mail.message import to_mime
from digest.settings import Settings
from digest.stats.figures import growth_figures
from digest.store import session_scope
from digest.timeutil import ManualClock
from subscribers import engagement, links, service, status
from subscribers.consent import history
from subscribers.models import Subscriber
from subscribers.validation import Preferences, SubscribeRequest

FIRST = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
JOINED = FIRST - timedelta(days=30)


def settings_for(db_url: str, **extra) -> Settings:
    return Settings.from_env(
        {"DIGEST_DATABASE_URL": db_url, "DIGEST_SUNSET_AFTER": "3", "DIGEST_BACKEND": "memory", **extra}
    )


def send_week(engine, settings, number: int) -> MemorySender:
    add_edition(engine, number)
    sender = MemorySender()
    send_edition(engine, settings, number, sender=sender, letter=a_letter(number), clock=ManualClock(at(number)))
    return sender


def at(number: int) -> datetime:
    return FIRST + timedelta(weeks=number - 1)


def status_of(engine, reader_id: int) -> str:
    with session_scope(engine) as session:
        return session.get(Subscriber, reader_id).status


def token_of(engine, reader_id: int) -> str:
    with session_scope(engine) as session:
        return session.get(Subscriber, reader_id).token


def test_three_silent_editions_bring_one_question_and_fourteen_days_of_silence_a_lapse(db_url, engine):
    settings = settings_for(db_url)
    silent, _ = add_reader(engine, "silent@example.com", confirmed_at=JOINED)
    voter, _ = add_reader(engine, "voter@example.com", confirmed_at=JOINED)
    keeper, _ = add_reader(engine, "keeper@example.com", confirmed_at=JOINED)
    for number in (1, 2):
        send_week(engine, settings, number)
    late, _ = add_reader(engine, "newcomer@example.com", confirmed_at=at(2) + timedelta(days=1))
    with session_scope(engine) as session:  # a vote after edition 2 (the web app records it so)
        engagement.engaged(session, token_of(engine, voter), at(2) + timedelta(days=2))
    send_week(engine, settings, 3)

    asking = MemorySender()
    done = sunset(engine, settings, at(3) + timedelta(hours=1), sender=asking)
    assert done.asked == 2 and done.lapsed == 0
    assert sorted(asking.addresses()) == ["keeper@example.com", "silent@example.com"]  # voter, newcomer: not yet
    [request] = asking.sent
    mail = to_mime(request.letter, request.recipients[0])
    token = token_of(engine, keeper if request.recipients[0].address.startswith("keeper") else silent)
    assert mail["Subject"] == "Do you still want Weekly AI Tool Verdicts?"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert links.keep_url(settings.base_url, token) in mail.get_body(("plain",)).get_content()
    assert "We have sent you 3 editions since we last heard from you" in mail.get_body(("plain",)).get_content()
    assert sunset(engine, settings, at(3) + timedelta(hours=2), sender=asking).asked == 0  # asked once

    with session_scope(engine) as session:  # keeper presses "keep sending" ten days later
        engagement.engaged(session, token_of(engine, keeper), at(3) + timedelta(days=10))
    done = sunset(engine, settings, at(3) + timedelta(days=14, hours=2), sender=MemorySender())
    assert done.lapsed == 1
    assert status_of(engine, silent) == status.LAPSED
    assert {status_of(engine, r) for r in (voter, keeper, late)} == {status.ACTIVE}
    with engine.connect() as connection:
        last = history(connection, silent)[-1]
    assert (last["kind"], last["status"], last["source"]) == ("opt-out", status.LAPSED, engagement.LAPSE_SOURCE)

    after = send_week(engine, settings, 6)  # no more mail for the lapsed reader
    assert "silent@example.com" not in after.addresses() and len(after.addresses()) == 3
    with session_scope(engine) as session:
        [week] = [g for g in growth_figures(session, ZoneInfo("UTC")) if g.lapsed]
        assert (week.lapsed, week.left) == (1, 0)

    with session_scope(engine) as session:  # they may come back: pending again, a new confirmation
        service.subscribe(
            session, SubscribeRequest("silent@example.com", (), None), service.Consent(at=at(7), source="test")
        )
        assert session.get(Subscriber, silent).status == status.PENDING


def test_an_engaged_reader_is_never_asked_nor_lapsed(db_url, engine):
    settings = settings_for(db_url)
    engaged, token = add_reader(engine, "engaged@example.com", confirmed_at=JOINED)
    for number in range(1, 9):
        send_week(engine, settings, number)
        with session_scope(engine) as session:  # saves the preferences page every other week
            if number % 2 == 0:
                service.change_preferences(session, token, Preferences((), None), at(number) + timedelta(days=1))
        assert sunset(engine, settings, at(number) + timedelta(days=2), sender=MemorySender()) == (0, 0)
    assert status_of(engine, engaged) == status.ACTIVE


def test_sunset_is_off_by_default(db_url, engine):
    settings = replace(settings_for(db_url), sunset_after=None)
    assert Settings().sunset_after is None and Settings().sunset_grace == 14
    add_reader(engine, "silent@example.com", confirmed_at=JOINED)
    for number in range(1, 5):
        send_week(engine, settings, number)
    assert sunset(engine, settings, at(4) + timedelta(days=30), sender=MemorySender()) == (0, 0)


def test_the_keep_sending_page_asks_and_only_its_post_answers(sqlite_url):
    with serve_site(sqlite_url, sunset_after=3) as site:
        reader, token = add_reader(site.engine, "ada@example.com")
        asked = datetime(2026, 1, 26, tzinfo=UTC)
        with site.engine.begin() as connection:
            engagement.asked(connection, [reader], asked)
        page = site.http.get(links.keep_url("", token))
        assert page.status_code == 200 and "Keep sending" in page.text

        def stamps():
            with session_scope(site.engine) as session:
                found = session.get(Subscriber, reader)
                return found.engaged_at, found.sunset_asked_at

        assert stamps() == (None, asked)  # a GET (a mail scanner) changes nothing
        answer = site.http.post(links.keep_url("", token))
        assert answer.status_code == 200 and "keep sending" in answer.text.lower() and "keeps receiving" in answer.text
        engaged_at, asked_at = stamps()
        assert engaged_at is not None and asked_at is None
        assert site.http.get(links.keep_url("", "no-such-token")).status_code == 404
        table = Subscriber.__table__
        with site.engine.begin() as connection:
            connection.execute(sa.update(table).where(table.c.id == reader).values(status=status.LAPSED))
        page = site.http.post(links.keep_url("", token))
        assert "receives no editions (lapsed)" in page.text
