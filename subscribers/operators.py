"""What an operator does to the reader list: add, import, look up, export, unsubscribe, suppress, erase.

`add` and `import` create pending readers (a confirmation mail is then due)
unless the caller says consent was given elsewhere (`confirmed=True`), in which
case the consent record says so. An address erased on request is refused
unless the caller says that person asked to come back (`allow_deleted=True`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Collection, Iterable, Iterator

import sqlalchemy as sa
from sqlmodel import Session

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


def add_reader(session: Session, request: SubscribeRequest, *, confirmed: bool, consent: Consent,
               allow_deleted: bool = False) -> Subscriber:
    existing = by_email(session, request.email)
    if existing is not None:
        raise AlreadyReader(f"{request.email} is already a reader (status: {existing.status})")
    erased = suppression.find(session, request.email)
    if erased is not None and not allow_deleted:
        raise Suppressed(f"{request.email} was erased on request on {erased.created_at:%Y-%m-%d}; add it again "
                         "only if that person asked to come back (--allow-deleted)")
    if erased is not None and confirmed:
        suppression.lift(session, request.email)
    row = _new_row(request.email, request.topics, request.timezone, confirmed=confirmed, consent=consent,
                   source=_source(consent, confirmed))
    reader = Subscriber(**row)
    session.add(reader)
    session.flush()
    return reader


@dataclass
class ReaderImportReport:
    created: int = 0
    already_readers: int = 0  # left as they are
    duplicates: int = 0  # repeated within the file; the first one counts
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def import_readers(session: Session, rows: Iterable[Row], known_topics: Collection[str], *,
                   confirmed: bool, consent: Consent, skip_invalid: bool = False,
                   allow_deleted: bool = False) -> ReaderImportReport:
    """Check every row, then insert the good ones in bulk, all in the caller's transaction.

    With bad rows and no `skip_invalid`, nothing is inserted and ImportRejected
    carries the report. Existing readers are left untouched and counted.
    """
    report = ReaderImportReport()
    good: dict[str, tuple[int, SubscribeRequest]] = {}
    for row in rows:
        try:
            request = subscribe_request(row.values, known_topics)
        except InvalidInput as exc:
            report.errors.append((row.line, str(exc)))
            continue
        if request.email in good:
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
                report.errors.append((line, f"email: {request.email} was erased on request; import it again "
                                            "only if that person asked to come back (--allow-deleted)"))
    report.errors.sort()
    if report.errors and not skip_invalid:
        raise ImportRejected(report)

    entries = sorted(good.values(), key=lambda item: item[0])
    connection = session.connection()
    for chunk in _chunks(entries, 5000):
        _bulk_insert(connection, [
            _new_row(request.email, request.topics, request.timezone, confirmed=confirmed, consent=consent,
                     source=_source(consent, confirmed, line))
            for line, request in chunk
        ])
        report.created += len(chunk)
    if allow_deleted and confirmed:
        for chunk in _chunks([suppression.email_hash(email) for email in good]):
            connection.execute(sa.delete(suppression.Suppression).where(
                suppression.Suppression.email_hash.in_(chunk)))
    return report


def _bulk_insert(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """One executemany straight to the driver. Each column's own bind processor converts the values
    (so they are stored exactly as the ORM would store them), but the per-row bookkeeping of a Core
    insert, which costs more than the insert itself at 100,000 rows, is skipped."""
    table = Subscriber.__table__
    columns = list(rows[0])
    compiled = sa.insert(table).compile(dialect=connection.dialect, column_keys=columns)
    processors = {name: table.c[name].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
                  for name in columns}
    converted = [{name: (processors[name](value) if processors[name] and value is not None else value)
                  for name, value in row.items()} for row in rows]
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
    return reader, True


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
