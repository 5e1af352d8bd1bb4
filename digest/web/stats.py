"""GET /stats: the editors' stats page, behind DIGEST_ADMIN_TOKEN (see digest.web.editors).

A script sends the token as `Authorization: Bearer TOKEN`; a browser signs in
on the form this page shows and keeps a session cookie. Without
DIGEST_ADMIN_TOKEN set the page is off (404), so a fresh install shows nothing
by default. A JSON client (Accept: application/json) gets the figures
`digest stats --json` prints.

The chart comes twice, as SVG: one column of panels for a phone, three for a
wider screen; the browser picks one by its width (a <picture>, no script).
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from digest.stats.chart import NARROW, PHONE, render_chart
from digest.stats.figures import COUNTS, NOT_REPORTED, OPENS_CAVEAT, RATE_OF, load_report, percent
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.deps import engine_of, pages_of, settings_of
from digest.web.editors import require_editor
from digest.web.negotiate import wants_json

router = APIRouter(tags=["editors"])


def _svg(data: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode()


def _cell(edition, name: str) -> tuple[str, str | None]:
    value = getattr(edition, name)
    if value is None:
        return "—", NOT_REPORTED
    return str(value), (percent(edition.rates[RATE_OF[name]]) if name in RATE_OF else None)


@router.get(
    "/stats",
    summary="Edition stats and subscriber growth (editors only)",
    responses={
        401: {"description": "Not signed in: the sign-in form (a browser) or an error (JSON)"},
        403: {"description": "Wrong admin token"},
        404: {"description": "DIGEST_ADMIN_TOKEN is not set: the page is off"},
        429: {"description": "Too many wrong tokens from this address; see Retry-After"},
    },
)
def stats_page(request: Request) -> Response:
    refused = require_editor(request)
    if refused is not None:
        return refused
    settings = settings_of(request)
    with session_scope(engine_of(request)) as session:
        report = load_report(session, settings.timezone, until=utcnow())
    if wants_json(request):
        return JSONResponse(report.as_dict())
    title = f"{settings.newsletter_name}: edition stats"
    rows = [
        {
            "number": e.number,
            "week": e.week,
            "status": e.status,
            "backend": e.backend,
            "cells": [_cell(e, name) for name in COUNTS],
        }
        for e in reversed(report.editions)
    ]
    drawn = bool(report.editions or report.growth)  # nothing has happened yet: no empty chart
    return pages_of(request).render(
        "stats.html",
        columns=COUNTS,
        rows=rows,
        growth=list(reversed(report.growth)),
        chart_wide=_svg(render_chart(report, "svg", title)) if drawn else None,
        chart_phone=_svg(render_chart(report, "svg", title, PHONE)) if drawn else None,
        narrow=NARROW,
        opens_caveat=OPENS_CAVEAT,
        not_reported=NOT_REPORTED,
        unreported=any(not e.reported for e in report.editions),
    )
