"""Test helpers, in one place: content, readers, editions, letters, provider events and a served site.

Each writes through the real store or serves the real app; none of it replaces
a part of digest. Holds no tests itself.

    comparisons_file      a week's worth of comparisons as a JSON file the real importer reads
    tool, comparison, at  a small factory writing the content models directly
    topical               a comparison whose tools belong to given categories (readers' topics)
    add_readers           readers written straight into the store (a count, or a list of addresses)
    add_reader            one reader with a real token; returns (id, token)
    set_preferences       readers' topics and time zone, written straight into the store
    add_edition, ledger   editions and ledger rows for the delivery tests
    mails_of              what the SendGrid-compatible server accepted, per address
    KeyPair               an ECDSA P-256 key made in the test, signing bodies as SendGrid does
    sendgrid_event        one event as SendGrid posts it, custom args as top-level keys
    serve_site            the real web app served on loopback over a real store (create_app + uvicorn)
    fire_wave             the real scheduler on a shifted clock, run until one wave is settled
    confirmation_links, follow_confirmation, preferences_path   a reader's double opt-in, over HTTP
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import httpx
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, select

from digest.content.models import Comparison, Entry, Review, Tool
from digest.delivery.ledger import Delivery
from digest.editions.models import Edition
from digest.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from digest.mail import Letter
from digest.mail.placeholders import READER_TOKEN
from digest.settings import Settings
from digest.store import open_store
from digest.timeutil import utcnow
from subscribers.models import Subscriber
from subscribers.tokens import new_reader_token

# --- content ------------------------------------------------------------

def comparisons_file(folder: Path, published: list[datetime], tag: str = "c") -> Path:
    """One comparison per moment in `published` (titled "Tool {tag}{i}a vs Tool {tag}{i}b"), in one JSON file."""
    items = [{
        "title": f"Tool {tag}{i}a vs Tool {tag}{i}b",
        "summary": f"Which of the two {tag}{i} tools ships.",
        "published_at": moment.isoformat(),
        "tools": [
            {"name": f"Tool {tag}{i}a", "category": "Agents", "tagline": "One", "description": "First.",
             "panel_ship": 70, "community": 60, "entry_price": "Free"},
            {"name": f"Tool {tag}{i}b", "category": "Agents", "tagline": "Two", "description": "Second.",
             "panel_ship": 40, "community": None, "entry_price": "$10/mo"},
        ],
        "reviews": [{"tool": f"Tool {tag}{i}a", "lens": "builder", "quote": "Ship it.", "verdict": "ship"}],
    } for i, moment in enumerate(published)]
    path = folder / f"comparisons-{tag}.json"
    path.write_text(json.dumps({"comparisons": items}), encoding="utf-8")
    return path


# --- comparisons in the store ------------------------------------------------------------

def at(text: str) -> datetime:
    """'2026-11-18 09:00' as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def tool(session: Session, slug: str, **fields) -> Tool:
    found = session.exec(select(Tool).where(Tool.slug == slug)).first()
    if found is not None:
        return found
    values = dict(name=slug.replace("-", " ").title(), category="Developer Tools",
                  tagline=f"The tagline of {slug}", description=f"What {slug} does.", pricing="Paid")
    values.update(fields)
    made = Tool(slug=slug, **values)
    session.add(made)
    session.flush()
    return made


def comparison(session: Session, slug: str, published_at: datetime | str, *, left: str | None = None,
               right: str | None = None, ships: tuple[float, float] = (75, 100),
               community: tuple[float | None, float | None] = (None, 40),
               prices: tuple[str, str] = ("Paid", "Free"), title: str | None = None, summary: str | None = None,
               url: str | None = None, quotes: tuple[str, str] | None = None,
               tool_fields: tuple[dict, dict] = ({}, {})) -> Comparison:
    if isinstance(published_at, str):
        published_at = at(published_at)
    left, right = left or f"{slug}-left", right or f"{slug}-right"
    tools = [tool(session, left, **tool_fields[0]), tool(session, right, **tool_fields[1])]
    made = Comparison(slug=slug, title=title or f"{tools[0].name} vs {tools[1].name}",
                      summary=summary or f"The summary of {slug}.",
                      url=url or f"https://verdicts.example.com/compare/{slug}", published_at=published_at)
    session.add(made)
    session.flush()
    quotes = quotes or (f"Builder quote on {left}. It ships.", f"Builder quote on {right}. It ships too.")
    for position, (side, ship, votes, price, quote) in enumerate(zip(tools, ships, community, prices, quotes)):
        session.add(Entry(comparison_id=made.id, tool_id=side.id, position=position, panel_ship=ship,
                          community=votes, entry_price=price))
        session.add(Review(comparison_id=made.id, tool_id=side.id, lens="builder", position=position,
                           quote=quote, verdict="ship" if ship >= 50 else "skip"))
        session.add(Review(comparison_id=made.id, tool_id=side.id, lens="buyer", position=position + 6,
                           quote=f"Buyer quote on {side.slug}.", verdict="unknown"))
    session.flush()
    return made


def topical(session: Session, slug: str, published_at: datetime | str, categories: tuple[str, str],
            title: str) -> Comparison:
    """A comparison whose two tools belong to `categories` (what its readers' topics are matched against)."""
    return comparison(session, slug, published_at, title=title,
                      tool_fields=({"category": categories[0]}, {"category": categories[1]}))


# --- delivery ------------------------------------------------------------

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


def add_readers(engine, readers: int | Iterable[str], *, first: int = 1, status: str = "active",
                confirmed_at: datetime | None = None, chunk: int = 10_000, topics: Sequence[str] = (),
                timezone: str | None = None) -> list[int]:
    """Readers written straight into the store; returns their ids.

    `readers` is a count (reader{first}@example.com ... with ids first, first+1, ...)
    or a list of addresses (ids as the database gives them, and real reader tokens). A reader who is not
    pending counts as confirmed at `confirmed_at` (default: now). All get `topics` and `timezone`.
    """
    table = Subscriber.__table__
    past = utcnow() - timedelta(days=30)
    confirmed = None if status == "pending" else (confirmed_at or past)
    if isinstance(readers, int):  # tokens that say whose they are: t000000042...
        rows = [{"id": i, "email": address(i), "token": f"t{i:09d}{secrets.token_hex(12)}"}
                for i in range(first, first + readers)]
    else:
        rows = [{"email": email, "token": new_reader_token()} for email in readers]
    for row in rows:
        row.update(status=status, topics=list(topics), timezone=timezone, created_at=past, updated_at=past,
                   confirmed_at=confirmed)
    ids = []
    with engine.begin() as connection:
        for start in range(0, len(rows), chunk):
            batch = rows[start:start + chunk]
            if "id" in batch[0]:
                connection.execute(table.insert(), batch)
                ids += [row["id"] for row in batch]
            else:
                ids += [connection.execute(table.insert().values(**row)).inserted_primary_key[0] for row in batch]
    return ids


def add_reader(engine, email: str, status: str = "active", confirmed_at=None) -> tuple[int, str]:
    """One reader (see add_readers); returns (id, token)."""
    [reader_id] = add_readers(engine, [email], status=status, confirmed_at=confirmed_at)
    with engine.connect() as connection:
        token = connection.execute(sa.select(Subscriber.__table__.c.token)
                                   .where(Subscriber.__table__.c.id == reader_id)).scalar_one()
    return reader_id, token


def set_status(engine, reader_ids, status: str) -> None:
    table = Subscriber.__table__
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.id.in_(list(reader_ids)))
                           .values(status=status, updated_at=utcnow()))


def set_preferences(engine, reader_ids, *, topics: Sequence[str] | None = None, timezone: str | None = "keep",
                    when: datetime | None = None) -> None:
    """Readers' topics and/or zone, written straight into the store (as the preferences page would save them)."""
    table = Subscriber.__table__
    values = {"updated_at": when or utcnow()}
    if topics is not None:
        values["topics"] = list(topics)
    if timezone != "keep":
        values["timezone"] = timezone
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.id.in_(list(reader_ids))).values(**values))


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


class Mail(NamedTuple):
    subject: str
    text: str
    html: str
    custom_args: dict


def mails_of(server) -> dict[str, list[Mail]]:
    """address -> every mail the SendGrid-compatible server accepted for it (the request's letter)."""
    found: dict[str, list[Mail]] = {}
    for accepted in server.accepted:
        body = accepted.body
        contents = {c["type"]: c["value"] for c in body["content"]}
        for person in body["personalizations"]:
            for to in person["to"]:
                found.setdefault(to["email"], []).append(
                    Mail(body["subject"], contents["text/plain"], contents["text/html"], person.get("custom_args", {})))
    return found


def address(reader_id: int) -> str:
    return f"reader{reader_id}@example.com"


def reader_of(address_: str) -> int:
    return int(address_.removeprefix("reader").split("@")[0])


def built_edition(engine, settings, week: str = "2026-W47") -> int:
    """A real edition (one comparison, frozen by build_edition) that render_edition can render."""
    from datetime import date

    from helpers import comparison

    from digest.editions.service import build_edition
    from digest.store import session_scope

    year, number = int(week[:4]), int(week[6:])
    published = date.fromisocalendar(year, number, 3).isoformat() + " 09:00"
    with session_scope(engine) as session:
        comparison(session, f"alpha-vs-beta-{week.lower()}", published)
    with session_scope(engine) as session:
        result = build_edition(session, settings, week)
        assert result.edition is not None, result.reason
        return result.edition.number


def confirmation_links(server) -> dict[str, str]:
    """address -> the confirmation link its mail carried (a substitution filled by the provider)."""
    from digest.delivery.confirmations import CONFIRM_URL

    return {address: p["substitutions"][CONFIRM_URL] for address, p in server.recipients()
            if p.get("custom_args", {}).get("purpose") == "confirmation"}


def follow_confirmation(http: httpx.Client, link: str) -> httpx.Response:
    """Open a confirmation link as a reader would: the page, and its button if it has one."""
    page = http.get(link)
    form = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
    return http.post(form.group(1)) if form else page


def preferences_path(page: str) -> str:
    """The reader's own preferences link on a page (such as the confirmation page)."""
    return re.search(r"/preferences/[A-Za-z0-9_-]{43}", page).group(0)


# --- the scheduler ------------------------------------------------------------

def wait_until(condition, timeout: float = 20.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def fire_wave(engine, settings, slot: datetime, *, start: datetime | None = None, lease_ttl: float = 60,
              schedulers: int = 1, confirmations: bool = False):
    """The application's real scheduler (APScheduler, leases, run records) on a clock shifted to just
    before `slot` (or to `start`), run until the wave at `slot` is settled, then stopped.
    Returns the clock, to read the provider's arrival times on it. With `schedulers=2`, two instances
    (two holders) run side by side on one database."""
    from digest.jobs import WEEKLY_JOB, build_scheduler
    from schedules import ShiftedClock, runs

    clock = ShiftedClock(start or slot - timedelta(seconds=1.5))
    running = [build_scheduler(engine, settings, clock=clock, confirmations=confirmations,
                               lease_ttl=timedelta(seconds=lease_ttl)) for _ in range(schedulers)]
    for scheduler in running:
        scheduler.start()
    try:
        wait_until(lambda: (record := runs.find(engine, WEEKLY_JOB, slot)) is not None
                   and record.outcome not in ("running", "failed"), 30, f"the wave at {slot:%Y-%m-%d %H:%M} UTC")
    finally:
        for scheduler in running:
            scheduler.stop()
    return clock


# --- feedback ------------------------------------------------------------

class KeyPair:
    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_b64(self) -> str:
        """The form SendGrid's settings page shows (base64 DER, no PEM armour)."""
        der = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def sign(self, body: bytes, timestamp: str) -> str:
        return base64.b64encode(self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {"Content-Type": "application/json", SIGNATURE_HEADER: self.sign(body, stamp),
                TIMESTAMP_HEADER: stamp}


def sendgrid_event(event: str, email: str, *, edition: int | None = 1, reader: int | None = None,
                   sg_event_id: str | None = None, timestamp: int | None = None, **extra) -> dict:
    item = {"email": email, "timestamp": int(time.time()) if timestamp is None else timestamp,
            "event": event, "sg_event_id": sg_event_id or uuid.uuid4().hex,
            "sg_message_id": f"{uuid.uuid4().hex[:22]}.filter0001", "smtp-id": f"<{uuid.uuid4().hex}@example.com>"}
    if edition is not None:
        item["edition"] = str(edition)
    if reader is not None:
        item["reader_id"] = str(reader)
    item.update(extra)
    return item


def body_of(events: Sequence[dict]) -> bytes:
    """Compact JSON with a trailing newline, as SendGrid sends it."""
    return (json.dumps(list(events), separators=(",", ":")) + "\r\n").encode()


class Site:
    """The whole web app on 127.0.0.1:<free port>, with its own settings and store."""

    def __init__(self, settings: Settings, engine, url: str):
        self.settings, self.engine, self.url = settings, engine, url
        self.http = httpx.Client(base_url=url, timeout=10.0)

    def post_events(self, keys: KeyPair, events: Sequence[dict] | bytes, *, timestamp: int | None = None,
                    headers: dict | None = None) -> httpx.Response:
        body = events if isinstance(events, bytes) else body_of(events)
        sent = keys.headers(body, timestamp) if headers is None else headers
        return self.http.post("/webhooks/sendgrid", content=body, headers=sent)


@contextmanager
def serve_site(db_url: str, **settings_fields) -> Iterator[Site]:
    from digest.web import create_app
    from digest.web.server import base_url, bind, serving

    sock = bind()
    url = base_url(sock)
    settings = replace(Settings(), database_url=db_url, base_url=url, **settings_fields)
    engine = open_store(db_url)
    app = create_app(settings, engine)
    try:
        with serving(app, sock) as served:
            site = Site(settings, engine, served)
            try:
                yield site
            finally:
                site.http.close()
    finally:
        sock.close()
        engine.dispose()
