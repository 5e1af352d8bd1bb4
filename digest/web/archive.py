"""The public archive: GET /editions/, GET /editions/{number}, GET /feed.xml.

/editions/N is the email's own HTML (inline styles and all), so it gets a
Content-Security-Policy of its own that allows them; the other pages keep the
site's strict one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from digest.render.archive import FEED_SIZE, archived_editions, atom_feed, feed_contents, web_version
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.deps import engine_of, pages_of, settings_of
from digest.web.errors import ClientError

router = APIRouter(tags=["archive"])

# The email's HTML styles itself inline and may load images and web fonts from anywhere.
EDITION_CSP = (
    "default-src 'none'; style-src 'unsafe-inline' https:; img-src https: http: data:; "
    "font-src https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
MAX_EDITION = 10**9


@router.get("/editions", include_in_schema=False)
def editions_redirect() -> Response:
    return RedirectResponse("/editions/", status_code=308)


@router.get("/editions/", summary="Every edition that has gone out, newest first")
def editions_page(request: Request) -> Response:
    with session_scope(engine_of(request)) as session:
        entries = archived_editions(session)
    return pages_of(request).render("archive.html", entries=entries)


@router.get(
    "/editions/{number}",
    summary="One edition as a web page (no reader's links in it)",
    responses={404: {"description": "No such edition, or not sent yet"}},
)
def edition_page(request: Request, number: str) -> Response:
    if not (number.isascii() and number.isdigit()) or not 0 < int(number) < MAX_EDITION:
        raise ClientError(
            404, f"Editions are numbered 1, 2, 3…; {number[:40]!r} is not an edition number.", title="No such edition"
        )
    with session_scope(engine_of(request)) as session:
        html = web_version(session, settings_of(request), int(number))
    return HTMLResponse(html, headers={"Content-Security-Policy": EDITION_CSP})


@router.get("/feed.xml", summary="An Atom feed of the latest editions")
def feed(request: Request) -> Response:
    settings = settings_of(request)
    with session_scope(engine_of(request)) as session:
        entries = archived_editions(session, limit=FEED_SIZE)
        contents = feed_contents(session, settings, entries)
    return Response(atom_feed(entries, settings, utcnow(), contents), media_type="application/atom+xml; charset=utf-8")
