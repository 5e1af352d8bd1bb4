"""What a reader does through their links and the form: subscribe, confirm, choose, leave.

Each function takes an open session and checked values (see `validation`), and
changes the store within the caller's transaction. None of them says to the
caller, through its return value's shape or an error, whether an address was
already known: the subscribe response must be the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from subscribers import cadence as cadences
from subscribers import consent as consent_log
from subscribers import rules, status, suppression
from subscribers.errors import StaleLink, UnknownReader
from subscribers.models import Subscriber
from subscribers.tokens import looks_like_reader_token, new_reader_token
from subscribers.validation import Preferences, SubscribeRequest


@dataclass(frozen=True)
class Consent:
    """How and when someone asked to join: kept with the reader as proof of consent."""

    at: datetime
    source: str  # which form or tool, e.g. "web form (POST /subscribe)"
    ip: str | None = None


def by_email(session: Session, email: str) -> Subscriber | None:
    return session.exec(select(Subscriber).where(Subscriber.email == email)).first()


def by_token(session: Session, token: str) -> Subscriber:
    """The reader whose links carry `token`; UnknownReader when there is none."""
    reader = None
    if looks_like_reader_token(token):
        reader = session.exec(select(Subscriber).where(Subscriber.token == token)).first()
    if reader is None:
        raise UnknownReader(
            "We could not find this subscription. It may have been deleted; "
            "if mail still reaches you, reply to it and we will sort it out."
        )
    return reader


def local_day(moment: datetime, zone: str | None) -> date:
    """The date of `moment` on a reader's calendar (UTC's when they gave no zone, or an unknown one):
    the day a cadence counts from."""
    try:
        return moment.astimezone(ZoneInfo(zone)).date() if zone else moment.date()
    except (ZoneInfoNotFoundError, ValueError):
        return moment.date()


def new_reader_values(
    email: str,
    topics,
    timezone: str | None,
    *,
    consent: Consent,
    source: str,
    confirmed: bool = False,
    cadence: str = cadences.DEFAULT,
) -> dict:
    """A new reader's row, ready for an INSERT: pending unless consent was confirmed elsewhere."""
    return {
        "email": email,
        "cadence": cadence,
        "cadence_since": local_day(consent.at, timezone),
        "status": status.ACTIVE if confirmed else status.PENDING,
        "topics": list(topics),
        "timezone": timezone,
        "token": new_reader_token(),
        "created_at": consent.at,
        "updated_at": consent.at,
        "consent_at": consent.at,
        "consent_ip": consent.ip[:64] if consent.ip else None,
        "consent_source": source[:200],
        "confirmed_at": consent.at if confirmed else None,
        "confirmed_ip": None,
        "confirmation_sent_at": None,
        "unsubscribed_at": None,
    }


@lru_cache(maxsize=4)
def _insert_new_statement(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Subscriber.__table__
    return insert(table).on_conflict_do_nothing(index_elements=["email"]).returning(table.c.email)


def _insert_if_new(session: Session, rows: list[dict]) -> set[str]:
    """INSERT ... ON CONFLICT (email) DO NOTHING RETURNING email for every row, in one statement
    (SQLAlchemy's "insertmanyvalues"): no race between two requests for the same address.
    Returns the addresses that were inserted."""
    if not rows:
        return set()
    connection = session.connection()
    statement = _insert_new_statement(connection.dialect.name)
    return set(connection.execute(statement, rows).scalars())


def _record_consent(reader: Subscriber, consent: Consent) -> None:
    reader.consent_at = consent.at
    reader.consent_source = consent.source[:200]
    reader.consent_ip = consent.ip[:64] if consent.ip else None


def subscribe(session: Session, request: SubscribeRequest, consent: Consent) -> rules.OnSubscribe:
    """Store a subscription request. The outcome is for logs and tests, never for the response.

    A new address (the common case) costs one INSERT. An erased reader may come back this way:
    the double opt-in is fresh consent, and their suppression entry is lifted when they confirm.
    """
    return subscribe_many(session, [(request, consent)])[0]


def subscribe_many(session: Session, signups: Sequence[tuple[SubscribeRequest, Consent]]) -> list[rules.OnSubscribe]:
    """Store several subscription requests in the caller's transaction, with the outcome of each
    (in order) that `subscribe` would have had, called once per request in that order.

    Every new address is inserted by one statement, whatever the number of requests: this is
    what lets the web app commit the sign-ups arriving together in one transaction. A request
    for an address already stored, or for one an earlier request in `signups` adds, goes
    through the rules one by one after the insert.
    """
    first: dict[str, int] = {}  # address -> the index of the first request for it
    rows = []
    for index, (request, consent) in enumerate(signups):
        if request.email not in first:
            first[request.email] = index
            rows.append(
                new_reader_values(
                    request.email,
                    request.topics,
                    request.timezone,
                    consent=consent,
                    source=consent.source,
                    cadence=request.cadence,
                )
            )
    inserted = _insert_if_new(session, rows)
    consent_log.append_joined(session.connection(), inserted)
    return [
        rules.OnSubscribe.CREATE
        if request.email in inserted and first[request.email] == index
        else _subscribe_known(session, request, consent)
        for index, (request, consent) in enumerate(signups)
    ]


def _subscribe_known(session: Session, request: SubscribeRequest, consent: Consent) -> rules.OnSubscribe:
    """A request for an address already stored: pending again, queued again, or left alone."""
    reader = by_email(session, request.email)
    action = rules.on_subscribe(reader.status, reader.confirmation_sent_at, consent.at)
    if action is rules.OnSubscribe.REQUEUE:
        reader.topics, reader.timezone = list(request.topics), request.timezone
        reader.cadence, reader.cadence_since = request.cadence, local_day(consent.at, request.timezone)
        reader.confirmation_sent_at = reader.confirmation_claim = reader.confirmation_error = None
        reader.sunset_asked_at = None
        _record_consent(reader, consent)
        reader.updated_at = consent.at
    elif action is rules.OnSubscribe.REOPEN:
        reader.status = status.PENDING
        reader.topics, reader.timezone = list(request.topics), request.timezone
        reader.cadence, reader.cadence_since = request.cadence, local_day(consent.at, request.timezone)
        reader.confirmed_at = reader.confirmed_ip = reader.unsubscribed_at = None
        reader.confirmation_sent_at = reader.confirmation_claim = reader.confirmation_error = None
        reader.sunset_asked_at = None
        _record_consent(reader, consent)
        reader.updated_at = consent.at
    session.flush()
    if action in (rules.OnSubscribe.REQUEUE, rules.OnSubscribe.REOPEN):  # the earlier lines stay
        _log(session, reader, consent_log.OPT_IN, consent.source, consent.ip, consent.at)
    return action


def _log(session: Session, reader: Subscriber, kind: str, source: str, ip: str | None, at: datetime) -> None:
    """Append one line to the reader's consent log (subscribers.consent), in this transaction."""
    consent_log.append(session.connection(), [consent_log.entry(reader.id, at, kind, reader.status, source, ip)])


def to_confirm(session: Session, token: str) -> Subscriber:
    """The reader a confirmation link names, read only (the page the link opens; its button confirms).
    Raises StaleLink when the subscription ended after the link was sent."""
    reader = by_token(session, token)
    if reader.status not in (status.ACTIVE, status.PENDING):
        raise StaleLink(
            "This confirmation link no longer applies: the subscription was ended after "
            "it was sent. Subscribe again if you would like the newsletter back."
        )
    return reader


def confirm(
    session: Session, token: str, ip: str | None, now: datetime, *, welcome: bool = False
) -> tuple[Subscriber, bool]:
    """Activate a pending reader (owed a welcome mail when `welcome`). Returns (reader, whether this
    call activated them)."""
    reader = to_confirm(session, token)
    if reader.status == status.ACTIVE:
        return reader, False
    reader.status = status.ACTIVE
    reader.confirmed_at = now
    reader.confirmed_ip = ip[:64] if ip else None
    reader.updated_at = reader.engaged_at = now  # a confirmation is a sign of life
    reader.sunset_asked_at = None
    reader.cadence_since = local_day(now, reader.timezone)  # their cadence counts from the day they joined
    if welcome:
        reader.welcome_due_at = now
    suppression.lift(session, reader.email)
    session.flush()
    _log(session, reader, consent_log.CONFIRMATION, "confirmation link", ip, now)
    return reader, True


def unsubscribe(
    session: Session, token: str, now: datetime, *, source: str = "unsubscribe link", ip: str | None = None
) -> Subscriber:
    """Stop all mail to this reader at once. Repeating it changes nothing."""
    reader = by_token(session, token)
    if reader.status in status.MAY_UNSUBSCRIBE:
        reader.status = status.UNSUBSCRIBED
        reader.unsubscribed_at = now
        reader.updated_at = now
        session.flush()
        _log(session, reader, consent_log.OPT_OUT, source, ip, now)
    return reader


def change_preferences(
    session: Session, token: str, preferences: Preferences, now: datetime, *, had_today: bool = False
) -> Subscriber:
    """Save a reader's choices. A new cadence counts from today on their calendar, or from tomorrow
    when `had_today` (they were mailed today's edition already: it closes their last window)."""
    reader = by_token(session, token)
    reader.topics = list(preferences.topics)
    reader.timezone = preferences.timezone
    if preferences.cadence is not None and preferences.cadence != reader.cadence:
        since = local_day(now, reader.timezone)
        reader.cadence = preferences.cadence
        reader.cadence_since = since + timedelta(days=1) if had_today else since
    reader.updated_at = reader.engaged_at = now  # saving the page is a sign of life
    reader.sunset_asked_at = None
    session.flush()
    return reader


def stop_mail(
    connection: Connection,
    stops: Iterable[tuple[str, str]],
    now: datetime,
    *,
    source: str = "the mail provider's report",
) -> int:
    """Apply what the mail provider reported: each (address, status) pair stops that reader's mail.

    `stops` come from `status.after_provider_event`. A reader who already left
    keeps their reason; when one batch holds two stops for a reader, the
    strongest wins (a complaint over a bounce over an unsubscribe). Returns how
    many readers changed.
    """
    wanted: dict[str, set[str]] = {name: set() for name in status.STRONGEST_FIRST}
    for email, new_status in stops:
        wanted[new_status].add(email)
    table = Subscriber.__table__
    changed = 0
    for new_status in status.STRONGEST_FIRST:
        emails = sorted(wanted[new_status])
        for start in range(0, len(emails), 500):  # well under every driver's parameter limit
            values = {"status": new_status, "updated_at": now}
            if new_status == status.UNSUBSCRIBED:
                values["unsubscribed_at"] = now
            statement = (
                sa.update(table)
                .where(table.c.email.in_(emails[start : start + 500]), table.c.status.in_(status.MAILED))
                .values(**values)
                .returning(table.c.id)
            )
            stopped = list(connection.execute(statement).scalars())
            consent_log.append(
                connection,
                [
                    consent_log.entry(reader, now, consent_log.OPT_OUT, new_status, f"{source}: {new_status}")
                    for reader in stopped
                ],
            )
            changed += len(stopped)
    return changed
