"""What an operator does to the reader list: add, import, look up, export, unsubscribe, suppress, erase.

`add` and `import` create pending readers (a confirmation mail is then due)
unless the caller says consent was given elsewhere (`confirmed=True`), in which
case the consent record says so. An address erased on request is refused
unless the caller says that person asked to come back (`allow_deleted=True`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from subscribers import cadence as cadences
from subscribers import consent as consent_log
from subscribers import status, suppression
from subscribers.csvfile import Row
from subscribers.errors import AlreadyReader, ImportRejected, InvalidInput, Problem, Suppressed, UnknownReader
from subscribers.models import Subscriber
from subscribers.service import Consent, by_email, new_reader_values
from subscribers.tokens import looks_like_reader_token
from subscribers.validation import SubscribeRequest, normalize_email, subscribe_request

CHUNK = 900  # rows per look-up or insert; below SQLite's bound-parameter limits
ELSEWHERE = "consent given elsewhere"


def use_erasure_key(key: str) -> None:
    """The application's secret, which keys every hash an erasure keeps (see `erased_label`)."""
    suppression.use_key(key)


def erased_label(email: str) -> str:
    """What stands for an erased (normalized) address where a record of it stays, such as a provider's
    event: its keyed hash, the same for every record of it, so it still counts once."""
    return "hmac-sha256:" + suppression.email_hash(email)


def erased(connection: sa.Connection, emails: Iterable[str]) -> set[str]:
    """Those of these (normalized) addresses that were erased on request (or suppressed for good)."""
    return suppression.erased_among(connection, emails)


def reader_record(reader: Subscriber) -> dict[str, Any]:
    """Everything stored about a reader, as JSON-ready values."""
    record = {}
    for column in Subscriber.__table__.columns:
        value = getattr(reader, column.name)
        record[column.name] = value.isoformat() if isinstance(value, (datetime, date)) else value
    return record


def export_records(session: Session, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every reader as `reader_record` has them, with their consent log ("consent_log"), in id order
    and in batches: digest's own export, which `import_readers` takes back as it was."""
    records: list[dict[str, Any]] = []

    def with_logs() -> list[dict[str, Any]]:
        logs = consent_log.histories(session.connection(), [record["id"] for record in records])
        return [{**record, "consent_log": logs[record["id"]]} for record in records]

    for reader in all_readers(session, batch=batch):
        records.append(reader_record(reader))
        if len(records) == batch:
            yield from with_logs()
            records = []
    yield from with_logs()


def _source(consent: Consent, confirmed: bool, line: int | None = None) -> str:
    where = f"{consent.source}:{line}" if line is not None else consent.source
    return f"{where} ({ELSEWHERE})" if confirmed else where


def _new_row(
    email: str, topics, timezone, *, confirmed: bool, consent: Consent, source: str, cadence: str = cadences.DEFAULT
) -> dict[str, Any]:
    return new_reader_values(
        email, topics, timezone, consent=consent, source=source, confirmed=confirmed, cadence=cadence
    )


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
        cadence=request.cadence,
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
    kept: int = 0  # readers created from digest's own export, as they were there (status, token, consent log)
    pending: int = 0  # readers created pending: a confirmation mail is owed them, unless one was sent before


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
    own: dict[str, _Kept] = {}  # digest's own export: readers kept as they were
    stays_pending: set[str] = set()  # rows saying pending or unconfirmed: never active by `confirmed`
    for row in rows:
        if row.kept is not None:
            try:
                kept = _kept_reader(row, known_topics, consent.at)
            except InvalidInput as exc:
                report.errors.append((row.line, str(exc)))
                continue
            if kept.email in own:
                report.duplicates += 1
                continue
            own[kept.email] = kept
            continue
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
        if status.stays_pending(row.status):
            stays_pending.add(request.email)

    emails = list(good) + list(own)
    for chunk in _chunks(emails):
        for (email,) in session.exec(sa.select(Subscriber.email).where(Subscriber.email.in_(chunk))):
            report.already_readers += 1
            if email in good:
                del good[email]
                continue
            kept = own.pop(email)
            if kept.values["status"] in status.STOPPED:  # an opt-out survives an import, as in any file
                opt_outs.setdefault(email, _OptOut(kept.line, email, kept.values["status"], kept.values["status"]))
    if not allow_deleted:
        lines = {email: line for email, (line, _) in good.items()} | {email: k.line for email, k in own.items()}
        for email in sorted(suppression.erased_among(session.connection(), lines)):
            good.pop(email, None)
            own.pop(email, None)
            report.errors.append(
                (
                    lines[email],
                    f"email: {email} was erased on request; import it again "
                    "only if that person asked to come back (--allow-deleted)",
                )
            )
    _refuse_taken_tokens(session, own, report)
    report.errors.sort()
    if report.errors and not skip_invalid:
        raise ImportRejected(report)

    entries = sorted(good.values(), key=lambda item: item[0])
    connection = session.connection()
    for chunk in _chunks(entries, 5000):
        rows_now = []
        for line, request in chunk:
            active = confirmed and request.email not in stays_pending
            report.pending += not active
            rows_now.append(
                _new_row(
                    request.email,
                    request.topics,
                    request.timezone,
                    confirmed=active,
                    consent=consent,
                    source=_source(consent, active, line),
                    cadence=request.cadence,
                )
            )
        _bulk_insert(connection, rows_now)
        consent_log.append_joined(connection, [request.email for _, request in chunk])
        report.created += len(chunk)
    _insert_kept(connection, sorted(own.values(), key=lambda kept: kept.line), report)
    if allow_deleted:
        active = [email for email in good if confirmed and email not in stays_pending]
        active += [email for email, kept in own.items() if kept.values["status"] == status.ACTIVE]
        suppression.lift_all(connection, active)
    report.opted_out = _apply_opt_outs(session, sorted(opt_outs.values()), consent)
    return report


# --- digest's own export, imported back as it was -------------------------------------------------

_KEPT_TIMES = (
    "created_at",
    "updated_at",
    "consent_at",
    "confirmed_at",
    "confirmation_sent_at",
    "unsubscribed_at",
    "welcome_due_at",
    "engaged_at",
    "sunset_asked_at",
)
_KEPT_TEXT = {"consent_ip": 64, "consent_source": 200, "confirmed_ip": 64, "confirmation_error": 500}


class _Kept(NamedTuple):
    line: int
    email: str
    values: dict[str, Any]  # the subscriber row, as exported
    log: list[dict[str, Any]]  # the consent log's lines, without the reader's id


def _moment(problems: list[Problem], name: str, text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        problems.append(
            Problem(name, f"{text.strip()[:40]!r} is not a date and time such as 2026-03-02T08:00:00+00:00")
        )
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _day(problems: list[Problem], name: str, text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        problems.append(Problem(name, f"{text.strip()[:40]!r} is not a date such as 2026-03-02"))
        return None


def _kept_log(problems: list[Problem], text: str) -> list[dict[str, Any]] | None:
    """The consent_log cell: a JSON array of lines ({at, kind, status, source, ip}); None when empty."""
    if not text.strip():
        return None
    try:
        lines = json.loads(text)
    except ValueError as exc:
        problems.append(Problem("consent_log", f"is not JSON ({exc.msg})"))
        return None
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        problems.append(Problem("consent_log", "must be a JSON array of lines, each an object"))
        return None
    out = []
    for index, line in enumerate(lines, start=1):
        at = _moment(problems, f"consent_log line {index}: at", str(line.get("at") or ""))
        kind, after, source, ip = line.get("kind"), line.get("status"), line.get("source"), line.get("ip")
        if kind not in consent_log.KINDS or after not in status.ALL or not isinstance(source, str) or at is None:
            problems.append(
                Problem(
                    f"consent_log line {index}",
                    "needs at, a kind (opt-in, confirmation, opt-out), a status and a source",
                )
            )
            continue
        out.append(
            {"at": at, "kind": kind, "status": after, "source": source, "ip": ip if isinstance(ip, str) else None}
        )
    return out


def _derived_log(values: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """An export without a consent log (written before it was exported): its lines from the columns,
    as migration 0007 wrote the first lines of the log."""
    lines = []
    if values["consent_at"] is not None:
        added = values["confirmed_at"] is not None and values["confirmed_at"] == values["consent_at"]
        lines.append((values["consent_at"], consent_log.OPT_IN, status.ACTIVE if added else status.PENDING))
    if values["confirmed_at"] is not None and values["confirmed_at"] != values["consent_at"]:
        lines.append((values["confirmed_at"], consent_log.CONFIRMATION, status.ACTIVE))
    if values["status"] in status.STOPPED:
        lines.append((values["unsubscribed_at"] or values["updated_at"], consent_log.OPT_OUT, values["status"]))
    return [{"at": at, "kind": kind, "status": after, "source": source, "ip": None} for at, kind, after in lines]


def _kept_reader(row: Row, known_topics: Collection[str], now: datetime) -> _Kept:
    """A row of digest's own export, checked: the reader as they were stored, and their consent log.
    Topics are kept even when this store has no comparison in them yet."""
    kept = row.kept
    problems: list[Problem] = []
    request = None
    try:
        request = subscribe_request(row.values, {*known_topics, *row.values.get("topics", ())})
    except InvalidInput as exc:
        problems += exc.problems
    word = kept.get("status", "").strip()
    if word not in status.ALL:
        problems.append(Problem("status", f"{word[:40]!r} is not a reader status ({', '.join(status.ALL)})"))
    token = kept.get("token", "").strip()
    if not looks_like_reader_token(token):
        problems.append(Problem("token", "is not a reader token digest made (43 URL-safe characters)"))
    times = {name: _moment(problems, name, kept.get(name, "")) for name in _KEPT_TIMES}
    log = _kept_log(problems, kept.get("consent_log", ""))
    since = _day(problems, "cadence_since", kept.get("cadence_since", ""))
    if problems:
        raise InvalidInput(problems)
    values = {
        "email": request.email,
        "status": word,
        "topics": list(request.topics),
        "timezone": request.timezone,
        "token": token,
        "cadence": request.cadence,
        "cadence_since": since or (times["confirmed_at"] or times["created_at"] or now).date(),
        **times,
        "created_at": times["created_at"] or now,
        "updated_at": times["updated_at"] or now,
        **{name: (kept.get(name) or "").strip()[:limit] or None for name, limit in _KEPT_TEXT.items()},
    }
    return _Kept(row.line, request.email, values, log if log is not None else _derived_log(values, "digest's export"))


def _refuse_taken_tokens(session: Session, own: dict[str, _Kept], report: ReaderImportReport) -> None:
    """A token another reader has (in this store, or earlier in the file) is refused for that row: a
    link in mail already sent must open one reader only."""
    seen: dict[str, str] = {}
    for email, kept in list(own.items()):
        token = kept.values["token"]
        if token in seen:
            del own[email]
            report.errors.append((kept.line, f"token: is {seen[token]}'s too, earlier in the file"))
        else:
            seen[token] = email
    for chunk in _chunks(list(seen)):
        for token, email in session.exec(
            sa.select(Subscriber.token, Subscriber.email).where(Subscriber.token.in_(chunk))
        ):
            kept = own.pop(seen[token], None)
            if kept is not None:
                report.errors.append((kept.line, f"token: belongs to another reader of this store ({email})"))


def _insert_kept(connection: sa.Connection, own: list[_Kept], report: ReaderImportReport) -> None:
    """The readers of digest's own export, as they were there, and their consent logs."""
    table = Subscriber.__table__
    for chunk in _chunks(own, 5000):
        _bulk_insert(connection, [kept.values for kept in chunk])
        ids: dict[str, int] = {}
        for emails in _chunks([kept.email for kept in chunk]):
            ids.update(
                {
                    email: id_
                    for id_, email in connection.execute(
                        sa.select(table.c.id, table.c.email).where(table.c.email.in_(emails))
                    )
                }
            )
        consent_log.append(
            connection,
            [
                consent_log.entry(ids[kept.email], line["at"], line["kind"], line["status"], line["source"], line["ip"])
                for kept in chunk
                for line in kept.log
            ],
        )
        report.created += len(chunk)
        report.kept += len(chunk)
        report.pending += sum(kept.values["status"] == status.PENDING for kept in chunk)


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
        erased = suppression.erased_among(connection, [e for e in wanted if e not in stored])
        new = [o for o in chunk if o.email not in stored and o.email not in erased]
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
