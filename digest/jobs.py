"""The weekly send on the scheduler: waves by time zone, which week a send day carries, what operators see.

Each reader gets the edition at DIGEST_SEND_DAY DIGEST_SEND_TIME in their own time
zone (DIGEST_TIMEZONE for readers who gave none, or whose zone this machine does
not know). Zones whose slot is the same moment form a wave; the scheduler runs
each wave as its moment arrives (schedules' wave jobs), and each is recorded
like a weekly slot, so a missed wave is caught up once within DIGEST_CATCH_UP.

A send day (say Monday 08:00) sends the edition of the last complete ISO week
before it: the week the editors were preparing (the calendar is digest.send_days,
which the web app uses too, without loading this module). The first wave builds the edition
if nobody has and freezes it (comparisons imported since it was built join it),
so every reader of the week gets the same edition, in their variant. The job is
idempotent end to end: the edition is unique per week, the ledger holds one row
per reader, so a second run of a wave, a restart or a second instance sends
nothing twice. The edition is marked sent once every wave of its send day is done: never when one
was missed (older than DIGEST_CATCH_UP before the scheduler ran it, say after a first start mid-week).
Then the edition is left for the editor: a send not yet begun is not begun by a later wave (a
partial send to a few zones), and one already begun is paused after its last wave. A wave of an
edition waiting for approval is held open (unfinished: looked at again every lease time) and goes out
once it is approved; still unbegun DIGEST_CATCH_UP after its slot, it is missed like the above.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import select

from digest.delivery import ledger, send_edition
from digest.delivery.confirmations import send_pending
from digest.delivery.states import DeliveryState, SendOutcome
from digest.delivery.sunset import sunset
from digest.delivery.welcomes import send_welcomes
from digest.editions.models import Edition
from digest.editions.service import change_status, edition_items, get_edition
from digest.editions.status import EditionStatus
from digest.editors import audit
from digest.editors.approvals import approvals_of, build_as
from digest.editors.roles import Action
from digest.errors import EditionError, NothingToSend
from digest.mail import Sender
from digest.render.welcome import welcome_intro
from digest.send_days import (
    LATE_READERS_EVERY,
    describe_schedule,
    first_wave,
    late_readers,
    reader_schedule,
    schedule_of,
    waves_of,
    week_for_day,
    week_for_slot,
    welcome_timing,
    zone_of,
)
from digest.settings import Settings
from digest.store import session_scope
from digest.words import counted
from schedules import (
    SETTLED,
    SYSTEM,
    Clock,
    LeaseInfo,
    Outcome,
    RunContext,
    RunOutcome,
    RunRecord,
    Scheduler,
    Wave,
    current_lease,
    find_run,
    latest_run,
)
from subscribers import audience, welcomes

log = logging.getLogger("digest.jobs")
SCHEDULER = "scheduler"  # who the audit log says built an edition at its first wave

WEEKLY_JOB = "weekly-edition"
CONFIRMATIONS_JOB = "confirmations"
LATE_READERS_JOB = "late-readers"
SUNSET_JOB = "sunset"
SUNSET_EVERY = timedelta(hours=1)
RETENTION_JOB = "retention"
RETENTION_EVERY = timedelta(hours=1)
CONFIRMATIONS_EVERY = timedelta(minutes=1)
DEFAULT_LEASE_TTL = timedelta(seconds=60)
ZONES_RECHECK = timedelta(minutes=1)


def catch_up_of(settings: Settings) -> timedelta:
    return timedelta(hours=settings.catch_up_hours)


def stored_zones(engine: Engine) -> list[str | None]:
    with engine.connect() as connection:
        return audience.zones_in_use(connection)


def zones_in_use(engine: Engine, settings: Settings, stored: list[str | None] | None = None) -> list[ZoneInfo]:
    """The zones of the readers who receive editions (from `stored`, when already read), and the newsletter's."""
    found = {settings.timezone.key: settings.timezone}
    for name in stored_zones(engine) if stored is None else stored:
        zone = zone_of(name, settings)
        found.setdefault(zone.key, zone)
    return list(found.values())


@dataclass(frozen=True)
class SendDay:
    """The other waves of a wave's send day, as their run records have them."""

    last: bool  # every other wave is settled (done, skipped, paused or missed): this one is the last
    missed: tuple[Wave, ...]  # those recorded missed (older than DIGEST_CATCH_UP before any instance ran them)

    def describe_missed(self) -> str:
        when = ", ".join(f"{w.slot:%a %H:%M} UTC ({', '.join(w.zones)})" for w in self.missed)
        one = len(self.missed) == 1
        return f"the {'wave' if one else 'waves'} of {when} {'was' if one else 'were'} missed"


def send_day_of(engine: Engine, settings: Settings, slot: datetime, day: date, stored: list[str | None]) -> SendDay:
    """What the run records say of the other waves of the send day `day` (the wave at `slot` aside)."""
    others = [w for w in waves_of(settings).cycle(zones_in_use(engine, settings, stored), day) if w.slot != slot]
    records = {w.slot: find_run(engine, WEEKLY_JOB, w.slot) for w in others}
    # Every other wave settled: the last to end, whatever its slot (a wave held for approval may end after
    # the waves that follow it).
    last = all(r is not None and r.outcome in SETTLED for r in records.values())
    missed = tuple(w for w in others if records[w.slot] is not None and records[w.slot].outcome == RunOutcome.MISSED)
    return SendDay(last, missed)


def _left_for_editor(number: int, week: str, day: SendDay, *, begun: bool) -> str:
    """Why the scheduler leaves an edition to a person, and what the person runs."""
    if not begun:
        return (
            f"edition {number} for {week} is left for the editor: {day.describe_missed()}, and the scheduler "
            "never begins a send it cannot make to every zone; `digest editions send --edition "
            f"{number}` mails every reader at once (or leave it unsent)"
        )
    return (
        f"edition {number} for {week} is paused for the editor, not marked sent: {day.describe_missed()}; "
        f"`digest editions send --edition {number}` mails their readers"
    )


def wave_missed(engine: Engine, settings: Settings, slot: datetime, zones: tuple[str, ...]) -> str | None:
    """A wave found older than the catch-up window before it ran (recorded missed by the scheduler): its
    edition is never marked sent by the scheduler. When this was the last wave of a send already begun,
    the edition is paused for the editor now; when the send has not begun, no later wave begins it."""
    names = tuple(zones) or (settings.timezone.key,)
    zone = ZoneInfo(names[0])
    week = week_for_slot(slot, settings, zone)
    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.week == week)).first()
        if edition is None or edition.status == EditionStatus.SENT:
            return None if edition is not None else f"the edition of {week} is left for the editor"
        begun = edition.status != EditionStatus.DRAFT or edition.frozen_at is not None
        day = send_day_of(engine, settings, slot, slot.astimezone(zone).date(), stored_zones(engine))
        this = Wave(slot, names)
        day = SendDay(day.last, tuple(sorted((*day.missed, this), key=lambda w: w.slot)))
        if begun and day.last:
            change_status(session, edition.id, EditionStatus.PAUSED)
        elif begun:
            return (
                f"edition {edition.number} is not marked sent when the later waves are done; "
                "its readers are left for the editor"
            )
        return _left_for_editor(edition.number, week, day, begun=begun)


def run_wave(
    engine: Engine,
    settings: Settings,
    slot: datetime,
    zones: tuple[str, ...] | None = None,
    *,
    sender: Sender | None = None,
    should_stop=None,
    resumed: bool = False,
    final: bool | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Send the slot's edition to the readers of the wave's zones who have not had it, each in their
    variant (building and freezing the edition first, at the send day's first wave).

    `zones` are the wave's zone names; None sends to every reader at once, whatever their zone (and
    the edition is then sent when they are done). `final` (default: whether every other wave of the
    send day is settled) says whether the edition is sent once this wave is done. `now` (the
    scheduler's clock): a wave whose send has not begun by DIGEST_CATCH_UP after its slot, held for
    approval until then, is missed, as a wave no scheduler ran in time is.
    """
    names = tuple(zones or ()) or (settings.timezone.key,)
    zone = ZoneInfo(names[0])
    week = week_for_slot(slot, settings, zone)
    with session_scope(engine) as session:
        built = build_as(session, settings, week, SCHEDULER, now=slot)
        if built.edition is None:
            return Outcome.skipped(built.reason)
        number, status = built.edition.number, built.edition.status
        begun = built.edition.frozen_at is not None
        empty = not edition_items(session, built.edition)
    if built.created:
        log.info("%s", built.reason)
    if empty and status != EditionStatus.SENT:
        return Outcome.skipped(f"edition {number} for {week} has no comparisons left in it (all excluded)")
    if status == EditionStatus.PAUSED and not resumed and zones is not None:
        return Outcome.paused(
            f"edition {number} for {week} is paused (too many errors or complaints, or a send "
            "was stopped), so this wave waits for a person: `digest editions show "
            f"{number}` says how far it got; `digest editions send --edition {number}` "
            "resumes it, mailing every reader left at once"
        )
    if zones is not None and now is not None and status == EditionStatus.DRAFT and not begun:
        late = now - slot
        if late > catch_up_of(settings):  # held for approval (or stopped before it began) past its window
            follows = wave_missed(engine, settings, slot, names)
            return Outcome.missed(
                f"its send had not begun {_hours(late)} after its wave (held for approval, or stopped before "
                f"it began), more than the catch-up window of {_hours(catch_up_of(settings))}; not sent late"
                + (f"; {follows}" if follows else "")
            )
    if status == EditionStatus.DRAFT:
        with session_scope(engine) as session:
            approvals = approvals_of(session, settings, get_edition(session, number))
        if settings.approvals > 0 and not approvals.met:
            return Outcome.unfinished(approvals.refusal())  # held: the slot stays open, looked at again
    in_use = [] if zones is None else stored_zones(engine)
    stored = None if zones is None else [s for s in in_use if zone_of(s, settings).key in names]
    day = None if zones is None else send_day_of(engine, settings, slot, slot.astimezone(zone).date(), in_use)
    if day is not None and day.missed and status == EditionStatus.DRAFT and not begun:
        return Outcome.paused(_left_for_editor(number, week, day, begun=False))
    if final is None:
        final = day is None or (day.last and not day.missed)
    # A comparison dated after the send day's first wave goes out with the next edition (never a failed wave).
    first = slot if zones is None else min(slot, first_wave(engine, settings, week))
    try:
        summary = send_edition(
            engine,
            settings,
            number,
            sender=sender,
            should_stop=should_stop,
            zones=stored,
            final=final,
            carry_after=first,
        )
    except NothingToSend as exc:  # every comparison it held was dated after its first wave
        return Outcome.skipped(str(exc))
    if summary.frozen:
        log.info("%s", summary.frozen)
        with session_scope(engine) as session:  # the audit log: the scheduler began this edition's send
            audit.record(session, SCHEDULER, Action.SEND, edition=number, detail=f"first wave {', '.join(names)}")
    wave = "" if zones is None else f" (wave {', '.join(names)})"
    counts = f"edition {number} for {week}: {summary.sent_now} sent by this run{wave}; " + (
        f"this wave {summary.failed} failed, {summary.uncertain} uncertain, {summary.skipped} skipped"
        if summary.status == SendOutcome.WAITING
        else f"ledger {summary.sent} sent, {summary.failed} failed, {summary.uncertain} uncertain, "
        f"{summary.skipped} skipped"
    )
    if summary.status == SendOutcome.SENT:
        return Outcome.done(
            counts
            if summary.sent_now or status != EditionStatus.SENT
            else f"edition {number} for {week} was already sent; nothing to do"
        )
    if summary.status == SendOutcome.WAITING and day is not None and day.last and day.missed:
        with session_scope(engine) as session:  # the last wave of a send day with a wave missed
            change_status(session, built.edition.id, EditionStatus.PAUSED)
        return Outcome.done(f"{counts}; {_left_for_editor(number, week, day, begun=True)}")
    if summary.status == SendOutcome.WAITING:
        return Outcome.done(f"{counts}; later waves follow")
    if summary.status == SendOutcome.SENDING:
        return Outcome.done(f"{counts}; another sender is finishing the rest")
    if summary.status == SendOutcome.STOPPED:
        return Outcome.unfinished(f"{counts}; stopped before the end, {summary.pending} readers not yet mailed")
    return Outcome.paused(
        f"{counts}; paused: {summary.reason or 'see digest editions send'} "
        f"(resume with: digest editions send --edition {number})"
    )


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f} h".replace(".0 h", " h")


def run_week(
    engine: Engine, settings: Settings, slot: datetime, *, sender: Sender | None = None, should_stop=None
) -> Outcome:
    """The slot's edition to every reader at once, whatever their zone (`run_wave` with no zones)."""
    return run_wave(engine, settings, slot, None, sender=sender, should_stop=should_stop)


def send_late_readers(
    engine: Engine, settings: Settings, now: datetime, *, sender: Sender | None = None, should_stop=None
) -> str | None:
    """The current send day's edition to the readers who joined or moved after their wave and have
    not had it (digest.send_days says who), each in their variant; None when nobody is owed it.
    Readers owed a welcome (DIGEST_WELCOME) get it in this edition, and no welcome mail of its own."""
    late = late_readers(engine, settings, now)
    if late is None:
        return None
    with engine.connect() as connection:
        owed = sorted(welcomes.owed_among(connection, late.readers)) if settings.welcome else []
    rest = sorted(set(late.readers) - set(owed))
    sent = 0
    for readers, welcome in ((owed, welcome_intro(settings)), (rest, None)):
        if not readers:
            continue
        summary = send_edition(
            engine,
            settings,
            late.edition,
            sender=sender,
            should_stop=should_stop,
            readers=readers,
            final=False,
            welcome=welcome,
        )
        sent += summary.sent_now
        if welcome is not None:
            with engine.begin() as connection:
                states = ledger.states_among(connection, late.edition_id, readers)
                welcomes.carried(connection, [r for r, state in states.items() if state == DeliveryState.SENT])
    return (
        f"edition {late.edition}: {counted(sent, 'reader')} who joined or moved after their "
        f"wave mailed it ({counted(len(late.readers), 'late reader')} found, {len(owed)} welcomed in it)"
    )


def build_scheduler(
    engine: Engine,
    settings: Settings,
    *,
    clock: Clock = SYSTEM,
    lease_ttl: timedelta = DEFAULT_LEASE_TTL,
    confirmations: bool = True,
    sender_factory=None,
    recheck: timedelta = ZONES_RECHECK,
    late: bool = True,
) -> Scheduler:
    """The application's scheduler: the weekly send in waves; every minute, queued confirmation and
    welcome mails and the edition to readers who joined or moved after their wave (`late`); every
    hour, with DIGEST_SUNSET_AFTER set, re-permission mails and lapses."""
    scheduler = Scheduler(engine, clock=clock, lease_ttl=lease_ttl)
    # A wave and the late readers' job never send at once from this process (on SQLite one sender
    # holds the store's send lock): a wave waits for a late readers' run, which skips a beat for a wave.
    sending = threading.Lock()

    def wave(context: RunContext) -> Outcome:
        sender = sender_factory() if sender_factory else None
        try:
            with sending:
                return run_wave(
                    engine,
                    settings,
                    context.slot,
                    context.zones,
                    sender=sender,
                    should_stop=context.should_stop,
                    resumed=context.resumed,
                    now=context.now(),
                )
        finally:
            if sender is not None:
                sender.close()

    scheduler.waves(
        WEEKLY_JOB,
        schedule_of(settings),
        lambda: zones_in_use(engine, settings),
        wave,
        catch_up=catch_up_of(settings),
        recheck=recheck,
        missed=lambda context: wave_missed(engine, settings, context.slot, context.zones),
    )
    if confirmations:
        timing = welcome_timing(engine, settings, clock.now)

        def confirm(_context: RunContext) -> str | None:
            sent = send_pending(engine, settings)
            welcomed = send_welcomes(engine, settings, timing, reader_schedule(settings))
            said = [counted(sent, "confirmation mail")] if sent else []
            said += [counted(welcomed, "welcome mail")] if welcomed else []
            return f"sent {' and '.join(said)}" if said else None

        scheduler.every(CONFIRMATIONS_JOB, CONFIRMATIONS_EVERY, confirm)
    if late:

        def late_readers_job(context: RunContext) -> str | None:
            if not sending.acquire(blocking=False):
                return None  # a wave is sending: the next beat looks again
            sender = sender_factory() if sender_factory else None
            try:
                return send_late_readers(
                    engine, settings, context.now(), sender=sender, should_stop=context.should_stop
                )
            finally:
                sending.release()
                if sender is not None:
                    sender.close()

        scheduler.every(LATE_READERS_JOB, LATE_READERS_EVERY, late_readers_job)
    if settings.sunset_after is not None:

        def sunset_job(context: RunContext) -> str | None:
            sender = sender_factory() if sender_factory else None
            try:
                done = sunset(engine, settings, context.now(), sender=sender)
            finally:
                if sender is not None:
                    sender.close()
            said = [counted(done.asked, "re-permission mail")] if done.asked else []
            said += [f"{counted(done.lapsed, 'reader')} lapsed"] if done.lapsed else []
            return "; ".join(said) or None

        scheduler.every(SUNSET_JOB, SUNSET_EVERY, sunset_job)
    if settings.retain_days is not None:

        def retention_job(context: RunContext) -> str | None:
            return retain(engine, settings, context.now())

        scheduler.every(RETENTION_JOB, RETENTION_EVERY, retention_job)
    return scheduler


def retain(engine: Engine, settings: Settings, now: datetime) -> str | None:
    """DIGEST_RETAIN_DAYS: prune the editions sent more than that many days before `now` (digest.stats.prune:
    their figures kept, their per-reader rows and events dropped). An edition begun before then and still
    sending or paused holds every prune back: said, and tried again at the next run."""
    from digest.stats.prune import prune  # the stats load only when a prune is due

    try:
        pruned = prune(engine, now - timedelta(days=settings.retain_days))
    except EditionError as exc:
        return f"retention waits: {exc}"
    if not pruned:
        return None
    rows, events = sum(p.ledger_rows for p in pruned), sum(p.events for p in pruned)
    return (
        f"pruned {counted(len(pruned), 'edition')} sent over {settings.retain_days} days ago "
        f"({counted(rows, 'ledger row')} and {counted(events, 'event')} deleted, their figures kept)"
    )


# --- what operators see ---------------------------------------------------------------


@dataclass(frozen=True)
class WaveLine:
    slot: datetime
    zones: tuple[str, ...]
    readers: int  # active readers whose edition follows these zones
    record: RunRecord | None  # what the scheduler recorded for it, if it looked yet


@dataclass(frozen=True)
class WavesStatus:
    describe: str
    day: date  # the send day shown
    week: str  # the edition week it carries
    edition: Edition | None
    waves: tuple[WaveLine, ...]
    next_day: date
    next_first: datetime  # the next send day's first wave
    last: RunRecord | None
    lease: LeaseInfo | None
    waiting_for: str | None = None  # DIGEST_APPROVALS: the edition's approvals still missing, in one line

    def lease_is_live(self, now: datetime) -> bool:
        return self.lease is not None and self.lease.expires_at > now


def waves_status(engine: Engine, settings: Settings, now: datetime) -> WavesStatus:
    """The current send day's waves (which are done, which wait, and when), and the job's last run."""
    waves = waves_of(settings)
    zones = zones_in_use(engine, settings)
    day = waves.current_day(zones, now)
    with engine.connect() as connection:
        counts = connection.execute(audience.zone_counts()).all()
    readers: dict[str, int] = {}
    for stored, n in counts:
        key = zone_of(stored, settings).key
        readers[key] = readers.get(key, 0) + n
    lines = tuple(
        WaveLine(w.slot, w.zones, sum(readers.get(z, 0) for z in w.zones), find_run(engine, WEEKLY_JOB, w.slot))
        for w in waves.cycle(zones, day)
    )
    week = week_for_day(day)
    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.week == week)).first()
        approvals = None if edition is None else approvals_of(session, settings, edition)
    waiting_for = approvals.refusal() if approvals is not None and approvals.needed and not approvals.met else None
    next_day = day + timedelta(days=7)
    return WavesStatus(
        describe_schedule(settings),
        day,
        week,
        edition,
        lines,
        next_day,
        waves.cycle(zones, next_day)[0].slot,
        latest_run(engine, WEEKLY_JOB),
        current_lease(engine, WEEKLY_JOB),
        waiting_for,
    )
