"""Seeing an edition before anyone else does: files on disk, a local page, a test send.

Everything here renders exactly what readers get (the same Letter), then fills
the per-reader placeholders with a sample reader's token. A week with no
edition yet is previewed as the draft it would become, without saving it.
Readers get the edition in variants (the comparisons in their topics): a
preview shows the whole edition (what readers with no topics get) or, given
topics, the variant readers with those topics get; the local page lists every
variant with its reader count and shows any of them.
"""

from __future__ import annotations

import hashlib
import html as markup
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jinja2
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.content.catalog import topics_in_store
from digest.content.models import Comparison
from digest.editions.models import Edition
from digest.editions.selection import normalize_week, shortfall_reason
from digest.editions.service import (
    candidates_for_week,
    dated_after,
    edition_at_hand,
    edition_comparisons,
    get_edition,
    left_out,
    next_number,
    offered,
)
from digest.editions.status import EditionStatus
from digest.editions.variants import Variant, for_topics, group, key_of
from digest.errors import DigestError, EditionError
from digest.mail import Letter, Recipient, Sender, SendResult
from digest.mail.message import fill
from digest.mail.placeholders import READER_TOKEN, reader_substitutions
from digest.render import RenderedEdition, render_comparisons
from digest.render.clip import size_report
from digest.render.templates import environment, where
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import utcnow
from subscribers import audience, links

SAMPLE_READER = "sample-reader"  # the token that fills a preview's links (no reader has it)
PAGE_TEMPLATE = "preview/page.html.j2"
ERROR_TEMPLATE = "preview/error.html.j2"
NOT_BUILT = "not built yet"


@dataclass(frozen=True)
class EditionState:
    """What the editor should know beside the rendering: is it built, has it gone, what is left out."""

    status: str  # an EditionStatus, or NOT_BUILT
    sent_at: datetime | None = None
    left_out: tuple[str, ...] = ()  # titles of the comparisons the editor left out
    future: tuple[tuple[str, datetime], ...] = ()  # (title, date) of those dated after now


@dataclass(frozen=True)
class Preview:
    rendered: RenderedEdition
    html: str  # placeholders filled with SAMPLE_READER
    text: str
    state: EditionState
    variants: tuple[Variant, ...] = ()  # the edition's variants with their reader counts, most readers first
    shown: str | None = None  # the key of the variant shown (None: the whole edition)
    unmatched: int = 0  # readers whose topics match none of its comparisons

    @property
    def subject(self) -> str:
        return self.rendered.letter.subject

    @property
    def saved(self) -> bool:
        """False: a draft of a week not built yet."""
        return self.state.status != NOT_BUILT

    @property
    def version(self) -> str:
        """Changes whenever anything the preview page shows changes (templates, the edition, its state)."""
        return fingerprint(self.html, self.text, self.subject, repr(self.state), repr(self.variants), self.shown or "")


def fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:16]


def _state(session: Session, edition: Edition, shown, now: datetime) -> EditionState:
    return EditionState(
        edition.status,
        edition.sent_at,
        tuple(c.title for c in left_out(session, edition)),
        tuple((c.title, c.published_at) for c in dated_after(shown, now)),
    )


def _edition_for(
    session: Session, settings: Settings, week: str | None, number: int | None, now: datetime | None
) -> tuple[Edition | None, int, str, list[Comparison]]:
    """(edition or None for a draft not built, its number, its week, the comparisons it shows);
    without a number or week, the edition at hand (the earliest not yet sent, else the current week's)."""
    if number is None and week is None:
        hand = edition_at_hand(session, settings, now)
        number, week = (hand.edition.number, None) if hand.edition is not None else (None, hand.week)
    if number is not None:
        edition = get_edition(session, number=number)
    else:
        week = normalize_week(week, settings, now)
        edition = session.exec(select(Edition).where(Edition.week == week)).first()
    if edition is not None:
        return edition, edition.number, edition.week, edition_comparisons(session, edition)
    picked = candidates_for_week(session, settings, week)
    reason = shortfall_reason(len(picked), week, settings.min_items)
    if reason is not None:
        raise EditionError(f"nothing to preview: {reason}")
    return None, next_number(session), week, picked


def _chosen(topics: Sequence[str], shown, number: int, session: Session):
    """The variant readers with `topics` get, or an error that says why there is none."""
    known = topics_in_store(session.connection())
    unknown = [t for t in topics if t not in known]
    if unknown:
        raise EditionError(
            f"{', '.join(repr(t) for t in unknown)} is not a topic of this newsletter "
            f"(topics: {', '.join(sorted(known)) or 'none yet'})"
        )
    variant = for_topics(topics, shown)
    if variant is None:
        carried = sorted({c for item in shown for c in item.categories})
        raise EditionError(
            f"readers with the topics {', '.join(topics)} get nothing from edition {number}: none "
            f"of its comparisons is about them (its topics: {', '.join(carried)})"
        )
    return variant


def rendered_for(
    session: Session,
    settings: Settings,
    *,
    week: str | None = None,
    number: int | None = None,
    now: datetime | None = None,
    root: Path | None = None,
    topics: Sequence[str] | None = None,
    variant: int | None = None,
    count_readers: bool = False,
) -> Preview:
    """The edition asked for (or the variant for `topics`, or the `variant`-th), rendered; a week not
    built yet is rendered as the draft it would be."""
    now = now or utcnow()
    edition, number, week, comparisons = _edition_for(session, settings, week, number, now)
    shown = offered(session, edition, comparisons)
    variants, unmatched = (), 0
    if count_readers or variant is not None:
        grouping = group(session.connection().execute(audience.topic_counts()).all(), shown)
        variants, unmatched = grouping.variants, grouping.unmatched
    key = None
    if topics:
        key = _chosen(topics, shown, number, session).key
    elif variant is not None:
        if not 1 <= variant <= len(variants):
            raise EditionError(
                f"there is no variant {variant}: edition {number} has {len(variants)} "
                "(readers with topics in common with it)"
            )
        key = variants[variant - 1].key
    everything = key_of(shown)
    wanted = set(int(i) for i in key.split(",")) if key else None
    subset = [c for c in comparisons if wanted is None or c.id in wanted]
    rendered = render_comparisons(
        session,
        settings,
        number=number,
        week=week,
        comparisons=subset,
        root=root,
        subject=edition.subject if edition is not None and key in (None, everything) else None,
        intro=edition.intro if edition is not None else None,
        edition_id=edition.id if edition is not None else None,
    )
    state = (
        _state(session, edition, comparisons, now)
        if edition is not None
        else EditionState(NOT_BUILT, future=tuple((c.title, c.published_at) for c in dated_after(comparisons, now)))
    )
    return Preview(rendered, "", "", state, variants, key, unmatched)


def preview(session: Session, settings: Settings, **which) -> Preview:
    made = rendered_for(session, settings, **which)
    values = reader_substitutions(SAMPLE_READER)
    return replace(made, html=fill(made.rendered.letter.html, values), text=fill(made.rendered.letter.text, values))


def write_preview(result: Preview, out: Path) -> tuple[Path, Path]:
    """edition.html and edition.txt in `out`; returns their paths."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        html_path, text_path = out / "edition.html", out / "edition.txt"
        html_path.write_text(result.html, encoding="utf-8")
        text_path.write_text(result.text, encoding="utf-8")
    except OSError as exc:
        raise EditionError(f"cannot write the preview into {out}: {exc.strerror or exc}") from exc
    return html_path, text_path


TEST_NOTE = (
    "[Test] A test send of edition {number}, not sent to readers. Its reader links (unsubscribe, "
    "preferences, votes){web} open the subscribe page instead: nothing changes for anyone."
)


def test_letter(result: Preview, base_url: str) -> Letter:
    """The edition as a reader gets it, marked a test: "[Test]" in the subject and a line opening both
    parts, and every link that would 404 or act for a reader made harmless and working. A reader's
    links (unsubscribe, preferences, votes: the placeholder's) and, before the edition is sent, the
    web version's open the subscribe page. No List-Unsubscribe: the address is no reader's, so a
    mailbox's unsubscribe button would have nobody to unsubscribe."""
    letter = result.rendered.letter
    home = links.subscribe_url(base_url)
    reader_links = re.compile(re.escape(base_url) + r"/[^\s\"'<>]*" + re.escape(READER_TOKEN) + r"[^\s\"'<>]*")
    unsent = result.state.status != EditionStatus.SENT
    web = re.compile(re.escape(f"{base_url}/editions/{result.rendered.view.number}") + r"(?:#[^\s\"'<>]*)?")

    def harmless(part: str) -> str:
        part = reader_links.sub(home, part)
        return web.sub(home, part) if unsent else part

    note = TEST_NOTE.format(number=result.rendered.view.number, web=" and the web version" if unsent else "")
    html = re.sub(
        r"(<body[^>]*>)",
        lambda body: (
            body.group(1)
            + '<div style="padding:12px;background:#fef3c7;color:#78350f;font:14px/1.4 sans-serif">'
            + markup.escape(note)
            + "</div>"
        ),
        harmless(letter.html),
        count=1,
    )
    return replace(
        letter,
        subject=f"[Test] {letter.subject}",
        html=html,
        text=f"{note}\n\n{harmless(letter.text)}",
        categories=(*letter.categories, "test"),
    )


def send_test(result: Preview, sender: Sender, address: str, base_url: str) -> SendResult:
    """The edition, as a reader gets it but marked a test with harmless links (`test_letter`), to one
    address."""
    try:
        return sender.send(test_letter(result, base_url), [Recipient(address=address)])
    finally:
        sender.close()


# --- the local page (`digest editions preview --serve`) -------------------------------------------------


def _page(name: str, override: Path | None, root: Path | None, **context) -> str:
    try:
        return environment("markup", root, override).get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise EditionError(f"{where(exc, name, root, override)}: {exc}") from exc


def page(result: Preview, settings: Settings, root: Path | None = None, query: str = "") -> str:
    """The editor's page: phone and desktop side by side, the subject, the edition's state, the text
    part, and the edition's variants (each a link to its own page)."""
    return _page(
        PAGE_TEMPLATE,
        settings.templates,
        root,
        p=result,
        view=result.rendered.view,
        settings=settings,
        state=result.state,
        statuses=EditionStatus,  # the template compares state.status with these names
        letter=result.rendered.letter,
        version=result.version,
        query=query,
        size=size_report(result.rendered.view, result.rendered.letter.html, click_tracking=settings.click_tracking),
    )


def error_page(message: str, settings: Settings, root: Path | None = None) -> str:
    return _page(ERROR_TEMPLATE, settings.templates, root, message=message, version=fingerprint(message))


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer

    def _answer(self, status: HTTPStatus, body: str, kind: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # the stdlib's name
        parts = urlsplit(self.path)
        path = parts.path
        kinds = {"/": "text/html", "/edition.html": "text/html", "/edition.txt": "text/plain", "/version": "text/plain"}
        if path not in kinds:
            self._answer(HTTPStatus.NOT_FOUND, f"Not found: {path[:200]}\nTry / for the preview.", "text/plain")
            return
        asked = parse_qs(parts.query).get("variant", [""])[0]
        if asked and not asked.isdigit():
            self._answer(
                HTTPStatus.BAD_REQUEST,
                f"?variant= takes a variant's number, such as ?variant=2; got {asked[:40]!r}",
                "text/plain",
            )
            return
        server, query = self.server, f"?variant={asked}" if asked else ""
        try:
            # Fresh on every request, so template and edition changes show.
            result = server.render(int(asked) if asked else None)
            body = {
                "/": lambda: page(result, server.settings, server.root, query),
                "/edition.html": lambda: result.html,
                "/edition.txt": lambda: result.text,
                "/version": lambda: result.version,
            }[path]()
        except DigestError as exc:
            if path == "/version":  # the page showing the error reloads once the error changes or goes
                self._answer(HTTPStatus.OK, fingerprint(str(exc)), "text/plain")
                return
            try:
                shown, kind = error_page(str(exc), server.settings, server.root), "text/html"
            except DigestError as also:  # the error page's own template is broken too
                shown, kind = f"{exc}\n{also}\nFix it and reload this page.", "text/plain"
            self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, shown, kind)
            return
        self._answer(HTTPStatus.OK, body, kinds[path])

    def log_message(self, format: str, *args) -> None:
        pass  # keep the editor's terminal quiet


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        render: Callable[[int | None], Preview],
        settings: Settings,
        host: str = "127.0.0.1",
        port: int = 8025,
        root: Path | None = None,
    ):
        self.render, self.settings, self.root = render, settings, root
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise EditionError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another port with --port"
            ) from exc

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    @contextmanager
    def running(self) -> Iterator[PreviewServer]:
        """Serve in a background thread until the block ends, then close (tests); the CLI calls
        serve_forever itself."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()


def preview_server(
    engine: Engine, settings: Settings, *, port: int = 8025, root: Path | None = None, **which
) -> PreviewServer:
    """A server that renders the edition afresh for every request (templates from `root` if given), and
    any of its variants at ?variant=N (numbered as the page lists them)."""

    def render(variant: int | None = None) -> Preview:
        with session_scope(engine) as session:
            if variant is not None:
                return preview(
                    session,
                    settings,
                    root=root,
                    variant=variant,
                    count_readers=True,
                    **{k: v for k, v in which.items() if k != "topics"},
                )
            return preview(session, settings, root=root, count_readers=True, **which)

    return PreviewServer(render, settings, port=port, root=root)
