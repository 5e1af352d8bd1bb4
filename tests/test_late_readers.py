"""Every reader gets each edition meant for them exactly once, however late they join or move.

The send day is Sunday 29 March 2026, 08:00 in each reader's zone (DIGEST_TIMEZONE Europe/London);
the edition is 2026-W12's. Its waves: Paris 06:00 UTC, London 07:00 UTC, Los Angeles 15:00 UTC
(Tokyo's would be Saturday 23:00 UTC, but nobody is in Tokyo when the day begins). At 10:00 UTC
readers confirm, come back or move: those whose zone's slot has passed (Paris, used; Tokyo,
unused) and who have not had the edition get it, in their variant, at the scheduler's next look for
late readers; one who had it is never mailed again; one whose wave is still to come waits for it.
Until the next send day's first wave, then never (the next edition is theirs). The clock is the
seam: every step is told its moment (the scheduler's `context.now()`, a ShiftedClock in the last test).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import add_reader, set_preferences, topical

from digest.editions.models import Edition
from digest.editions.status import EditionStatus
from digest.jobs import build_scheduler, run_wave, send_late_readers
from digest.mail.memory import MemorySender
from digest.send_days import describe_next_mail, late_readers, next_mail_for
from digest.settings import Settings
from digest.store import session_scope
from schedules import ShiftedClock
from subscribers import service
from subscribers.models import Subscriber

VOICE, EVALS = "Murmurcast vs Tidewell", "Relaybench vs Lanternops"
PARIS_WAVE = datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
LONDON_WAVE = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
LA_WAVE = datetime(2026, 3, 29, 15, 0, tzinfo=UTC)
TEN = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)


def settings_for(db_url: str) -> Settings:
    return Settings.from_env(
        {
            "DIGEST_DATABASE_URL": db_url,
            "DIGEST_BACKEND": "memory",
            "DIGEST_TIMEZONE": "Europe/London",
            "DIGEST_SEND_DAY": "sunday",
            "DIGEST_SEND_TIME": "08:00",
        }
    )


def seed(engine) -> None:
    with session_scope(engine) as session:
        topical(session, "murmurcast-vs-tidewell", "2026-03-18 09:00", ("Voice", "Voice"), VOICE)
        topical(session, "relaybench-vs-lanternops", "2026-03-19 09:00", ("Evaluation", "Evaluation"), EVALS)


def reader(engine, email: str, zone: str | None, *, status: str = "active", when: datetime, topics=()) -> int:
    reader_id, _ = add_reader(engine, email, status=status)
    set_preferences(engine, [reader_id], timezone=zone, topics=list(topics), when=when)
    return reader_id


def confirm(engine, reader_id: int, now: datetime) -> None:
    with session_scope(engine) as session:
        token = session.get(Subscriber, reader_id).token
        service.confirm(session, token, "192.0.2.1", now)


def move(engine, reader_id: int, zone: str, now: datetime) -> None:
    set_preferences(engine, [reader_id], timezone=zone, when=now)


def mailed(sender: MemorySender) -> list[str]:
    return sorted(sender.addresses())


def next_mail(engine, settings, reader_id: int, now: datetime):
    with session_scope(engine) as session:
        found = session.get(Subscriber, reader_id)
        zone, changed = found.timezone, found.updated_at
    return next_mail_for(engine, settings, reader_id, zone, changed, now), zone


def test_late_joiners_and_movers_get_this_weeks_edition_once_in_their_variant(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    before = PARIS_WAVE - timedelta(days=1)
    paris = reader(engine, "paris@example.com", "Europe/Paris", when=before)
    la = reader(engine, "la@example.com", "America/Los_Angeles", when=before)
    waves = MemorySender()
    for slot, zone in ((PARIS_WAVE, "Europe/Paris"), (LONDON_WAVE, "Europe/London")):
        run_wave(engine, settings, slot, (zone,), sender=waves, final=False)
    assert mailed(waves) == ["paris@example.com"]

    # 10:00 UTC: Paris's and Tokyo's 08:00 have passed, Los Angeles's has not.
    joiner = reader(engine, "joiner@example.com", "Europe/Paris", status="pending", when=before)
    confirm(engine, joiner, TEN)  # a used zone whose wave has gone
    tokyo = reader(engine, "tokyo@example.com", "Asia/Tokyo", status="pending", when=before, topics=["Voice"])
    confirm(engine, tokyo, TEN)  # a zone nobody used
    move(engine, la, "Europe/Paris", TEN)  # from a wave still to come to one that has gone
    move(engine, paris, "America/Los_Angeles", TEN)  # had it: never again, not even at LA's wave
    la_joiner = reader(engine, "la-joiner@example.com", "America/Los_Angeles", status="pending", when=before)
    confirm(engine, la_joiner, TEN)  # their wave is still to come: it mails them

    now = TEN + timedelta(seconds=20)
    mail, zone = next_mail(engine, settings, joiner, now)
    assert mail.soon and mail.at == datetime(2026, 3, 29, 10, 2, tzinfo=UTC)
    assert describe_next_mail(mail, zone, settings).startswith(
        "within a few minutes, by 12:02 your time (Europe/Paris)"
    )
    mail, zone = next_mail(engine, settings, la_joiner, now)
    assert (mail.at, mail.soon) == (LA_WAVE, False)
    assert describe_next_mail(mail, zone, settings) == "Sunday 29 March at 08:00, your time (America/Los_Angeles)"
    mail, zone = next_mail(engine, settings, paris, now)
    assert mail.at == LA_WAVE + timedelta(days=7) and not mail.soon

    late = MemorySender()
    assert send_late_readers(engine, settings, TEN + timedelta(minutes=1), sender=late).startswith(
        "edition 1: 3 readers"
    )
    assert mailed(late) == ["joiner@example.com", "la@example.com", "tokyo@example.com"]
    [tokyo_mail] = [s for s in late.sent if s.recipients[0].address == "tokyo@example.com"]
    assert VOICE in tokyo_mail.letter.html and EVALS not in tokyo_mail.letter.html  # their variant
    assert send_late_readers(engine, settings, TEN + timedelta(minutes=2), sender=late) is None
    mail, zone = next_mail(engine, settings, joiner, TEN + timedelta(minutes=2))
    assert (mail.at, mail.soon) == (PARIS_WAVE + timedelta(days=7), False)
    assert describe_next_mail(mail, zone, settings) == "Sunday 5 April at 08:00, your time (Europe/Paris)"

    la_wave = MemorySender()
    run_wave(engine, settings, LA_WAVE, ("America/Los_Angeles",), sender=la_wave, final=True)
    assert mailed(la_wave) == ["la-joiner@example.com"]
    with session_scope(engine) as session:
        assert session.get(Edition, 1).status == EditionStatus.SENT
    everyone = waves.addresses() + late.addresses() + la_wave.addresses()
    assert len(everyone) == len(set(everyone)) == 5  # each reader once, the mover's first copy included


def test_an_edition_already_sent_is_owed_until_the_next_send_days_first_wave(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    before = PARIS_WAVE - timedelta(days=1)
    reader(engine, "paris@example.com", "Europe/Paris", when=before)
    run_wave(engine, settings, PARIS_WAVE, ("Europe/Paris",), sender=MemorySender(), final=True)
    with session_scope(engine) as session:
        assert session.get(Edition, 1).status == EditionStatus.SENT

    saturday = datetime(2026, 4, 4, 5, 0, tzinfo=UTC)  # Saturday: the next first wave is Sunday's Paris one
    berlin = reader(engine, "berlin@example.com", "Europe/Berlin", status="pending", when=before)
    confirm(engine, berlin, saturday)
    late = MemorySender()
    send_late_readers(engine, settings, saturday + timedelta(minutes=1), sender=late)
    assert mailed(late) == ["berlin@example.com"]

    # After the next send day's first wave, a late joiner waits for the next edition (not built here).
    next_day = datetime(2026, 4, 5, 6, 30, tzinfo=UTC)
    kyiv = reader(engine, "kyiv@example.com", "Europe/Kyiv", status="pending", when=before)
    confirm(engine, kyiv, next_day)
    assert late_readers(engine, settings, next_day + timedelta(minutes=1)) is None
    mail, _ = next_mail(engine, settings, kyiv, next_day + timedelta(minutes=1))
    assert mail.at == datetime(2026, 4, 12, 5, 0, tzinfo=UTC) and not mail.soon


def test_a_reader_who_joined_before_their_wave_is_left_to_it_and_a_paused_edition_to_a_person(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    before = PARIS_WAVE - timedelta(days=1)
    reader(engine, "paris@example.com", "Europe/Paris", when=before)
    run_wave(engine, settings, PARIS_WAVE, ("Europe/Paris",), sender=MemorySender(), final=False)
    early = reader(engine, "early@example.com", "America/Los_Angeles", status="pending", when=before)
    confirm(engine, early, TEN)
    assert late_readers(engine, settings, TEN + timedelta(minutes=1)) is None  # their wave mails them
    move(engine, early, "Europe/Paris", TEN + timedelta(minutes=5))
    found = late_readers(engine, settings, TEN + timedelta(minutes=6))
    assert found is not None and found.readers == (early,)
    with session_scope(engine) as session:
        session.get(Edition, 1).status = EditionStatus.PAUSED
    assert late_readers(engine, settings, TEN + timedelta(minutes=6)) is None


def test_the_scheduler_mails_a_late_reader_at_its_next_beat(db_url, engine, caplog):
    settings = settings_for(db_url)
    seed(engine)
    before = PARIS_WAVE - timedelta(days=1)
    reader(engine, "paris@example.com", "Europe/Paris", when=before)
    sent = MemorySender()

    def beat(at: datetime) -> None:
        scheduler = build_scheduler(
            engine, settings, clock=ShiftedClock(at), confirmations=False, sender_factory=lambda: sent
        )
        scheduler.run_once()

    beat(PARIS_WAVE + timedelta(seconds=30))  # the Paris wave, recorded as the scheduler does
    assert sent.addresses() == ["paris@example.com"]
    joiner = reader(engine, "joiner@example.com", "Europe/Paris", status="pending", when=before)
    confirm(engine, joiner, TEN)
    caplog.set_level("INFO")
    beat(TEN + timedelta(seconds=30))
    assert sent.addresses() == ["paris@example.com", "joiner@example.com"]
    assert "late-readers: edition 1: 1 reader who joined or moved after their wave mailed it" in caplog.text
    beat(TEN + timedelta(seconds=90))
    assert sent.addresses() == ["paris@example.com", "joiner@example.com"]
