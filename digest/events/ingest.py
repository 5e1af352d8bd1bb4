"""Storing a verified batch of events once, and stopping mail to readers who asked for it.

`subscribers.status.after_provider_event` is the rule (which event ends which reader's mail); `ingest`
is one transaction: a bulk insert that skips events already stored (ON
CONFLICT DO NOTHING on `sg_event_id`, so a retried batch changes nothing), then
one UPDATE per outcome for the readers of the events that were new, and one for the readers whose
clicks count as engagement (digest.events.clicks). The send
loop reads each reader's status when it claims a batch (digest.delivery.ledger),
so a reader suppressed here gets nothing from the next batch on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.events.clicks import MailedAt, record_clicks
from digest.events.models import Event
from digest.store import insert_into
from digest.timeutil import utcnow
from subscribers import operators, service, status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    stored: int  # events new to the store
    duplicates: int  # events already stored (a retried batch)
    suppressed: int  # readers whose mail this batch stopped
    engaged: int = 0  # readers whose clicks in this batch counted as engagement (digest.events.clicks)
    refused: dict[str, str] = field(default_factory=dict)  # sg_event_id -> why the database refused it


def store_events(connection: Connection, rows: Sequence[dict]) -> tuple[set[str], dict[str, str]]:
    """Insert the rows not stored yet; return the sg_event_ids that were new, and those the
    database refused for their values (with its words), which are left out.

    parse_batch already leaves out what no database can store; should PostgreSQL refuse an
    event all the same, the batch is stored again one event at a time, each in a savepoint, so
    the others are kept. (On SQLite every value is stored as it comes.)"""
    if not rows:
        return set(), {}
    table = Event.__table__
    statement = (
        insert_into(connection, table)
        .on_conflict_do_nothing(index_elements=["sg_event_id"])
        .returning(table.c.sg_event_id)
    )
    if connection.dialect.name != "postgresql":
        return {row[0] for row in connection.execute(statement, list(rows))}, {}
    try:
        with connection.begin_nested():
            return {row[0] for row in connection.execute(statement, list(rows))}, {}
    except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
        log.warning(
            "the database refused a batch of %d events (%s); storing them one by one",
            len(rows),
            str(exc.orig).splitlines()[0] if exc.orig else exc,
        )
    new, refused = set(), {}
    for row in rows:
        try:
            with connection.begin_nested():
                new |= {found[0] for found in connection.execute(statement, [row])}
        except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
            refused[row["sg_event_id"]] = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
    return new, refused


def suppress_readers(connection: Connection, rows: Sequence[dict], now: datetime) -> int:
    """Stop mail to each row's reader as its event calls for. Readers are found by address.

    The address, not the reader_id custom arg, identifies the reader: it is
    unique and what the mail went to, while an id could be reused on SQLite
    after a reader is erased.
    """
    stops = (
        (row["email"], new_status)
        for row in rows
        if (new_status := status.after_provider_event(row["event"], row.get("bounce_type"), row.get("raw") or {}))
        is not None
    )
    return service.stop_mail(connection, stops, now, source="SendGrid event webhook")


def without_erased(connection: Connection, rows: Sequence[dict]) -> list[dict]:
    """The rows, those about an address erased on request stored as an erasure leaves its events: the
    address as its keyed hash, no reader id, no raw payload (which holds the address, IPs and user
    agents). SendGrid reports for days after a send, so events about an erased reader keep coming."""
    erased = operators.erased(connection, {row["email"] for row in rows})
    if not erased:
        return list(rows)
    return [
        {**row, "email": operators.erased_label(row["email"]), "reader_id": None, "raw": {}}
        if row["email"] in erased
        else row
        for row in rows
    ]


def ingest(
    connection: Connection, rows: Sequence[dict], now: datetime | None = None, *, mailed_at: MailedAt | None = None
) -> Ingested:
    """Store a batch once and apply it; call inside one transaction (engine.begin()). With `mailed_at`
    (digest.delivery.ledger.mailed_at, given when DIGEST_CLICKS_ENGAGE is on), its new clicks that pass
    digest.events.clicks' rule count as their readers' engagement."""
    now = now or utcnow()
    rows = without_erased(connection, rows)
    new_ids, refused = store_events(connection, rows)
    new_rows = [row for row in rows if row["sg_event_id"] in new_ids]
    suppressed = suppress_readers(connection, new_rows, now)
    engaged = record_clicks(connection, new_rows, mailed_at) if mailed_at else 0
    return Ingested(
        stored=len(new_ids),
        duplicates=len(rows) - len(new_ids) - len(refused),
        suppressed=suppressed,
        engaged=engaged,
        refused=refused,
    )
