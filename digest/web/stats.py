"""GET /stats: the editors' stats page, behind DIGEST_ADMIN_TOKEN.

The token comes as `Authorization: Bearer TOKEN` or, for a browser, `?token=TOKEN`.
Without DIGEST_ADMIN_TOKEN set the page is off (404), so a fresh install shows
nothing by default. A JSON client (Accept: application/json) gets the figures
`digest stats --json` prints.
"""

from __future__ import annotations

import base64
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from digest.stats.chart import render_chart
from digest.stats.figures import COUNTS, load_report, percent
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.deps import engine_of, pages_of, settings_of
from digest.web.errors import ClientError
from digest.web.negotiate import wants_json

router = APIRouter(tags=["editors"])
_RATE_OF = {"delivered": "delivery_rate", "opens": "open_rate", "clicks": "click_rate", "bounces": "bounce_rate",
            "complaints": "complaint_rate", "unsubscribes": "unsubscribe_rate"}


def _given_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or None


def require_editor(request: Request) -> None:
    expected = settings_of(request).admin_token
    if not expected:
        raise ClientError(404, "The stats page is off: set DIGEST_ADMIN_TOKEN to turn it on.", title="Not found")
    given = _given_token(request)
    if given is None:
        raise ClientError(401, "This page is for editors: send the admin token as `Authorization: Bearer TOKEN` "
                               "or add ?token=TOKEN to the address.", field="token", title="Editors only",
                          headers={"WWW-Authenticate": 'Bearer realm="digest"'})
    if not secrets.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8")):
        raise ClientError(403, "The admin token is wrong (compare it with DIGEST_ADMIN_TOKEN).", field="token",
                          title="Editors only")


@router.get("/stats", summary="Edition stats and subscriber growth (editors only)",
            responses={401: {"description": "No admin token given"}, 403: {"description": "Wrong admin token"},
                       404: {"description": "DIGEST_ADMIN_TOKEN is not set: the page is off"}})
def stats_page(request: Request) -> Response:
    require_editor(request)
    settings = settings_of(request)
    with session_scope(engine_of(request)) as session:
        report = load_report(session, settings.timezone, until=utcnow())
    if wants_json(request):
        return JSONResponse(report.as_dict())
    chart = base64.b64encode(render_chart(report, "svg", f"{settings.newsletter_name}: edition stats")).decode()
    rows = [{"number": e.number, "week": e.week, "status": e.status,
             "cells": [(getattr(e, name), percent(e.rates[_RATE_OF[name]]) if name in _RATE_OF else None)
                       for name in COUNTS]} for e in reversed(report.editions)]
    return pages_of(request).render("stats.html", columns=COUNTS, rows=rows, growth=list(reversed(report.growth)),
                                    chart=chart)
