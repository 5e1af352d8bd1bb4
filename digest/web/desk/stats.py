"""/desk/stats: the figures `digest stats` prints and draws, on the desk (editors).

    GET  /desk/stats                  every edition that has gone out: sent, delivered, opens, clicks, votes,
                                      bounces, complaints, unsubscribes with their rates; a chart per figure
                                      (the panels of `digest stats --plot`), and active readers per week
    GET  /desk/editions/N/stats       edition N as a whole and per variant (`digest stats --edition N
                                      --by-variant`), with a chart per figure, a row per variant

A pruned edition reads its kept figures (digest.delivery.kept), as the CLI does. The figures pass over
the ledger and the events, so they come through the app's Figures (digest.web.desk.figures): at scale,
from their last count, and each page says when that was. The charts are tables (digest.stats.bars): each
row says its figure in words beside its bar, with no script and nothing inline.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from digest.editions.service import get_edition
from digest.stats.bars import edition_charts, variant_charts
from digest.stats.figures import (
    COUNTS,
    NOT_REPORTED,
    OPENS_CAVEAT,
    RATE_OF,
    edition_figures,
    load_report,
    percent,
    variant_figures,
)
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.deps import engine_of, pages_of, settings_of
from digest.web.desk import session as desk_session

router = APIRouter(tags=["desk"])
RATES_SAID = "Rates: delivered, votes, bounces, complaints and unsubscribes of sent; opens and clicks of delivered."


def cells(stats) -> list[tuple[str, str | None]]:
    """An EditionStats's figures as the tables show them: (the count, its rate or None) per COUNTS name."""
    out = []
    for name in COUNTS:
        value = getattr(stats, name)
        if value is None:
            out.append((NOT_REPORTED, None))
        else:
            out.append((f"{value:,}", percent(stats.rates[RATE_OF[name]]) if name in RATE_OF else None))
    return out


@router.get("/desk/stats", summary="Every edition's figures and subscriber growth, with charts (editors)")
def stats_page(request: Request) -> Response:
    desk = desk_session.require(request)
    if isinstance(desk, Response):
        return desk
    engine, settings = engine_of(request), settings_of(request)

    def count():
        with session_scope(engine) as session:
            return load_report(session, settings.timezone, until=utcnow())

    report, counted_at = request.app.state.desk_figures.get(("stats",), count)
    return pages_of(request).render(
        "desk/stats.html",
        desk=desk,
        columns=COUNTS,
        rows=[(e, cells(e)) for e in reversed(report.editions)],
        charts=edition_charts(report) if report.editions or report.growth else (),
        growth=list(reversed(report.growth))[:12],
        weeks=len(report.growth),
        unreported=any(not e.reported for e in report.editions),
        opens_caveat=OPENS_CAVEAT,
        rates_said=RATES_SAID,
        counted_at=counted_at,
    )


@router.get("/desk/editions/{number}/stats", summary="One edition's figures per variant, with charts (editors)")
def edition_stats_page(request: Request, number: desk_session.EditionNumber) -> Response:
    desk = desk_session.require(request)
    if isinstance(desk, Response):
        return desk
    engine = engine_of(request)
    with session_scope(engine) as session:
        edition = get_edition(session, number=number)  # NotFound (404) names a missing one, before any count

    def count():
        with session_scope(engine) as session:
            return edition_figures(session, number)[0], variant_figures(session, number)

    (whole, lines), counted_at = request.app.state.desk_figures.get(("edition-stats", number), count)
    return pages_of(request).render(
        "desk/edition_stats.html",
        desk=desk,
        edition=edition,
        whole=whole,
        whole_cells=cells(whole),
        columns=COUNTS,
        lines=[(line, cells(line.figures)) for line in lines],
        charts=variant_charts(lines) if lines else (),
        unreported=not whole.reported,
        opens_caveat=OPENS_CAVEAT,
        rates_said=RATES_SAID,
        counted_at=counted_at,
    )
