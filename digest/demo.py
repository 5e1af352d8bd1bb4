"""The demo: the whole product on the embedded default, in a folder of its own.

A fresh SQLite store and outbox in the folder; the demo comparisons that ship
inside the package imported as this week's and listed; the week's edition built
and previewed; a few demo readers (one of them never confirmed); the edition
delivered to the outbox, once per confirmed reader. It ends by saying what to
open and the one command that serves the pages the edition's links point to.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

from digest.content.catalog import list_comparisons
from digest.content.importer import read_records, write_records
from digest.delivery import send_edition
from digest.editions.service import build_edition
from digest.render.preview import preview, write_preview
from digest.settings import Settings
from digest.store import describe, open_store, session_scope
from digest.timeutil import utcnow
from digest.weeks import current_week, week_bounds
from subscribers.operators import add_reader
from subscribers.service import Consent
from subscribers.validation import SubscribeRequest

DEMO_DATA = files("digest") / "demo_data"
DEMO_READERS = (  # (address, confirmed): the unconfirmed one must get nothing
    ("ada@example.com", True),
    ("grace@example.org", True),
    ("linus@example.net", True),
    ("pending@example.com", False),
)


def demo_settings(base: Settings, folder: Path) -> Settings:
    """The demo always uses its own SQLite file and outbox inside `folder`."""
    return replace(
        base,
        database_url=f"sqlite:///{folder.resolve() / 'digest.db'}",
        outbox=folder.resolve() / "outbox",
        backend="outbox",
    )


MARKER = ".digest-demo"  # written in a demo's folder: what `reset_folder` may erase there is the demo's own
RESET = ("digest.db", "digest.db-wal", "digest.db-shm", "digest.db.send-lock", "outbox", "preview", "digest.db.claims")


def not_the_demos(folder: Path) -> list[str]:
    """What a demo run in `folder` would erase that an earlier demo did not make there (a real store, say)."""
    if (folder / MARKER).exists():
        return []
    return [name for name in RESET if (folder / name).exists()]


def reset_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("A folder of `digest demo`: each run erases the store, outbox and preview here.\n")
    for name in ("digest.db", "digest.db-wal", "digest.db-shm", "digest.db.send-lock"):
        (folder / name).unlink(missing_ok=True)
    for name in ("outbox", "preview", "digest.db.claims"):  # claims: presence.Presence's lock files
        shutil.rmtree(folder / name, ignore_errors=True)


def import_demo_comparisons(settings: Settings) -> int:
    """Import the packaged demo pages, published a few minutes apart within the current week."""
    engine = open_store(settings.database_url)
    paths = sorted(Path(str(p)) for p in DEMO_DATA.iterdir() if p.name.endswith(".txt"))
    records = read_records(paths)
    now = utcnow()
    week_start, _ = week_bounds(current_week(settings.timezone, now), settings.timezone)
    with session_scope(engine) as session:
        for minutes, record in enumerate(records):
            when = max(now - timedelta(minutes=5 * (len(records) - minutes)), week_start)
            write_records(session, [record], site_url=settings.site_url, published_at=when)
    engine.dispose()
    return len(records)


def run_demo(folder: Path, base: Settings, echo: Callable[[str], None]) -> Settings:
    reset_folder(folder)
    settings = demo_settings(base, folder)
    count = import_demo_comparisons(settings)
    echo(f"Created a new store: {describe(settings.database_url)} (the demo's own).")
    echo(f"Imported {count} demo comparisons for {current_week(settings.timezone)}:")
    engine = open_store(settings.database_url)
    with session_scope(engine) as session:
        for row in list_comparisons(session, settings.timezone):
            panel = " / ".join(f"{t['panel_ship']:g}%" for t in row["tools"])
            echo(f"  {row['title']}  (panel ship {panel})")
        result = build_edition(session, settings)
        echo(result.reason)
        number = result.edition.number
        shown = preview(session, settings, number=number)
        for address, confirmed in DEMO_READERS:
            add_reader(
                session,
                SubscribeRequest(email=address),
                confirmed=confirmed,
                consent=Consent(at=utcnow(), source="digest demo"),
            )
    html_path, text_path = write_preview(shown, folder / "preview")
    echo(f"Preview: {html_path}, {text_path}")
    echo(f"Readers: {sum(c for _, c in DEMO_READERS)} confirmed, {sum(not c for _, c in DEMO_READERS)} pending")
    summary = send_edition(engine, settings, number)
    echo(
        f"Sent edition {number} to the outbox: {summary.sent} sent, {summary.failed} failed, "
        f"{summary.uncertain} uncertain, {summary.skipped} skipped -> {settings.outbox}"
    )
    engine.dispose()
    for line in way_on(settings, html_path):
        echo(line)
    return settings


def serve_command(settings: Settings) -> str:
    """The one command that serves the pages the demo's links point to (DIGEST_BASE_URL's host and port)."""
    parts = urlsplit(settings.base_url)
    words = [
        f"DIGEST_DATABASE_URL={shlex.quote(settings.database_url)}",
        f"DIGEST_OUTBOX={shlex.quote(str(settings.outbox))}",
        "digest",
        "serve",
    ]
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
    if host != "127.0.0.1":
        words += ["--host", shlex.quote(host)]
    if port != 8000:
        words += ["--port", str(port)]
    return " ".join(words)


def way_on(settings: Settings, preview_html: Path) -> list[str]:
    """What to do next, printed last: what to open, and the command that makes its links work."""
    return [
        "",
        "Next:",
        f"  Open the edition in a browser: {preview_html.resolve().as_uri()}",
        f"  Its links point to {settings.base_url}; serve those pages (subscribe, archive, unsubscribe, votes) with:",
        f"    {serve_command(settings)}",
        f"  then open {settings.base_url}/ and {settings.base_url}/editions/1. The readers' own copies, with",
        f"  working personal links, are the .eml files in {settings.outbox}.",
    ]
