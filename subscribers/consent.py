"""A reader's consent log: every opt-in, confirmation and opt-out, appended, never overwritten.

Each line says when, how (the form, tool or provider event) and from where (the
IP address, when there is one), and the reader's status after it. A reader who
leaves and comes back keeps every line of both; erasing a reader erases their
log with them (only the suppression hash of the address is kept).

Every function appends within the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from subscribers.models import ConsentEvent, Subscriber

OPT_IN = "opt-in"  # asked to join (a form, the API), or was added by an operator
CONFIRMATION = "confirmation"  # confirmed the address (double opt-in)
OPT_OUT = "opt-out"  # left: an unsubscribe, a bounce, a complaint, an import saying so
KINDS = (OPT_IN, CONFIRMATION, OPT_OUT)
MAX_SOURCE = 200
MAX_IP = 64
CHUNK = 900  # addresses per statement; below SQLite's bound-parameter limits


def entry(reader_id: int, at: datetime, kind: str, status: str, source: str, ip: str | None = None) -> dict:
    """One line, ready for `append`."""
    return {
        "subscriber_id": reader_id,
        "at": at,
        "kind": kind,
        "status": status,
        "source": source[:MAX_SOURCE],
        "ip": ip[:MAX_IP] if ip else None,
    }


def append(connection: Connection, entries: Sequence[dict]) -> None:
    if entries:
        connection.execute(sa.insert(ConsentEvent.__table__), list(entries))


def append_joined(connection: Connection, emails: Iterable[str]) -> None:
    """An opt-in line for each of these readers, copied from the consent record just written with
    them (consent_at, consent_source, consent_ip): one INSERT ... SELECT per chunk of addresses."""
    emails = list(emails)
    table, log = Subscriber.__table__, ConsentEvent.__table__
    for start in range(0, len(emails), CHUNK):
        rows = sa.select(
            table.c.id,
            table.c.consent_at,
            sa.literal(OPT_IN),
            table.c.status,
            sa.func.coalesce(table.c.consent_source, "unknown"),
            table.c.consent_ip,
        ).where(table.c.email.in_(emails[start : start + CHUNK]), table.c.consent_at.is_not(None))
        connection.execute(sa.insert(log).from_select(["subscriber_id", "at", "kind", "status", "source", "ip"], rows))


log = ConsentEvent.__table__  # for queries that join the log (figures); only this module writes it


def lines() -> sa.Select:
    """(reader id, at, kind, status after) of every line, each reader's in the order written: what
    figures replay, so a past week's figures never change when a reader leaves or comes back."""
    return sa.select(log.c.subscriber_id, log.c.at, log.c.kind, log.c.status).order_by(log.c.subscriber_id, log.c.id)


def history(connection: Connection, reader_id: int) -> list[dict]:
    """A reader's log, oldest first, as JSON-ready values."""
    log = ConsentEvent.__table__
    rows = connection.execute(
        sa.select(log.c.at, log.c.kind, log.c.status, log.c.source, log.c.ip)
        .where(log.c.subscriber_id == reader_id)
        .order_by(log.c.id)
    ).mappings()
    return [{**row, "at": row["at"].isoformat()} for row in rows]


def histories(connection: Connection, reader_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Several readers' logs (see `history`), in one statement per chunk of ids."""
    out: dict[int, list[dict]] = {reader_id: [] for reader_id in reader_ids}
    ids = list(out)
    for start in range(0, len(ids), CHUNK):
        rows = connection.execute(
            sa.select(log.c.subscriber_id, log.c.at, log.c.kind, log.c.status, log.c.source, log.c.ip)
            .where(log.c.subscriber_id.in_(ids[start : start + CHUNK]))
            .order_by(log.c.subscriber_id, log.c.id)
        ).mappings()
        for row in rows:
            line = {key: row[key] for key in ("at", "kind", "status", "source", "ip")}
            out[row["subscriber_id"]].append({**line, "at": line["at"].isoformat()})
    return out
