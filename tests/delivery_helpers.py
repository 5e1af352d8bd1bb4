"""Readers, editions and letters for the delivery tests, written straight into a real store."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa

from digest.delivery.ledger import Delivery
from digest.editions.models import Edition
from digest.mail import Letter
from digest.mail.placeholders import READER_TOKEN
from digest.timeutil import utcnow
from subscribers.models import Subscriber

LIST_ID = "Weekly AI Tool Verdicts <weekly-ai-tool-verdicts.example.com>"


def a_letter(number: int = 1) -> Letter:
    return Letter(
        subject=f"Weekly AI Tool Verdicts #{number}",
        html=f'<p>Edition {number}</p><a href="https://example.com/unsubscribe/{READER_TOKEN}">unsubscribe</a>',
        text=f"Edition {number}\nUnsubscribe: https://example.com/unsubscribe/{READER_TOKEN}\n",
        from_address="verdicts@example.com",
        from_name="Weekly AI Tool Verdicts",
        headers={"List-Id": LIST_ID},
        categories=("edition", f"edition-{number}"),
    )


def add_readers(engine, count: int, *, first: int = 1, status: str = "active", chunk: int = 10_000) -> list[int]:
    """`count` readers reader{first}@example.com ... with ids first..first+count-1."""
    table = Subscriber.__table__
    past = utcnow() - timedelta(days=30)
    ids = list(range(first, first + count))
    with engine.begin() as connection:
        for start in range(0, count, chunk):
            connection.execute(table.insert(), [
                {"id": i, "email": f"reader{i}@example.com", "status": status, "topics": [],
                 "token": f"t{i:09d}{secrets.token_hex(12)}", "created_at": past, "updated_at": past}
                for i in ids[start:start + chunk]
            ])
    return ids


def set_status(engine, reader_ids, status: str) -> None:
    table = Subscriber.__table__
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.id.in_(list(reader_ids)))
                           .values(status=status, updated_at=utcnow()))


def add_edition(engine, number: int = 1, status: str = "draft") -> int:
    table = Edition.__table__
    with engine.begin() as connection:
        return connection.execute(table.insert().values(
            number=number, week=f"2026-W{number:02d}", status=status, built_at=utcnow())).inserted_primary_key[0]


def edition_status(engine, number: int) -> str:
    table = Edition.__table__
    with engine.connect() as connection:
        return connection.execute(sa.select(table.c.status).where(table.c.number == number)).scalar_one()


def ledger(engine, number: int) -> dict[int, str]:
    """reader id -> state, for one edition."""
    d, e = Delivery.__table__, Edition.__table__
    with engine.connect() as connection:
        rows = connection.execute(sa.select(d.c.subscriber_id, d.c.state).join(e, e.c.id == d.c.edition_id)
                                  .where(e.c.number == number))
        return {reader: state for reader, state in rows}


def ledger_rows(engine, number: int) -> list[dict]:
    d, e = Delivery.__table__, Edition.__table__
    with engine.connect() as connection:
        rows = connection.execute(sa.select(d).join(e, e.c.id == d.c.edition_id).where(e.c.number == number))
        return [dict(row._mapping) for row in rows]


def address(reader_id: int) -> str:
    return f"reader{reader_id}@example.com"


def reader_of(address_: str) -> int:
    return int(address_.removeprefix("reader").split("@")[0])


def built_edition(engine, settings, week: str = "2026-W47") -> int:
    """A real edition (one comparison, frozen by build_edition) that render_edition can render."""
    from digest.editions.service import build_edition
    from digest.store import session_scope
    from test_editions_factory import comparison

    from datetime import date

    year, number = int(week[:4]), int(week[6:])
    published = date.fromisocalendar(year, number, 3).isoformat() + " 09:00"
    with session_scope(engine) as session:
        comparison(session, f"alpha-vs-beta-{week.lower()}", published)
    with session_scope(engine) as session:
        result = build_edition(session, settings, week)
        assert result.edition is not None, result.reason
        return result.edition.number
