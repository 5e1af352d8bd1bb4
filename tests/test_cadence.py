"""A reader's cadence over ten weeks of sends, the clock moved by hand (the clock seam: every step is
told its moment), on SQLite and PostgreSQL.

The send day is Monday 08:00 in each reader's zone (DIGEST_TIMEZONE Europe/London), from Monday
2 March to Monday 4 May 2026: New York moves its clocks on 8 March, London on 29 March, and the
first send day of April is the 6th. Each week has two comparisons, one about Voice and one about
Evaluation, so a letter's contents say which editions' comparisons it carries.

    weekly        London, every topic: every send day, that week's edition
    monthly       London, Voice: 2 March, then 6 April with the Voice comparisons of five editions
    monthly-2     London, Voice: shares the monthly letter (rendered once, one request)
    fortnightly   New York, since 2 March: 2 and 16 March, 30 March, 13 and 27 April
    midway        weekly, chooses fortnightly on Wednesday 18 March (after that week's edition)
    changer       monthly, chooses weekly on Wednesday 8 April
    late-monthly  confirms monthly on Monday 13 April after the wave: not late, not due until May
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from helpers import add_reader, set_preferences, topical

from digest.delivery.letters import NOT_DUE, VariantLetters
from digest.editions.models import Edition
from digest.editions.service import offered
from digest.jobs import run_wave, send_late_readers
from digest.mail.memory import MemorySender
from digest.send_days import describe_next_mail, had_current_edition, late_readers, next_mail_for, slot_of
from digest.settings import Settings
from digest.store import session_scope
from subscribers import cadence, service
from subscribers.models import Subscriber
from subscribers.validation import Preferences

LONDON, NEW_YORK = "Europe/London", "America/New_York"
FIRST = date(2026, 3, 2)
SEND_DAYS = [FIRST + timedelta(weeks=n) for n in range(10)]  # 2 March ... 4 May
BEFORE = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)


def settings_for(db_url: str) -> Settings:
    return Settings.from_env(
        {
            "DIGEST_DATABASE_URL": db_url,
            "DIGEST_BACKEND": "memory",
            "DIGEST_TIMEZONE": LONDON,
            "DIGEST_SEND_DAY": "monday",
            "DIGEST_SEND_TIME": "08:00",
        }
    )


def voice(day: date) -> str:
    return f"voice-{day:%m%d}"


def evals(day: date) -> str:
    return f"evals-{day:%m%d}"


def seed(engine) -> None:
    """Each send day's edition: two comparisons published in the week before it."""
    with session_scope(engine) as session:
        for day in SEND_DAYS:
            published = datetime.combine(day - timedelta(days=5), time(9), tzinfo=UTC)
            topical(session, voice(day), published, ("Voice", "Voice"), f"Voice of {day:%d %B}")
            topical(session, evals(day), published, ("Evaluation", "Evaluation"), f"Evals of {day:%d %B}")


def reader(engine, email, zone, every, since, topics=(), status="active") -> int:
    reader_id, _ = add_reader(engine, email, status=status, confirmed_at=BEFORE)
    set_preferences(engine, [reader_id], timezone=zone, topics=list(topics), when=BEFORE)
    table = Subscriber.__table__
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.id == reader_id).values(cadence=every, cadence_since=since))
    return reader_id


def choose(engine, settings, reader_id: int, every: str, now: datetime) -> None:
    """What the preferences page does when a reader picks a cadence."""
    had = had_current_edition(engine, settings, reader_id, now)
    with session_scope(engine) as session:
        found = session.get(Subscriber, reader_id)
        chosen = Preferences(tuple(found.topics), found.timezone, every)
        service.change_preferences(session, found.token, chosen, now, had_today=had)


def send_day(engine, settings, day: date, senders: list) -> MemorySender:
    """The day's waves, London then New York (the last one final)."""
    sender = MemorySender()
    for zone in (LONDON, NEW_YORK):
        run_wave(engine, settings, slot_of(day, zone, settings), (zone,), sender=sender, final=zone == NEW_YORK)
    senders.append((day, sender))
    return sender


CARD = re.compile(r'<h2 class="title"[^>]*><a [^>]*>([^<]+)</a>')
LINE = re.compile(r'<div class="more"[^>]*><a [^>]*>\d+\. ([^<]+)</a>')


def slugs_in(html: str) -> set[str]:
    """The comparisons a letter carries (as a card, or a line of the rest), by their titles; not those
    its verdict loop names."""
    titles = {f"Voice of {day:%d %B}": voice(day) for day in SEND_DAYS}
    titles |= {f"Evals of {day:%d %B}": evals(day) for day in SEND_DAYS}
    named = CARD.findall(html) + LINE.findall(html)
    assert all(title in titles for title in named), named
    return {titles[title] for title in named}


def received(sender: MemorySender) -> dict[str, tuple[str, set[str]]]:
    """address -> (the letter's subject, the comparisons it names)."""
    found = {}
    for sent in sender.sent:
        for recipient in sent.recipients:
            assert recipient.address not in found, f"{recipient.address} mailed twice in a day"
            found[recipient.address] = (sent.letter.subject, slugs_in(sent.letter.html))
    return found


def next_at(engine, settings, reader_id: int, now: datetime):
    with session_scope(engine) as session:
        found = session.get(Subscriber, reader_id)
        args = (found.timezone, found.updated_at, now, found.cadence, found.cadence_since)
    mail = next_mail_for(engine, settings, reader_id, *args)
    return mail, describe_next_mail(mail, found.timezone, settings)


def test_each_cadence_over_ten_weeks_across_a_month_end_and_two_clock_changes(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    ids = {
        "weekly": reader(engine, "weekly@example.com", LONDON, cadence.WEEKLY, date(2026, 2, 20)),
        "monthly": reader(engine, "monthly@example.com", LONDON, cadence.MONTHLY, date(2026, 2, 1), ["Voice"]),
        "monthly-2": reader(engine, "monthly-2@example.com", LONDON, cadence.MONTHLY, date(2026, 2, 9), ["Voice"]),
        "fortnightly": reader(engine, "fortnightly@example.com", NEW_YORK, cadence.FORTNIGHTLY, date(2026, 2, 27)),
        "midway": reader(engine, "midway@example.com", LONDON, cadence.WEEKLY, date(2026, 2, 20)),
        "changer": reader(engine, "changer@example.com", LONDON, cadence.MONTHLY, date(2026, 2, 1)),
    }
    senders: list = []
    predicted: dict[str, datetime] = {}
    got: dict[str, list[date]] = defaultdict(list)
    letters: dict[tuple[str, date], set[str]] = {}

    for day in SEND_DAYS:
        if day == date(2026, 3, 23):  # Wednesday 18 March, 10:00 UTC: after the edition of 16 March
            choose(engine, settings, ids["midway"], cadence.FORTNIGHTLY, datetime(2026, 3, 18, 10, tzinfo=UTC))
        if day == date(2026, 4, 13):  # Wednesday 8 April: the monthly reader goes weekly
            choose(engine, settings, ids["changer"], cadence.WEEKLY, datetime(2026, 4, 8, 10, tzinfo=UTC))
        for name, reader_id in ids.items():  # what the preferences page says before the day's waves
            predicted[name] = next_at(engine, settings, reader_id, slot_of(day, LONDON, settings) - timedelta(hours=9))[
                0
            ].at
        sender = send_day(engine, settings, day, senders)
        mails = received(sender)
        for name in ids:
            address = f"{name}@example.com"
            if address in mails:
                got[name].append(day)
                letters[(name, day)] = mails[address][1]
                zone = NEW_YORK if name == "fortnightly" else LONDON
                assert predicted[name] == slot_of(day, zone, settings), (name, day)  # the line was true
            else:
                assert predicted[name] > slot_of(day, NEW_YORK, settings), (name, day)  # it said later

    mondays = SEND_DAYS
    assert got["weekly"] == mondays
    assert got["monthly"] == got["monthly-2"] == [date(2026, 3, 2), date(2026, 4, 6), date(2026, 5, 4)]
    assert got["fortnightly"] == [
        date(2026, 3, 2),
        date(2026, 3, 16),
        date(2026, 3, 30),
        date(2026, 4, 13),
        date(2026, 4, 27),
    ]
    # weekly until its choice (16 March's edition closed its window), then every second Monday from 23 March
    assert got["midway"] == [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
        date(2026, 3, 23),
        date(2026, 4, 6),
        date(2026, 4, 20),
        date(2026, 5, 4),
    ]
    assert got["changer"] == [date(2026, 3, 2), date(2026, 4, 6), *mondays[6:]]

    # A weekly reader's letter is that week's edition; a monthly one gathers its topics since the last.
    assert letters[("weekly", date(2026, 4, 6))] == {voice(date(2026, 4, 6)), evals(date(2026, 4, 6))}
    april = letters[("monthly", date(2026, 4, 6))]
    assert april == {voice(d) for d in mondays[1:6]}  # 9 March ... 6 April, Voice only
    assert letters[("monthly", date(2026, 5, 4))] == {voice(d) for d in mondays[6:10]}
    assert letters[("fortnightly", date(2026, 3, 30))] == {
        name(d) for d in (date(2026, 3, 23), date(2026, 3, 30)) for name in (voice, evals)
    }
    assert letters[("midway", date(2026, 3, 23))] == {voice(date(2026, 3, 23)), evals(date(2026, 3, 23))}
    assert letters[("midway", date(2026, 4, 6))] == {
        n(d) for d in (date(2026, 3, 30), date(2026, 4, 6)) for n in (voice, evals)
    }
    assert letters[("changer", date(2026, 4, 13))] == {voice(date(2026, 4, 13)), evals(date(2026, 4, 13))}

    # The two monthly readers share one letter: one request, rendered once.
    [april_sender] = [s for d, s in senders if d == date(2026, 4, 6)]
    [shared] = [s for s in april_sender.sent if "monthly@example.com" in {r.address for r in s.recipients}]
    assert {r.address for r in shared.recipients} == {"monthly@example.com", "monthly-2@example.com"}
    assert "since Monday 2 March" in shared.letter.html

    # Nobody was mailed twice: one ledger row per reader and edition, and each mail one per day.
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT edition_id, subscriber_id, count(*) FROM delivery GROUP BY 1, 2")
        ).all()
    assert rows and all(n == 1 for _, _, n in rows)
    assert sum(len(days) for days in got.values()) == sum(len(s.addresses()) for _, s in senders)


def test_a_monthly_late_joiner_is_not_late_and_is_told_the_first_monday_of_next_month(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    reader(engine, "weekly@example.com", LONDON, cadence.WEEKLY, date(2026, 2, 20))
    day = date(2026, 4, 13)
    for earlier in SEND_DAYS[:6]:
        send_day(engine, settings, earlier, [])
    sender = MemorySender()
    run_wave(engine, settings, slot_of(day, LONDON, settings), (LONDON,), sender=sender, final=True)
    assert set(sender.addresses()) == {"weekly@example.com"}

    # Monday 13 April, 10:00 UTC, after London's wave: a reader confirms, monthly, and a weekly one joins.
    ten = datetime(2026, 4, 13, 10, tzinfo=UTC)
    late_monthly = reader(engine, "late-monthly@example.com", LONDON, cadence.MONTHLY, None, status="pending")
    late_weekly = reader(engine, "late-weekly@example.com", LONDON, cadence.WEEKLY, None, status="pending")
    for reader_id in (late_monthly, late_weekly):
        with session_scope(engine) as session:
            service.confirm(session, session.get(Subscriber, reader_id).token, "192.0.2.1", ten)
    with session_scope(engine) as session:
        assert session.get(Subscriber, late_monthly).cadence_since == date(2026, 4, 13)
    found = late_readers(engine, settings, ten + timedelta(minutes=1))
    assert found is not None and set(found.readers) == {late_weekly}  # the monthly reader is not "late"
    late = MemorySender()
    send_late_readers(engine, settings, ten + timedelta(minutes=1), sender=late)
    assert late.addresses() == ["late-weekly@example.com"]
    mail, line = next_at(engine, settings, late_monthly, ten + timedelta(minutes=2))
    assert mail.at == datetime(2026, 5, 4, 7, 0, tzinfo=UTC) and not mail.soon  # 08:00 BST
    assert line == "Monday 4 May at 08:00, your time (Europe/London)"

    # 4 May: their first letter holds the editions since the send day before they joined (13 April's
    # among them, as a weekly joiner got it that day), no more.
    for later in (date(2026, 4, 20), date(2026, 4, 27)):
        assert "late-monthly@example.com" not in send_day(engine, settings, later, []).addresses()
    may = received(send_day(engine, settings, date(2026, 5, 4), []))
    assert may["late-monthly@example.com"][1] == {n(d) for d in SEND_DAYS[6:10] for n in (voice, evals)}
    assert may["weekly@example.com"][1] == {voice(date(2026, 5, 4)), evals(date(2026, 5, 4))}


def test_windows_are_a_pure_function_of_cadence_day_and_send_day():
    monday = date(2026, 4, 6)
    assert cadence.window_start(cadence.WEEKLY, date(2020, 1, 1), monday) == date(2026, 3, 30)
    assert cadence.window_start(cadence.MONTHLY, date(2026, 1, 1), monday) == date(2026, 3, 2)
    assert cadence.window_start(cadence.MONTHLY, date(2026, 1, 1), date(2026, 4, 13)) is None
    assert cadence.window_start(cadence.MONTHLY, date(2026, 3, 31), monday) == date(2026, 3, 30)  # joined late
    assert cadence.one_back(cadence.MONTHLY, date(2026, 1, 5)) == date(2025, 12, 1)
    assert cadence.one_back(cadence.MONTHLY, date(2026, 3, 2)) == date(2026, 2, 2)
    assert cadence.window_start(cadence.FORTNIGHTLY, date(2026, 3, 19), date(2026, 3, 23)) == date(2026, 3, 16)
    assert cadence.window_start(cadence.FORTNIGHTLY, date(2026, 3, 19), date(2026, 3, 30)) is None
    assert cadence.window_start(cadence.FORTNIGHTLY, date(2026, 3, 19), date(2026, 4, 6)) == date(2026, 3, 23)
    assert cadence.next_due(cadence.MONTHLY, date(2026, 4, 13), date(2026, 4, 20)) == date(2026, 5, 4)
    assert cadence.send_days_in(date(2026, 3, 2), monday) == [monday - timedelta(weeks=n) for n in range(5)]
    for word in ("Weekly", " monthly ", "FORTNIGHTLY", ""):
        assert cadence.parse(word) in cadence.ALL
    try:
        cadence.parse("daily")
    except ValueError as exc:
        assert "'daily' is not a cadence (choose weekly, fortnightly, monthly)" == str(exc)
    else:
        raise AssertionError("daily was taken")


def test_variant_letters_share_one_render_per_window_and_topics(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    for day in SEND_DAYS[:6]:
        send_day(engine, settings, day, [])
    with session_scope(engine) as session:
        edition = session.exec(sa.select(Edition).where(Edition.week == "2026-W14")).scalar_one()  # sent 6 April
        shown = offered(session, edition)
    letters = VariantLetters(engine, settings, edition, shown)
    key = letters.choose('["Voice"]', 1, cadence.MONTHLY, "2026-02-01")
    assert key == letters.choose('["Voice"]', 2, cadence.MONTHLY, date(2026, 3, 1))  # same window, same letter
    assert "|w20260302" in key
    assert letters.choose('["Voice"]', 3, cadence.MONTHLY, None) == key
    assert letters.choose("[]", 4, cadence.FORTNIGHTLY, date(2026, 4, 6)) == letters.choose("[]", 5)  # a first one
    assert letters.choose("[]", 6, cadence.FORTNIGHTLY, date(2026, 3, 30)) is NOT_DUE
    letters.letter(key)
    letters.letter(letters.choose('["Voice"]', 7, cadence.MONTHLY, date(2026, 2, 20)))
    assert len(letters.rendered) == 1
