"""What an operator does to the reader list: add, import, look up, export, unsubscribe, suppress, erase.

`add` and `import` create pending readers (a confirmation mail is then due)
unless the caller says consent was given elsewhere (`confirmed=True`), in which
case the consent record says so. An address erased on request is refused
unless the caller says that person asked to come back (`allow_deleted=True`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from subscribers import consent as consent_log
from subscribers import status, suppression
from subscribers.csvfile import Row
from subscribers.errors import AlreadyReader, ImportRejected, InvalidInput, Suppressed, UnknownReader
from subscribers.models import Subscriber
from subscribers.service import Consent, by_email, new_reader_values
from subscribers.validation import SubscribeRequest, normalize_email, subscribe_request

CHUNK = 900  # rows per look-up or insert; below SQLite's bound-parameter limits
ELSEWHERE = "consent given elsewhere"


def reader_record(reader: Subscriber) -> dict[str, Any]:
    """Everything stored about a reader, as JSON-ready values."""
    record = {}
    for column in Subscriber.__table__.columns:
        value = getattr(reader, column.name)
        record[column.name] = value.isoformat() if isinstance(value, datetime) else value
    return record


def _source(consent: Consent, confirmed: bool, line: int | None = None) -> str:
    where = f"{consent.source}:{line}" if line is not None else consent.source
    return f"{where} ({ELSEWHERE})" if confirmed else where


def _new_row(email: str, topics, timezone, *, confirmed: bool, consent: Consent, source: str) -> dict[str, Any]:
    return new_reader_values(email, topics, timezone, consent=consent, source=source, confirmed=confirmed)


def add_reader(
    session: Session, request: SubscribeRequest, *, confirmed: bool, consent: Consent, allow_deleted: bool = False
) -> Subscriber:
    existing = by_email(session, request.email)
    if existing is not None:
        raise AlreadyReader(f"{request.email} is already a reader (status: {existing.status})")
    erased = suppression.find(session, request.email)
    if erased is not None and not allow_deleted:
        raise Suppressed(
            f"{request.email} was erased on request on {erased.created_at:%Y-%m-%d}; add it again "
            "only if that person asked to come back (--allow-deleted)"
        )
    if erased is not None and confirmed:
        suppression.lift(session, request.email)
    row = _new_row(
        request.email,
        request.topics,
        request.timezone,
        confirmed=confirmed,
        consent=consent,
        source=_source(consent, confirmed),
    )
    reader = Subscriber(**row)
    session.add(reader)
    session.flush()
    consent_log.append_joined(session.connection(), [reader.email])
    return reader


@dataclass
class ReaderImportReport:
    created: int = 0
    already_readers: int = 0  # left as they are
    duplicates: int = 0  # repeated within the file; the first one counts (an opt-out wins)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    opted_out: int = 0  # rows saying the reader left: stored (or kept) as unsubscribed, bounced or complained


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _OptOut(NamedTuple):
    line: int
    email: str
    status: str  # unsubscribed, bounced or complained
    said: str  # the file's own word, for the consent log


def import_readers(
    session: Session,
    rows: Iterable[Row],
    known_topics: Collection[str],
    *,
    confirmed: bool,
    consent: Consent,
    skip_invalid: bool = False,
    allow_deleted: bool = False,
) -> ReaderImportReport:
    """Check every row, then insert the good ones in bulk, all in the caller's transaction.

    With bad rows and no `skip_invalid`, nothing is inserted and ImportRejected
    carries the report. Existing readers are left untouched and counted, except
    that a row saying the reader left (unsubscribed, bounced, complained,
    blocklisted, cleaned: subscribers.status.imported) stops their mail, with or
    without `confirmed`: an opt-out survives an import. Such a row for a new
    address stores the reader with that status, never mailed.
    """
    report = ReaderImportReport()
    good: dict[str, tuple[int, SubscribeRequest]] = {}
    opt_outs: dict[str, _OptOut] = {}
    for row in rows:
        try:
            stop = status.imported(row.status)
        except ValueError as exc:
            report.errors.append((row.line, f"status: {exc}"))
            continue
        if stop is not None:  # only the address matters: an opt-out is never refused for its topics
            try:
                email = normalize_email(row.values.get("email"))
            except InvalidInput as exc:
                report.errors.append((row.line, str(exc)))
                continue
            report.duplicates += email in opt_outs or email in good
            good.pop(email, None)
            opt_outs.setdefault(email, _OptOut(row.line, email, stop, row.status))
            continue
        try:
            request = subscribe_request(row.values, known_topics)
        except InvalidInput as exc:
            report.errors.append((row.line, str(exc)))
            continue
        if request.email in good or request.email in opt_outs:
            report.duplicates += 1
            continue
        good[request.email] = (row.line, request)

    emails = list(good)
    for chunk in _chunks(emails):
        for (email,) in session.exec(sa.select(Subscriber.email).where(Subscriber.email.in_(chunk))):
            del good[email]
            report.already_readers += 1
    if not allow_deleted:
        by_hash = {suppression.email_hash(email): email for email in good}
        for chunk in _chunks(list(by_hash)):
            for digest in suppression.suppressed_hashes(session, chunk):
                line, request = good.pop(by_hash[digest])
                report.errors.append(
                    (
                        line,
                        f"email: {request.email} was erased on request; import it again "
                        "only if that person asked to come back (--allow-deleted)",
                    )
                )
    report.errors.sort()
    if report.errors and not skip_invalid:
        raise ImportRejected(report)

    entries = sorted(good.values(), key=lambda item: item[0])
    connection = session.connection()
    for chunk in _chunks(entries, 5000):
        _bulk_insert(
            connection,
            [
                _new_row(
                    request.email,
                    request.topics,
                    request.timezone,
                    confirmed=confirmed,
                    consent=consent,
                    source=_source(consent, confirmed, line),
                )
                for line, request in chunk
            ],
        )
        consent_log.append_joined(connection, [request.email for _, request in chunk])
        report.created += len(chunk)
    if allow_deleted and confirmed:
        for chunk in _chunks([suppression.email_hash(email) for email in good]):
            connection.execute(sa.delete(suppression.Suppression).where(suppression.Suppression.email_hash.in_(chunk)))
    report.opted_out = _apply_opt_outs(session, sorted(opt_outs.values()), consent)
    return report


def _apply_opt_outs(session: Session, opt_outs: list[_OptOut], given: Consent) -> int:
    """Stop the mail of readers the file says left; store new ones that way. Returns how many rows."""
    connection = session.connection()
    table = Subscriber.__table__
    now = given.at
    for chunk in _chunks(opt_outs):
        wanted = {o.email: o for o in chunk}
        stored = {
            email: (reader_id, state)
            for reader_id, email, state in connection.execute(
                sa.select(table.c.id, table.c.email, table.c.status).where(table.c.email.in_(list(wanted)))
            )
        }
        erased = suppression.suppressed_hashes(session, [suppression.email_hash(e) for e in wanted if e not in stored])
        new = [o for o in chunk if o.email not in stored and suppression.email_hash(o.email) not in erased]
        for o in new:  # never mailed: no consent to record, only where the row came from
            row = _new_row(o.email, (), None, confirmed=False, consent=given, source=_opt_out_source(given, o))
            row.update(
                status=o.status,
                consent_at=None,
                consent_ip=None,
                unsubscribed_at=now if o.status == status.UNSUBSCRIBED else None,
            )
            connection.execute(sa.insert(table).values(**row))
        ids = (
            {
                email: reader_id
                for reader_id, email in connection.execute(
                    sa.select(table.c.id, table.c.email).where(table.c.email.in_([o.email for o in new]))
                )
            }
            if new
            else {}
        )
        stopping = [o for o in chunk if o.email in stored and stored[o.email][1] in status.MAILED]
        for o in stopping:
            values = {"status": o.status, "updated_at": now, "confirmation_claim": None}
            if o.status == status.UNSUBSCRIBED:
                values["unsubscribed_at"] = now
            connection.execute(
                sa.update(table)
                .where(table.c.id == stored[o.email][0], table.c.status.in_(status.MAILED))
                .values(**values)
            )
            ids[o.email] = stored[o.email][0]
        consent_log.append(
            connection,
            [
                consent_log.entry(ids[o.email], now, consent_log.OPT_OUT, o.status, _opt_out_source(given, o))
                for o in new + stopping
            ],
        )
    return len(opt_outs)


def _opt_out_source(given: Consent, opt_out: _OptOut) -> str:
    return f"{given.source}:{opt_out.line} (status {opt_out.said.strip()[:40]!r})"


def _bulk_insert(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """One executemany straight to the driver. Each column's own bind processor converts the values
    (so they are stored exactly as the ORM would store them), but the per-row bookkeeping of a Core
    insert, which costs more than the insert itself at 100,000 rows, is skipped."""
    table = Subscriber.__table__
    columns = list(rows[0])
    compiled = sa.insert(table).compile(dialect=connection.dialect, column_keys=columns)
    processors = {
        name: table.c[name].type.dialect_impl(connection.dialect).bind_processor(connection.dialect) for name in columns
    }
    converted = [
        {
            name: (processors[name](value) if processors[name] and value is not None else value)
            for name, value in row.items()
        }
        for row in rows
    ]
    if compiled.positional:
        order = compiled.positiontup
        connection.exec_driver_sql(str(compiled), [tuple(row[name] for name in order) for row in converted])
    else:
        connection.exec_driver_sql(str(compiled), converted)


def find_reader(session: Session, email: str) -> Subscriber:
    normalized = normalize_email(email)
    reader = by_email(session, normalized)
    if reader is None:
        raise UnknownReader(f"no reader has the address {normalized}")
    return reader


def unsubscribe_reader(session: Session, email: str, now: datetime) -> tuple[Subscriber, bool]:
    """An operator unsubscribes a reader who asked by other means (a reply, a call), keeping their record.

    As if they had used their own link: no mail from now on, a send in progress
    skips them, and a fresh sign-up with its double opt-in brings them back.
    Returns (reader, whether this call changed them); a reader who already
    left keeps their reason.
    """
    reader = find_reader(session, email)
    if reader.status not in status.MAY_UNSUBSCRIBE:
        return reader, False
    reader.status = status.UNSUBSCRIBED
    reader.unsubscribed_at = now
    reader.updated_at = now
    session.flush()
    _log_opt_out(session, reader, now, "an operator (digest subscribers unsubscribe)")
    return reader, True


def suppress_reader(session: Session, email: str, now: datetime) -> tuple[Subscriber, bool]:
    """Stop every mail to a reader's address for good, keeping their record (unlike an erasure).

    No edition and no confirmation mail goes there again, and a sign-up on the
    web form changes nothing. Returns (reader, whether this call changed them);
    a reader who bounced or complained is already stopped for good and keeps that reason.
    """
    reader = find_reader(session, email)
    if reader.status not in status.MAY_SUPPRESS:
        return reader, False
    reader.status = status.SUPPRESSED
    reader.unsubscribed_at = reader.unsubscribed_at or now
    reader.updated_at = now
    session.flush()
    _log_opt_out(session, reader, now, "an operator (digest subscribers suppress)")
    return reader, True


def _log_opt_out(session: Session, reader: Subscriber, now: datetime, source: str) -> None:
    consent_log.append(
        session.connection(), [consent_log.entry(reader.id, now, consent_log.OPT_OUT, reader.status, source)]
    )


def delete_reader(session: Session, email: str, now: datetime) -> str:
    """Erase a reader (and their ledger rows); keep only a hash of the address. Returns the address."""
    reader = find_reader(session, email)
    session.exec(sa.delete(Subscriber).where(Subscriber.id == reader.id))
    session.expunge(reader)
    suppression.suppress(session, reader.email, suppression.DELETED, now)
    session.flush()
    return reader.email


def all_readers(session: Session, status: str | None = None, batch: int = 1000) -> Iterator[Subscriber]:
    """Every reader in id order, fetched in keyset batches (constant memory)."""
    last = 0
    while True:
        query = sa.select(Subscriber).where(Subscriber.id > last).order_by(Subscriber.id).limit(batch)
        if status is not None:
            query = query.where(Subscriber.status == status)
        readers = list(session.exec(query).scalars())
        if not readers:
            return
        yield from readers
        last = readers[-1].id
        session.expunge_all()
