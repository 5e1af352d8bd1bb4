"""The welcome mail: on confirmation, at least once, through the same path as confirmation mails.

What it says (topics, when the first edition arrives, the preferences link) and carries (one-click
unsubscribe headers, Auto-Submitted); a reader whose first edition goes out within minutes (they
joined after their wave) gets the welcome in that edition instead of a second mail; DIGEST_WELCOME=off;
the web app sends it after the confirmation; a kill -9 of the sending process loses none.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import sqlalchemy as sa
from helpers import add_reader, add_readers, digest_env, running, serve_site, start_process, wait_for
from sendgrid_server import SendGridServer
from test_late_readers import PARIS_WAVE, TEN, reader, seed, settings_for

from digest.delivery.welcomes import send_welcomes
from digest.jobs import run_wave, send_late_readers
from digest.mail.memory import MemorySender
from digest.mail.message import to_mime
from digest.send_days import reader_schedule, waves_of, welcome_timing
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import links, service, status
from subscribers.models import Subscriber
from subscribers.tokens import ConfirmationTokens


def owed(engine) -> set[str]:
    table = Subscriber.__table__
    with engine.connect() as connection:
        query = sa.select(table.c.email).where(table.c.welcome_due_at.is_not(None))
        return set(connection.execute(query).scalars())


def welcome_now(engine, settings, at: datetime, sender) -> int:
    return send_welcomes(
        engine,
        settings,
        welcome_timing(engine, settings, lambda: at),
        partial(reader_schedule, settings),
        sender=sender,
    )


def test_a_reader_who_confirms_is_welcomed_once_with_their_topics_first_edition_and_links(db_url, engine):
    settings = settings_for(db_url)
    monday = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)  # the day after the send day: nothing is owed now
    ada, token = add_reader(engine, "ada@example.com", status=status.PENDING)
    with session_scope(engine) as session:
        found = session.get(Subscriber, ada)
        found.topics, found.timezone = ["Voice", "R&D"], "Asia/Tokyo"
        service.confirm(session, token, None, monday, welcome=True)
    sender = MemorySender()
    assert welcome_now(engine, settings, monday, sender) == 1
    assert welcome_now(engine, settings, monday, sender) == 0  # once
    [sent] = sender.sent
    mail = to_mime(sent.letter, sent.recipients[0])
    assert mail["Subject"] == "Welcome to Weekly AI Tool Verdicts"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["List-Unsubscribe"] == f"<{links.unsubscribe_url(settings.base_url, token)}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(("plain",)).get_content()
    assert "Your topics: Voice, R&D" in text
    assert "Your first edition arrives Sunday 5 April at 08:00, your time (Asia/Tokyo)." in text
    assert links.preferences_url(settings.base_url, token) in text
    html = mail.get_body(("html",)).get_content()
    assert "Voice, R&amp;D" in html and links.preferences_url(settings.base_url, token) in html
    assert owed(engine) == set()


def test_each_welcome_names_when_the_readers_own_cadence_brings_their_letters(db_url, engine):
    settings = settings_for(db_url)
    monday = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    for cadence in ("weekly", "fortnightly", "monthly"):
        reader_id, token = add_reader(engine, f"{cadence}@example.com", status=status.PENDING)
        with session_scope(engine) as session:
            session.get(Subscriber, reader_id).cadence = cadence
            service.confirm(session, token, None, monday, welcome=True)
    sender = MemorySender()
    assert welcome_now(engine, settings, monday, sender) == 3
    said = {}
    for sent in sender.sent:
        for recipient in sent.recipients:
            text = " ".join(to_mime(sent.letter, recipient).get_body(("plain",)).get_content().split())
            said[recipient.address.split("@")[0]] = text
    day = waves_of(settings).day_name.capitalize()
    assert f"comes every {day} at 08:00 in your time zone," in said["weekly"]
    assert f"comes every second {day} at 08:00 in your time zone," in said["fortnightly"]
    assert f"comes on the first {day} of each month at 08:00 in your time zone," in said["monthly"]
    assert "of each month" not in said["weekly"] + said["fortnightly"]


def test_a_late_readers_first_edition_carries_the_welcome_instead_of_a_second_mail(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    reader(engine, "paris@example.com", "Europe/Paris", when=PARIS_WAVE - timedelta(days=1))
    run_wave(engine, settings, PARIS_WAVE, ("Europe/Paris",), sender=MemorySender(), final=False)
    late = reader(engine, "late@example.com", "Europe/Paris", status=status.PENDING, when=PARIS_WAVE)
    with session_scope(engine) as session:
        service.confirm(session, session.get(Subscriber, late).token, None, TEN, welcome=True)
    sender = MemorySender()
    assert welcome_now(engine, settings, TEN, sender) == 0  # left for the edition
    assert owed(engine) == {"late@example.com"}
    send_late_readers(engine, settings, TEN + timedelta(minutes=1), sender=sender)
    [sent] = sender.sent
    assert sent.recipients[0].address == "late@example.com"
    assert "Welcome to Weekly AI Tool Verdicts!" in sent.letter.html and "Welcome to" in sent.letter.text
    assert owed(engine) == set()
    assert welcome_now(engine, settings, TEN + timedelta(minutes=2), sender) == 0 and len(sender.sent) == 1


def test_a_late_reader_whose_edition_never_came_gets_the_welcome_mail_once_the_window_has_passed(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    reader(engine, "paris@example.com", "Europe/Paris", when=PARIS_WAVE - timedelta(days=1))
    run_wave(engine, settings, PARIS_WAVE, ("Europe/Paris",), sender=MemorySender(), final=False)
    late = reader(engine, "late@example.com", "Europe/Paris", status=status.PENDING, when=PARIS_WAVE)
    with session_scope(engine) as session:
        service.confirm(session, session.get(Subscriber, late).token, None, TEN, welcome=True)
    sender = MemorySender()
    next_week = PARIS_WAVE + timedelta(days=7, minutes=1)  # no scheduler ran the late job meanwhile
    assert welcome_now(engine, settings, next_week, sender) == 1
    assert sender.addresses() == ["late@example.com"]


def test_welcome_off_queues_and_sends_none(db_url, engine):
    settings = replace(settings_for(db_url), welcome=False)
    assert Settings.from_env({"DIGEST_WELCOME": "off"}).welcome is False
    ada, token = add_reader(engine, "ada@example.com", status=status.PENDING)
    with session_scope(engine) as session:
        service.confirm(session, token, None, TEN, welcome=settings.welcome)
    assert owed(engine) == set()
    assert welcome_now(engine, settings, TEN, MemorySender()) == 0


def test_the_web_app_welcomes_a_reader_right_after_the_confirmation(sqlite_url):
    with serve_site(sqlite_url, backend="memory") as site:
        from digest.mail import memory

        memory.outbox.clear()
        _, token = add_reader(site.engine, "ada@example.com", status=status.PENDING)
        signed = ConfirmationTokens(site.settings.secret_key).make(token)
        page = site.http.post(links.confirm_url("", signed))
        assert page.status_code == 200 and 'id="next-edition"' in page.text
        wait_for(lambda: any(s.letter.subject.startswith("Welcome") for s in memory.outbox), 10, "the welcome mail")
        # The mail leaves before its claim is settled: wait for the settling too, then look again.
        wait_for(lambda: owed(site.engine) == set(), 10, "the welcome marked sent")
        assert [r.address for s in memory.outbox for r in s.recipients] == ["ada@example.com"]


CLAIM_SEND_AND_HANG = """
import sys
from functools import partial
from digest.delivery.welcomes import send_welcomes
from digest.mail.sendgrid import SendGridSender
from digest.send_days import reader_schedule, waves_of, welcome_timing
from digest.settings import Settings
from digest.store import open_store
from digest.timeutil import utcnow
engine = open_store(sys.argv[1])
settings = Settings.from_env({"DIGEST_DATABASE_URL": sys.argv[1], "DIGEST_BACKEND": "sendgrid",
    "SENDGRID_API_KEY": "k", "SENDGRID_API_URL": sys.argv[2]})
send_welcomes(engine, settings, welcome_timing(engine, settings, utcnow), partial(reader_schedule, settings))
"""


def test_a_welcome_is_delivered_after_kill_9_of_the_sending_process(db_url):
    engine = open_store(db_url)
    ids = add_readers(engine, 30)
    with session_scope(engine) as session:
        for reader_id in ids:
            session.get(Subscriber, reader_id).welcome_due_at = utcnow()
    with SendGridServer(api_key="k") as server:
        server.delay = 600  # the provider takes the request and never answers: kill -9 lands mid-request
        process = start_process(
            [sys.executable, "-c", CLAIM_SEND_AND_HANG, db_url, server.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=digest_env(),
        )
        with running(process):
            wait_for(lambda: len(server.recipients()) >= 30, 30, "the welcome request to reach the provider")
            process.send_signal(signal.SIGKILL)
            process.wait()
        server.delay = 0
        assert len(owed(engine)) == 30  # claimed by the dead process, never settled
        settings = Settings.from_env(
            {"DIGEST_BACKEND": "sendgrid", "SENDGRID_API_KEY": "k", "SENDGRID_API_URL": server.url}
        )
        sent = send_welcomes(
            engine, settings, welcome_timing(engine, settings, utcnow), partial(reader_schedule, settings)
        )
        assert sent == 30 and owed(engine) == set()
        welcomed = [a for a, p in server.recipients() if p.get("custom_args", {}).get("purpose") == "welcome"]
        assert set(welcomed) == {f"reader{n}@example.com" for n in range(1, 31)}
        assert len(welcomed) == 60  # each twice: the one in flight when the sender died, and again
        headers = [p["headers"] for _, p in server.recipients()]
        assert all(h["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for h in headers)
    engine.dispose()


def test_nothing_of_this_loads_the_send_loop_in_the_web_app():
    # the welcome pump lives in the web app; digest.delivery.welcomes must not pull the send loop in
    code = "import sys, digest.delivery.welcomes; print('digest.delivery.engine' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
