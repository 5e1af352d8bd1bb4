"""/desk/editions/N/send: a send as it goes, from the ledger, and a retry of its failed readers.

    GET  /desk/editions/N/send         the live view: counts per variant and per wave, rate, time left,
                                       the brake, failed readers with their reasons (editors)
    GET  /desk/editions/N/send/live    the same figures as JSON, which /static/desk.js polls
    POST /desk/editions/N/retry        (owner) mail the chosen failed readers again, once the cause is fixed

The page works without script and on reload (everything comes from the ledger); desk.js only refreshes
its figures every POLL_SECONDS while the edition is being sent, and reloads the page once it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from digest.delivery.states import DeliveryState
from digest.delivery.summary import sent_variants
from digest.delivery.watch import FailedReader, Watch, failed_readers, retry_failed, watch
from digest.editions.models import Edition
from digest.editions.service import get_edition, offered, variant_keys
from digest.editions.status import EditionStatus
from digest.editors import audit
from digest.editors.roles import Action, Role
from digest.errors import EditionError
from digest.send_days import zone_of
from digest.settings import Settings
from digest.store import session_scope
from digest.web.deps import engine_of, pages_of, settings_of
from digest.web.desk import session as desk_session
from digest.web.desk.glance import waves_for
from digest.web.desk.week import sends
from digest.web.headers import SECURITY_HEADERS
from digest.words import counted

router = APIRouter(tags=["desk"])
POLL_SECONDS = 2
# The site's policy, and this page's one script (/static/desk.js) and its fetches: same origin only.
SCRIPT_CSP = dict(SECURITY_HEADERS)[b"content-security-policy"].decode() + "; script-src 'self'; connect-src 'self'"
STATES = tuple(DeliveryState)


@dataclass(frozen=True)
class Row:
    key: str  # for element ids: "v1", "w3"
    label: str
    detail: str
    counts: dict[str, int]


@dataclass(frozen=True)
class Live:
    edition: Edition
    watch: Watch
    variants: tuple[Row, ...]
    waves: tuple[Row, ...]
    failed: tuple[FailedReader, ...]
    desk_running: bool
    ended: str | None  # how the desk's last send of it ended
    counted_at: datetime | None = None  # when its figures were counted (digest.web.desk.figures)

    @property
    def going(self) -> bool:
        return self.edition.status == EditionStatus.SENDING or self.desk_running

    def cells(self) -> dict[str, str]:
        """Element id -> text: what desk.js writes into the page."""
        w = self.watch
        cells = {f"total-{state}": f"{w.totals.get(state, 0):,}" for state in STATES}
        cells["not-reached"] = f"{w.pending:,}"
        cells["rate"] = f"{w.rate:,.1f} readers/s"
        cells["left"] = _left(w.seconds_left)
        cells["status"] = str(self.edition.status) + (" (the desk is sending it)" if self.desk_running else "")
        cells["brake"] = _brake(self)
        cells["counted-at"] = f"{self.counted_at:%H:%M:%S} UTC" if self.counted_at else ""
        for row in (*self.variants, *self.waves):
            for state in STATES:
                cells[f"{row.key}-{state}"] = f"{row.counts.get(state, 0):,}"
        return cells


def _left(seconds: float | None) -> str:
    if seconds is None:
        return "unknown (nothing handled in the last minute)"
    if seconds == 0:
        return "none: every reader is handled"
    minutes, secs = divmod(round(seconds), 60)
    return f"about {minutes} min {secs} s" if minutes else f"about {secs} s"


def _brake(live: Live) -> str:
    if live.edition.status == EditionStatus.PAUSED:
        why = f" {live.ended}" if live.ended else ""
        return "paused." + why
    if live.watch.brake:
        return f"would pause: {live.watch.brake}"
    return "holding: complaints and bounces are under their limits"


def _waves(waves, settings: Settings, by_zone) -> tuple[Row, ...]:
    """The send day's waves (over the zones readers are in now, and those the ledger holds), with counts."""
    rows, placed = [], set()
    for number, wave in enumerate(waves, start=1):
        counts = dict.fromkeys(STATES, 0)
        for stored, tally in by_zone.items():
            if zone_of(stored, settings).key in wave.zones:
                placed.add(stored)
                for state, n in tally.counts.items():
                    counts[state] += n
        rows.append(Row(f"w{number}", f"{wave.slot:%a %H:%M} UTC", ", ".join(wave.zones), counts))
    rest = dict.fromkeys(STATES, 0)
    for stored, tally in by_zone.items():
        if stored not in placed:  # readers who have left every wave's zones since (moved, or stopped)
            for state, n in tally.counts.items():
                rest[state] += n
    if any(rest.values()):
        rows.append(Row("w0", "Other zones", "readers no longer in any wave's zones", rest))
    return tuple(rows)


def live_of(request: Request, number: int, *, with_failed: bool = True) -> Live:
    """Edition `number`'s send as the page shows it. Per request: the edition's row (its state now) and,
    for the page, its failed readers; the counts, with the comparisons and variants they are counted
    against, come through the app's Figures (digest.web.desk.figures): at scale, from their last count."""
    engine, settings = engine_of(request), settings_of(request)
    figures = request.app.state.desk_figures
    with session_scope(engine) as session:
        edition = get_edition(session, number=number)
        failed = tuple(failed_readers(session.connection(), edition.id)) if with_failed else ()

    def count():
        with session_scope(engine) as session:  # its own connection: it may run in a thread
            shown = offered(session, get_edition(session, number=number))
            connection = session.connection()
            seen = watch(
                connection,
                edition.id,
                edition.number,
                max_complaint_rate=settings.max_complaint_rate,
                max_bounce_rate=settings.max_bounce_rate,
            )
            keys = list(variant_keys(connection, edition.id))
            return seen, sent_variants(connection, edition.id, shown)[0], keys

    # The comparisons a send counts against are fixed once it begins (frozen_at); before, nothing is
    # counted yet, and a cheap figure is counted afresh on every request anyway.
    (seen, lines, keys), counted_at = figures.get(("live", edition.id, edition.frozen_at), count)
    waves, _ = figures.get(("waves", edition.week), lambda: waves_for(engine, settings, edition.week))
    variants = []
    for line, variant in zip(lines, keys, strict=False):
        tally = seen.by_variant.get(variant)
        counts = tally.counts if tally is not None else dict.fromkeys(STATES, 0)
        detail = counted(len(line.comparisons), "comparison") + ": " + ", ".join(line.comparisons)
        variants.append(Row(f"v{line.variant}", f"Variant {line.variant}", detail, counts))
    if None in seen.by_variant:
        variants.append(Row("v0", "No variant", "skipped before one was chosen", seen.by_variant[None].counts))
    ended = sends(request).ended(number)
    return Live(
        edition,
        seen,
        tuple(variants),
        _waves(waves, settings, seen.by_zone),
        failed,
        sends(request).running(number),
        ended.said if ended is not None else None,
        counted_at,
    )


@router.get("/desk/editions/{number}/send", summary="A send as it goes, from the ledger (editors)")
def live_page(request: Request, number: desk_session.EditionNumber) -> Response:
    desk = desk_session.require(request)
    if isinstance(desk, Response):
        return desk
    live = live_of(request, number)
    return pages_of(request).render(
        "desk/send.html",
        desk=desk,
        live=live,
        cells=live.cells(),
        states=STATES,
        statuses=EditionStatus,
        owner=desk.account.may(Role.OWNER),
        poll=POLL_SECONDS,
        headers={"Content-Security-Policy": SCRIPT_CSP},
    )


@router.get("/desk/editions/{number}/send/live", summary="A send's figures as JSON, for the live view (editors)")
def live_figures(request: Request, number: desk_session.EditionNumber) -> Response:
    desk = desk_session.current(request)
    if desk is None:
        return JSONResponse({"errors": [{"field": "session", "message": "signed out"}]}, status_code=401)
    live = live_of(request, number, with_failed=False)
    return JSONResponse({"going": live.going, "cells": live.cells()})


@router.post("/desk/editions/{number}/retry", summary="Mail failed readers again (owners)")
async def retry(request: Request, number: desk_session.EditionNumber) -> Response:
    desk, fields = await desk_session.desk_form(request, "the retry", Role.OWNER)
    chosen = fields.get("reader", [])
    chosen = [chosen] if isinstance(chosen, str) else chosen
    try:
        ids = sorted({int(value) for value in chosen})
    except (TypeError, ValueError):
        raise EditionError("choose the failed readers to retry by their boxes") from None
    if not ids:
        raise EditionError("choose at least one failed reader to retry")
    if sends(request).running(number):
        raise EditionError(f"the desk is sending edition {number} now; retry once it is done")

    def run() -> int:
        with request.app.state.writes.session() as session:
            edition = get_edition(session, number=number)
            moved = retry_failed(session.connection(), edition.id, ids)
            if moved:
                audit.record(session, desk.name, Action.RETRY, edition=number, detail=counted(moved, "reader"))
            return moved

    if await run_in_threadpool(run) == 0:
        raise EditionError("none of those readers has failed for this edition (retried already?)")
    sends(request).start(number, resend_uncertain=True)
    return RedirectResponse(f"/desk/editions/{number}/send", status_code=303)
