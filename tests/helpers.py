"""Test helpers, in one place: content, readers, editions, letters, provider events and a served site.

Each writes through the real store or serves the real app; none of it replaces
a part of digest. Holds no tests itself.

    comparisons_file      a week's worth of comparisons as a JSON file the real importer reads
    tool, comparison, at  a small factory writing the content models directly
    long_comparisons      comparisons whose every text is as long as the site's longest
    topical               a comparison whose tools belong to given categories (readers' topics)
    add_readers           readers written straight into the store (a count, or a list of addresses)
    add_reader            one reader with a real token; returns (id, token)
    set_preferences       readers' topics and time zone, written straight into the store
    add_edition, ledger   editions and ledger rows for the delivery tests
    mailed                comparisons as if mailed to readers (a sent edition and its ledger rows): votes count
    mails_of              what the SendGrid-compatible server accepted, per address
    KeyPair               an ECDSA P-256 key made in the test, signing bodies as SendGrid does
    sendgrid_event        one event as SendGrid posts it, custom args as top-level keys
    serve_site            the real web app served on loopback over a real store (create_app + uvicorn)
    axe_violations        axe-core run in a Chromium page; `severe` keeps the serious and critical ones
    spam_scores           SpamAssassin's score and rules for messages, local rules only
    caniemail_errors      doiuse-email's caniemail errors for an email's HTML
    Mailbox, smtp_server  a real SMTP server (aiosmtpd) keeping what it receives
    tmpfs                 a real file system mounted for a test (read-only, tiny), for storage faults
    digest_process        `python -m digest ...` in a process of its own (for kill -9 and exit codes)
    scaled, pause         every wait and timeout, stretched by DIGEST_TEST_WAIT_SCALE
    wait_for, wait_until  poll a condition until it holds or a (scaled) deadline passes
    digest_command        the installed `digest` script, for tests that run it as a process
    in_terminal           `digest ...` run under a pseudo-terminal, answering its question
    clean_env             os.environ without DIGEST_* and SENDGRID_* settings
    fire_wave             the real scheduler on a shifted clock, run until one wave is settled
    confirmation_links, follow_confirmation, preferences_path   a reader's double opt-in, over HTTP
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import pty
import re
import secrets
import select as select_fd
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import httpx
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, select

from digest.content.models import Comparison, Entry, Review, Tool
from digest.delivery import ledger as ledger_module
from digest.delivery.ledger import Delivery
from digest.editions.models import Edition
from digest.editions.service import build_edition
from digest.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from digest.mail import Letter
from digest.mail.placeholders import READER_TOKEN
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import consent
from subscribers.models import Subscriber
from subscribers.tokens import new_reader_token

# --- waiting ------------------------------------------------------------
#
# Every wait a test makes (a deadline for a server to start, for a mail, for a scheduler run; a
# subprocess or HTTP timeout; a pause to let something happen) goes through `scaled`, so that one
# setting stretches them all on a slow or busy machine: DIGEST_TEST_WAIT_SCALE (a factor; default 1,
# or 2 when the CI variable is set). pytest-timeout's per-test limit is scaled the same way (conftest).


def _wait_scale() -> float:
    value = os.environ.get("DIGEST_TEST_WAIT_SCALE") or ("2" if os.environ.get("CI") else "1")
    try:
        scale = float(value)
    except ValueError:
        raise ValueError(f"DIGEST_TEST_WAIT_SCALE must be a number, got {value!r}") from None
    if scale <= 0:
        raise ValueError(f"DIGEST_TEST_WAIT_SCALE must be above 0, got {value!r}")
    return scale


WAIT_SCALE = _wait_scale()


def scaled(seconds: float) -> float:
    """`seconds` of waiting, stretched by DIGEST_TEST_WAIT_SCALE."""
    return seconds * WAIT_SCALE


def pause(seconds: float) -> None:
    """time.sleep(scaled(seconds)): give something in the background time to happen."""
    time.sleep(scaled(seconds))


def wait_for(condition, timeout: float = 10.0, what: str = "the condition", interval: float = 0.02):
    """Poll `condition` until it returns something true (returned), or fail after `timeout` seconds
    (scaled by DIGEST_TEST_WAIT_SCALE)."""
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {limit:g} s waiting for {what} (DIGEST_TEST_WAIT_SCALE={WAIT_SCALE:g})"
            )
        time.sleep(interval)


# --- content ------------------------------------------------------------


def comparisons_file(folder: Path, published: list[datetime], tag: str = "c") -> Path:
    """One comparison per moment in `published` (titled "Tool {tag}{i}a vs Tool {tag}{i}b"), in one JSON file."""
    items = [
        {
            "title": f"Tool {tag}{i}a vs Tool {tag}{i}b",
            "summary": f"Which of the two {tag}{i} tools ships.",
            "published_at": moment.isoformat(),
            "tools": [
                {
                    "name": f"Tool {tag}{i}a",
                    "category": "Agents",
                    "tagline": "One",
                    "description": "First.",
                    "panel_ship": 70,
                    "community": 60,
                    "entry_price": "Free",
                },
                {
                    "name": f"Tool {tag}{i}b",
                    "category": "Agents",
                    "tagline": "Two",
                    "description": "Second.",
                    "panel_ship": 40,
                    "community": None,
                    "entry_price": "$10/mo",
                },
            ],
            "reviews": [{"tool": f"Tool {tag}{i}a", "lens": "builder", "quote": "Ship it.", "verdict": "ship"}],
        }
        for i, moment in enumerate(published)
    ]
    path = folder / f"comparisons-{tag}.json"
    path.write_text(json.dumps({"comparisons": items}), encoding="utf-8")
    return path


# --- comparisons in the store ------------------------------------------------------------


def at(text: str) -> datetime:
    """'2026-11-18 09:00' as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tool(session: Session, slug: str, **fields) -> Tool:
    found = session.exec(select(Tool).where(Tool.slug == slug)).first()
    if found is not None:
        return found
    values = dict(
        name=slug.replace("-", " ").title(),
        category="Developer Tools",
        tagline=f"The tagline of {slug}",
        description=f"What {slug} does.",
        pricing="Paid",
    )
    values.update(fields)
    made = Tool(slug=slug, **values)
    session.add(made)
    session.flush()
    return made


def comparison(
    session: Session,
    slug: str,
    published_at: datetime | str,
    *,
    left: str | None = None,
    right: str | None = None,
    ships: tuple[float, float] = (75, 100),
    community: tuple[float | None, float | None] = (None, 40),
    prices: tuple[str, str] = ("Paid", "Free"),
    title: str | None = None,
    summary: str | None = None,
    url: str | None = None,
    quotes: tuple[str, str] | None = None,
    tool_fields: tuple[dict, dict] = ({}, {}),
) -> Comparison:
    if isinstance(published_at, str):
        published_at = at(published_at)
    left, right = left or f"{slug}-left", right or f"{slug}-right"
    tools = [tool(session, left, **tool_fields[0]), tool(session, right, **tool_fields[1])]
    made = Comparison(
        slug=slug,
        title=title or f"{tools[0].name} vs {tools[1].name}",
        summary=summary or f"The summary of {slug}.",
        url=url or f"https://verdicts.example.com/compare/{slug}",
        published_at=published_at,
    )
    session.add(made)
    session.flush()
    quotes = quotes or (f"Builder quote on {left}. It ships.", f"Builder quote on {right}. It ships too.")
    for position, (side, ship, votes, price, quote) in enumerate(zip(tools, ships, community, prices, quotes)):
        session.add(
            Entry(
                comparison_id=made.id,
                tool_id=side.id,
                position=position,
                panel_ship=ship,
                community=votes,
                entry_price=price,
            )
        )
        session.add(
            Review(
                comparison_id=made.id,
                tool_id=side.id,
                lens="builder",
                position=position,
                quote=quote,
                verdict="ship" if ship >= 50 else "skip",
            )
        )
        session.add(
            Review(
                comparison_id=made.id,
                tool_id=side.id,
                lens="buyer",
                position=position + 6,
                quote=f"Buyer quote on {side.slug}.",
                verdict="unknown",
            )
        )
    session.flush()
    return made


LONG_QUOTE = (
    "The primitive is a streaming session object behind a small SDK, which is the right shape for "
    "the problem. The docs get you to a first call in minutes. Everything after that is detail, "
    "and the detail is good: retries, backpressure and a sane error model."
)


def long_comparisons(session: Session, count: int, published_at: str = "2026-11-18 09:00") -> list[Comparison]:
    """`count` comparisons with every text as long as the site's longest (titles, taglines, prices,
    pull-quotes of about 250 characters): the heaviest cards an edition can carry."""
    made = []
    for i in range(count):
        left, right = f"northwind-ledger-{i}", f"parallax-realtime-{i}"
        made.append(
            comparison(
                session,
                f"{left}-vs-{right}",
                published_at,
                left=left,
                right=right,
                ships=(40 + i % 50, 75),
                community=(None, 64.5),
                prices=("Usage-based, from $0.10 a minute", "Free tier, then $49/mo"),
                title=f"Northwind Ledger Realtime Assistant {i} vs Parallax Avatar Streaming SDK {i}: which ships",
                summary="Which one should you ship with this quarter? The panel's verdict, the entry price and the "
                "community vote, side by side, with what each reviewer said about the two.",
                quotes=(LONG_QUOTE, LONG_QUOTE),
                tool_fields=(
                    {
                        "name": f"Northwind Ledger Realtime Assistant {i}",
                        "category": "Developer Tools",
                        "tagline": "Embed sub-second conversational avatars in any web or mobile app",
                    },
                    {
                        "name": f"Parallax Avatar Streaming SDK {i}",
                        "category": "Video Generation",
                        "tagline": "A sub-2B vision language model that runs on your phone, offline first",
                    },
                ),
            )
        )
    return made


def two_comparisons(engine, build: str | None = None) -> None:
    """ "Relaybench vs Quillpatch" and "Lumen vs Orbit", published in 2026-W47; with `build`, that week's
    edition built too (`build` is the week)."""
    with session_scope(engine) as session:
        comparison(session, "relaybench-vs-quillpatch", "2026-11-17 09:00", title="Relaybench vs Quillpatch")
        comparison(session, "lumen-vs-orbit", "2026-11-18 09:00", title="Lumen vs Orbit")
        if build:
            build_edition(session, Settings(), build)


def topical(
    session: Session, slug: str, published_at: datetime | str, categories: tuple[str, str], title: str
) -> Comparison:
    """A comparison whose two tools belong to `categories` (what its readers' topics are matched against)."""
    return comparison(
        session, slug, published_at, title=title, tool_fields=({"category": categories[0]}, {"category": categories[1]})
    )


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


def add_readers(
    engine,
    readers: int | Iterable[str],
    *,
    first: int = 1,
    status: str = "active",
    confirmed_at: datetime | None = None,
    chunk: int = 10_000,
    topics: Sequence[str] = (),
    timezone: str | None = None,
) -> list[int]:
    """Readers written straight into the store; returns their ids.

    `readers` is a count (reader{first}@example.com ... with ids first, first+1, ...)
    or a list of addresses (ids as the database gives them, and real reader tokens). A reader who is not
    pending counts as confirmed at `confirmed_at` (default: now). All get `topics` and `timezone`.
    """
    table = Subscriber.__table__
    past = utcnow() - timedelta(days=30)
    confirmed = None if status == "pending" else (confirmed_at or past)
    if isinstance(readers, int):  # tokens that say whose they are: t000000042...
        rows = [
            {"id": i, "email": address(i), "token": f"t{i:09d}{secrets.token_hex(12)}"}
            for i in range(first, first + readers)
        ]
    else:
        rows = [{"email": email, "token": new_reader_token()} for email in readers]
    for row in rows:
        row.update(
            status=status,
            topics=list(topics),
            timezone=timezone,
            created_at=past,
            updated_at=past,
            confirmed_at=confirmed,
        )
    ids = []
    with engine.begin() as connection:
        for start in range(0, len(rows), chunk):
            batch = rows[start : start + chunk]
            if "id" in batch[0]:
                connection.execute(table.insert(), batch)
                ids += [row["id"] for row in batch]
            else:
                ids += [connection.execute(table.insert().values(**row)).inserted_primary_key[0] for row in batch]
            _log_joined(connection, ids[-len(batch) :], status)
    return ids


def _log_joined(connection, ids: list[int], status: str) -> None:
    """The consent log's lines for readers written straight into the store, as subscribing would have
    written them: an opt-in; a confirmation unless pending; an opt-out for a reader who left."""
    table, log = Subscriber.__table__, consent.log
    columns = ["subscriber_id", "at", "kind", "status", "source"]
    lines = [(table.c.created_at, consent.OPT_IN, "pending", "tests")]
    if status != "pending":
        lines.append((table.c.confirmed_at, consent.CONFIRMATION, "active", "tests"))
    if status not in ("pending", "active"):
        lines.append((table.c.updated_at, consent.OPT_OUT, status, "tests"))
    for at, kind, after, source in lines:
        for start in range(0, len(ids), 1000):
            connection.execute(
                sa.insert(log).from_select(
                    columns,
                    sa.select(table.c.id, at, sa.literal(kind), sa.literal(after), sa.literal(source)).where(
                        table.c.id.in_(ids[start : start + 1000])
                    ),
                )
            )


def add_reader(engine, email: str, status: str = "active", confirmed_at=None) -> tuple[int, str]:
    """One reader (see add_readers); returns (id, token)."""
    [reader_id] = add_readers(engine, [email], status=status, confirmed_at=confirmed_at)
    with engine.connect() as connection:
        token = connection.execute(
            sa.select(Subscriber.__table__.c.token).where(Subscriber.__table__.c.id == reader_id)
        ).scalar_one()
    return reader_id, token


def set_status(engine, reader_ids, status: str) -> None:
    """Readers' status written straight into the store, with the consent log's line for the change."""
    table, now = Subscriber.__table__, utcnow()
    kind = {"pending": consent.OPT_IN, "active": consent.CONFIRMATION}.get(status, consent.OPT_OUT)
    with engine.begin() as connection:
        connection.execute(
            sa.update(table).where(table.c.id.in_(list(reader_ids))).values(status=status, updated_at=now)
        )
        consent.append(connection, [consent.entry(reader, now, kind, status, "tests") for reader in reader_ids])


def set_preferences(
    engine,
    reader_ids,
    *,
    topics: Sequence[str] | None = None,
    timezone: str | None = "keep",
    when: datetime | None = None,
) -> None:
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
        return connection.execute(
            table.insert().values(number=number, week=f"2026-W{number:02d}", status=status, built_at=utcnow())
        ).inserted_primary_key[0]


def mailed(engine, reader_ids: Iterable[int], slugs: Sequence[str]) -> int:
    """The comparisons `slugs` as if mailed to the readers: a sent edition of its own holding them, with a
    `sent` ledger row per reader (what lets a reader vote on them). Returns the edition's number."""
    from digest.delivery.states import DeliveryState
    from digest.editions.models import EditionItem
    from digest.editions.status import EditionStatus

    with session_scope(engine) as session:
        number = (session.exec(select(sa.func.max(Edition.number))).one() or 0) + 1
        edition = Edition(
            number=number, week=f"2030-W{number:02d}", status=EditionStatus.SENT, built_at=utcnow(), frozen_at=utcnow()
        )
        session.add(edition)
        session.flush()
        ids = dict(session.exec(select(Comparison.slug, Comparison.id).where(Comparison.slug.in_(list(slugs)))).all())
        for position, slug in enumerate((s for s in slugs if s in ids), start=1):  # those stored
            session.add(EditionItem(edition_id=edition.id, comparison_id=ids[slug], position=position, included=True))
        for reader in reader_ids:
            session.add(
                Delivery(edition_id=edition.id, subscriber_id=reader, state=DeliveryState.SENT, finished_at=utcnow())
            )
        return number


def edition_status(engine, number: int) -> str:
    table = Edition.__table__
    with engine.connect() as connection:
        return connection.execute(sa.select(table.c.status).where(table.c.number == number)).scalar_one()


def ledger(engine, number: int) -> dict[int, str]:
    """reader id -> state, for one edition."""
    d, e = Delivery.__table__, Edition.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(d.c.subscriber_id, d.c.state).join(e, e.c.id == d.c.edition_id).where(e.c.number == number)
        )
        return {reader: state for reader, state in rows}


def ledger_rows(engine, number: int) -> list[dict]:
    d, e = Delivery.__table__, Edition.__table__
    with engine.connect() as connection:
        editions = sa.select(e.c.id).where(e.c.number == number)
        rows = connection.execute(ledger_module.rows_of(d.c.edition_id.in_(editions)))
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
                    Mail(body["subject"], contents["text/plain"], contents["text/html"], person.get("custom_args", {}))
                )
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

    return {
        address: p["substitutions"][CONFIRM_URL]
        for address, p in server.recipients()
        if p.get("custom_args", {}).get("purpose") == "confirmation"
    }


def follow_confirmation(http: httpx.Client, link: str) -> httpx.Response:
    """Open a confirmation link as a reader would: the page, and its button if it has one."""
    page = http.get(link)
    form = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
    return http.post(form.group(1)) if form else page


def preferences_path(page: str) -> str:
    """The reader's own preferences link on a page (such as the confirmation page)."""
    return re.search(r"/preferences/[A-Za-z0-9_-]{43}", page).group(0)


# --- the scheduler ------------------------------------------------------------


def wait_until(condition, timeout: float = 20.0, what: str = "a condition"):
    """wait_for, polling every 50 ms."""
    return wait_for(condition, timeout, what, interval=0.05)


def fire_wave(
    engine,
    settings,
    slot: datetime,
    *,
    start: datetime | None = None,
    lease_ttl: float = 60,
    schedulers: int = 1,
    confirmations: bool = False,
):
    """The application's real scheduler (APScheduler, leases, run records) on a clock shifted to just
    before `slot` (or to `start`), run until the wave at `slot` is settled, then stopped.
    Returns the clock, to read the provider's arrival times on it. With `schedulers=2`, two instances
    (two holders) run side by side on one database."""
    from digest.jobs import WEEKLY_JOB, build_scheduler
    from schedules import ShiftedClock, runs

    clock = ShiftedClock(start or slot - timedelta(seconds=1.5))
    running = [
        build_scheduler(
            engine, settings, clock=clock, confirmations=confirmations, lease_ttl=timedelta(seconds=lease_ttl)
        )
        for _ in range(schedulers)
    ]
    for scheduler in running:
        scheduler.start()
    try:
        wait_until(
            lambda: (
                (record := runs.find(engine, WEEKLY_JOB, slot)) is not None
                and record.outcome not in ("running", "failed")
            ),
            30,
            f"the wave at {slot:%Y-%m-%d %H:%M} UTC",
        )
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
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def sign(self, body: bytes, timestamp: str) -> str:
        return base64.b64encode(self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {"Content-Type": "application/json", SIGNATURE_HEADER: self.sign(body, stamp), TIMESTAMP_HEADER: stamp}


def sendgrid_event(
    event: str,
    email: str,
    *,
    edition: int | None = 1,
    reader: int | None = None,
    sg_event_id: str | None = None,
    timestamp: int | None = None,
    **extra,
) -> dict:
    item = {
        "email": email,
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "event": event,
        "sg_event_id": sg_event_id or uuid.uuid4().hex,
        "sg_message_id": f"{uuid.uuid4().hex[:22]}.filter0001",
        "smtp-id": f"<{uuid.uuid4().hex}@example.com>",
    }
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
        self.http = httpx.Client(base_url=url, timeout=scaled(10.0))

    def post_events(
        self,
        keys: KeyPair,
        events: Sequence[dict] | bytes,
        *,
        timestamp: int | None = None,
        headers: dict | None = None,
    ) -> httpx.Response:
        body = events if isinstance(events, bytes) else body_of(events)
        sent = keys.headers(body, timestamp) if headers is None else headers
        return self.http.post("/webhooks/sendgrid", content=body, headers=sent)


@contextmanager
def serve_site(db_url: str, **settings_fields) -> Iterator[Site]:
    from digest.web import create_app
    from digest.web.server import base_url, bind, serving

    sock = bind()
    url = base_url(sock)
    scratch = None
    if "outbox" not in settings_fields:  # mail goes to a folder of its own, never ./outbox
        scratch = tempfile.TemporaryDirectory(prefix="digest-outbox-")
        settings_fields["outbox"] = Path(scratch.name)
    settings = replace(Settings(), database_url=db_url, base_url=url, **settings_fields)
    engine = open_store(db_url)
    app = create_app(settings, engine)
    try:
        with serving(app, sock, forwarded_allow_ips=settings.forwarded_allow_ips) as served:
            site = Site(settings, engine, served)
            try:
                yield site
            finally:
                site.http.close()
    finally:
        sock.close()
        engine.dispose()
        if scratch is not None:
            scratch.cleanup()


# --- the tools mailbox providers and auditors use ------------------------------------------

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
}"""
SEVERE = ("serious", "critical")


def axe_violations(page, axe_script: Path) -> list[dict]:
    """Every axe-core violation on the page now (its default rules: WCAG 2.0-2.2 A and AA, best practice)."""
    page.add_script_tag(path=str(axe_script))
    return page.evaluate(AXE_RUN)


def severe(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in SEVERE]


def spam_scores(spamassassin: str, messages: dict[str, bytes], home: Path) -> dict[str, tuple[float, set[str]]]:
    """name -> (score, rules hit) from `spamassassin -t -L` (local rules only, no network), run side by side."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}  # its per-user files go to the test's folder
    running = {
        name: subprocess.Popen(
            [spamassassin, "-t", "-L"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for name in messages
    }
    scores = {}
    for name, process in running.items():
        out, err = process.communicate(messages[name], timeout=scaled(240))
        report = out.decode("utf-8", "replace")
        found = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
        assert found, f"spamassassin gave no report for {name}: {err.decode()[-2000:]}"
        details = report[found.start() :]
        rules = set(re.findall(r"^\s*-?[\d.]+\s+([A-Z0-9_]+)\s", details, re.M))
        scores[name] = (float(found.group(1)), rules)
    return scores


def caniemail_errors(node_tools: Path, html: str) -> list[str]:
    """@jsx-email/doiuse-email's errors for `html` (tests/node/doiuse.js)."""
    done = subprocess.run(
        ["node", str(node_tools / "doiuse.js")],
        input=html,
        capture_output=True,
        text=True,
        cwd=node_tools,
        timeout=scaled(120),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- SMTP ------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps every message (parsed, and the raw bytes) and refuses the
    addresses it is told to."""

    def __init__(self, refuse=()):
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[list[str]] = []
        self.refuse = set(refuse)

    async def handle_RCPT(self, server, session, envelope, address_, rcpt_options):
        if address_ in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address_)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.content)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def smtp_controller(mailbox: Mailbox, **options):
    """aiosmtpd serving `mailbox` on a free loopback port, started; `.stop()` it when done."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # aiosmtpd needs a real port number up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller


@contextmanager
def smtp_server(mailbox: Mailbox | None = None, **options) -> Iterator[tuple[Mailbox, str]]:
    """(mailbox, DIGEST_SMTP_URL) for a running aiosmtpd."""
    mailbox = mailbox or Mailbox()
    controller = smtp_controller(mailbox, **options)
    try:
        yield mailbox, f"smtp://127.0.0.1:{controller.port}"
    finally:
        controller.stop()


# --- processes ------------------------------------------------------------


def digest_env(**values: str) -> dict[str, str]:
    """This process's environment without any DIGEST_ or SENDGRID_ setting, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    return {**env, "PYTHONUNBUFFERED": "1", **values}


# Every process a test starts through `start_process` leads a process group of its own and is
# recorded here; conftest's autouse fixture `stop_leftover_processes` kills the groups still running
# when a test ends (passed, failed or timed out), and at exit, so no server outlives its test.
_STARTED: list[subprocess.Popen] = []


def start_process(command: Sequence[str], **options) -> subprocess.Popen:
    """subprocess.Popen(command) leading a process group of its own, stopped at the latest when the test ends."""
    process = subprocess.Popen(list(command), start_new_session=True, **options)
    process.own_group = True
    _STARTED.append(process)
    return process


def stop_process(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM (to its whole group if it leads one), SIGKILL after `grace` seconds (scaled) to whatever
    is left; pipes closed. Safe to call on a process that has already ended, and more than once."""

    def send(sig: int) -> None:
        try:
            if getattr(process, "own_group", False):
                os.killpg(process.pid, sig)  # a server's children go with it
            elif process.poll() is None:
                process.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    if process.poll() is None:
        send(signal.SIGTERM)
        try:
            process.wait(timeout=scaled(grace))
        except subprocess.TimeoutExpired:
            pass
    send(signal.SIGKILL)  # the leader if SIGTERM did not end it, and anything left in its group
    try:
        process.wait(timeout=scaled(grace))
    except subprocess.TimeoutExpired:
        pass
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def stop_started_processes() -> list[str]:
    """Stop every process started with start_process that is still running; returns what was left running."""
    left = []
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            left.append(" ".join(map(str, process.args)) if isinstance(process.args, list) else str(process.args))
        stop_process(process, grace=1.0)
    return left


@contextmanager
def running(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """`process` (from start_process or digest_process), its group stopped when the block ends, however it ends."""
    try:
        yield process
    finally:
        stop_process(process)


def digest_process(args: Sequence[str], env: dict[str, str], **options) -> subprocess.Popen:
    """`python -m digest ARGS` in a process (and process group) of its own, its output captured."""
    return start_process(
        [sys.executable, "-m", "digest", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def healthy(port: int) -> bool:
    """Whether `digest serve` on 127.0.0.1:`port` answers /healthz with 200."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=scaled(1)).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def digest_serve(
    env: dict[str, str], log: Path, port: int | None = None, start: float = 60, stop: float = 30
) -> Iterator[subprocess.Popen]:
    """`digest serve --port PORT` in a process group of its own, answering /healthz (within `start`
    seconds, scaled) before the block runs, and stopped (SIGTERM, then SIGKILL after `stop` seconds,
    to its whole group) when the block ends, however it ends. Its output goes to the file `log`, never
    to a pipe nobody reads (a full pipe would stall the server); the port is `process.port`."""
    port = port or free_port()
    with open(log, "ab") as output:
        process = start_process(
            [sys.executable, "-m", "digest", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    process.port = port
    try:
        wait_for(lambda: healthy(port) or process.poll() is not None, start, f"digest serve on port {port} to start")
        if process.poll() is not None:
            raise AssertionError(f"digest serve exited with {process.returncode}: {log_tail(log)}")
        yield process
    finally:
        stop_process(process, grace=stop)


def log_tail(path: Path, size: int = 4000) -> str:
    """The end of a log file, for a failure message."""
    try:
        return path.read_bytes()[-size:].decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"


def run_process(
    command: Sequence[str], timeout: float = 120, *, capture_output: bool = True, text: bool = True, **options
) -> subprocess.CompletedProcess:
    """subprocess.run(command, timeout=scaled(timeout)), in a process group of its own that is stopped
    when it ends or times out: a benchmark's sink or a server it started goes with it."""
    if capture_output:
        options.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process = start_process(command, text=text, **options)
    with running(process):
        out, err = process.communicate(timeout=scaled(timeout))
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run_digest(args: Sequence[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m digest ARGS` to the end: exit status, stdout and stderr."""
    return run_process([sys.executable, "-m", "digest", *args], timeout, env=env)


# --- storage faults ------------------------------------------------------------


@contextmanager
def tmpfs(folder: Path, options: str = "rw") -> Iterator[Path]:
    """A tmpfs mounted on `folder` (made if missing) with mount `options` such as "ro" or "size=64k";
    `remount(folder, options)` changes them. Needs root, as CI has; elsewhere the test skips."""
    from conftest import missing_service

    if os.geteuid() != 0:
        missing_service("root, to mount a tmpfs for a storage fault")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True, capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True)


# --- running `digest` as a process ------------------------------------------------------------


def digest_command(python: Path | str | None = None) -> list[str]:
    """The `digest` console script beside `python` (default: this interpreter), or `python -m digest`."""
    python = Path(python or sys.executable)
    script = python.parent / "digest"
    return [str(script)] if script.exists() else [str(python), "-m", "digest"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(extra)
    return env


def in_terminal(
    args: Sequence[str], env: dict[str, str], answer: str | None = None, timeout: float = 60.0
) -> tuple[int, str]:
    """Run `digest *args` with a pseudo-terminal as its stdin and stdout; type `answer` once it asks
    (its output ends with "[y/N]: "). Returns (exit status, everything it printed)."""
    main, child = pty.openpty()
    process = start_process(
        [*digest_command(), *args], stdin=child, stdout=child, stderr=child, env=env, close_fds=True
    )
    os.close(child)
    output, answered = b"", False
    deadline = time.monotonic() + scaled(timeout)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select_fd.select([main], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # the child closed the terminal: it has finished
                    break
                if not chunk:
                    break
                output += chunk
                if answer is not None and not answered and output.rstrip().endswith(b"[y/N]:"):
                    os.write(main, answer.encode() + b"\n")
                    answered = True
            elif process.poll() is not None:
                break
        return process.wait(timeout=max(1.0, deadline - time.monotonic())), output.decode("utf-8", "replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
