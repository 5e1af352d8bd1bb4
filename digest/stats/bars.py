"""The stats as bar charts a page draws itself: the panels `digest stats --plot` draws (digest.stats.chart),
one row per edition, or per variant of one edition, as numbers and bar lengths (pure: no drawing here).

The desk's stats pages (digest.web.desk.stats) turn each chart into a table whose every row carries its
figure in words and a bar as long as its share of the chart's largest figure, so the words, never the
bar's length or colour alone, say the figure. A figure the backend does not report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from digest.stats.chart import GROWTH_TITLE, PANELS, Panel
from digest.stats.figures import NOT_REPORTED, EditionStats, Report, VariantStats, WeekGrowth, percent

LAST = 12  # editions (or weeks) a chart shows at most: the newest; the table beside it has them all


@dataclass(frozen=True)
class BarRow:
    label: str  # "Edition 12", "Variant 2"
    detail: str  # its week, or its comparisons
    text: str  # the figure in words: "1,234", "3.5%", "—" (a rate of nothing), "not reported by this backend"
    share: float  # the bar's length, in percent of the chart's largest figure (0 for none)

    @property
    def reported(self) -> bool:
        return self.text != NOT_REPORTED


@dataclass(frozen=True)
class BarChart:
    key: str  # for element ids: "sent", "click-rate"
    title: str
    rows: tuple[BarRow, ...]
    note: str | None = None  # why no bar is drawn ("no data yet"), or which rows are left out


def _key(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower().split(" (")[0]).strip("-")


def _said(value: float | int | None, is_rate: bool, reported: bool) -> str:
    if not reported:
        return NOT_REPORTED
    if value is None:
        return "—"  # a rate of nothing (nothing sent or delivered)
    return percent(value) if is_rate else f"{value:,}"


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, str, float | int | None, bool]],
    *,
    is_rate: bool = False,
    note: str | None = None,
) -> BarChart:
    """A chart of (label, detail, figure, reported) rows; a figure is None when it is a rate of nothing
    or its backend does not report it (reported False)."""
    top = max((value for _, _, value, _ in rows if value is not None), default=0)
    drawn = tuple(
        BarRow(label, detail, _said(value, is_rate, reported), round(100 * value / top, 1) if value and top else 0.0)
        for label, detail, value, reported in rows
    )
    if not rows:
        note = note or "no data yet"
    elif not any(reported for *_, reported in rows):
        note = "no data from this backend: the outbox and SMTP hear nothing back"
    return BarChart(_key(title), title, drawn, note)


def _panel_chart(panel: Panel, rows: Sequence[tuple[str, str, EditionStats]], note: str | None) -> BarChart:
    read: Callable[[EditionStats], float | int | None] = panel.read
    figures = [(label, detail, read(e), e.reported or read(e) is not None) for label, detail, e in rows]
    return bar_chart(panel.title, figures, is_rate=panel.is_rate, note=note)


def edition_charts(report: Report, last: int = LAST) -> tuple[BarChart, ...]:
    """One chart per panel of `digest stats --plot`, the newest `last` editions in order, then active
    readers per week (the newest `last` weeks)."""
    editions = report.editions[-last:]
    note = f"the newest {last} of {len(report.editions)} editions" if len(report.editions) > last else None
    rows = [(f"Edition {e.number}", e.week, e) for e in editions]
    charts = [_panel_chart(panel, rows, note) for panel in PANELS]
    return (*charts, growth_chart(report.growth, last))


def growth_chart(growth: Sequence[WeekGrowth], last: int = LAST) -> BarChart:
    weeks = list(growth)[-last:]
    note = f"the newest {last} of {len(growth)} weeks" if len(growth) > last else None
    return bar_chart(GROWTH_TITLE, [(g.week, f"{g.net:+,} that week", g.total, True) for g in weeks], note=note)


def variant_charts(lines: Sequence[VariantStats]) -> tuple[BarChart, ...]:
    """One chart per panel of `digest stats --plot`, a row per variant of one edition."""
    rows = [(f"Variant {line.variant}", ", ".join(line.comparisons), line.figures) for line in lines]
    return tuple(_panel_chart(panel, rows, None) for panel in PANELS)
