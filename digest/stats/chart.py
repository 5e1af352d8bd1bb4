"""The stats as pictures: one small chart per metric, editions along the bottom.

matplotlib with the Agg backend (no display needed), imported only when a chart
is drawn. A chart `width` pixels wide (at DPI) lays its panels out in three
columns, or in one under NARROW pixels, so each stays readable on a 375 px
phone. Counts have whole-number axes, a lone edition or week is drawn as a
point, and a figure the backend does not report says so rather than showing 0.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digest.errors import ChartError
from digest.stats.figures import EditionStats, Report

WIDTH, HEIGHT, DPI = 1200, 800, 100  # the wide chart (digest stats --plot) is WIDTH x HEIGHT pixels
PHONE = 375  # a phone's width in CSS pixels: the narrow chart's default
NARROW = 700  # below this width the panels stack in one column
PANEL_HEIGHT = 230  # pixels per panel in the one-column layout
FORMATS = ("png", "svg")
LINE, GROWTH = "#3b5bdb", "#2b8a3e"
FOOTNOTE = (
    "Opens are unreliable: Apple Mail Privacy Protection opens every mail. "
    "Clicks (may include link scanners) and votes are the engagement figures."
)


@dataclass(frozen=True)
class Panel:
    title: str
    read: Callable[[EditionStats], float | int | None]
    is_rate: bool


PANELS = (
    Panel("Sent", lambda e: e.sent, False),
    Panel("Delivered", lambda e: e.delivered, False),
    Panel("Click rate", lambda e: e.rates["click_rate"], True),
    Panel("Votes (readers)", lambda e: e.votes, False),
    Panel("Open rate (unreliable)", lambda e: e.rates["open_rate"], True),
    Panel("Bounce rate", lambda e: e.rates["bounce_rate"], True),
    Panel("Complaint rate", lambda e: e.rates["complaint_rate"], True),
    Panel("Unsubscribes", lambda e: e.unsubscribes, False),
)
GROWTH_TITLE = "Active readers"


def chart_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        ending = f".{suffix}" if suffix else "no extension"
        raise ChartError(f"--plot writes .png or .svg files; {str(path)!r} ends in {ending}")
    return suffix


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="#495057", wrap=True)
    ax.set_yticks([])


def _counts_axis(ax, values) -> None:
    from matplotlib.ticker import MaxNLocator  # matplotlib loads only with a chart: see chart_figure

    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=2))
    _room(ax, max(1, max(values)))  # never a 0-to-0 axis


def _room(ax, top: float) -> None:
    """From 0 to `top`, with a little room both ways so a point at 0 or at the top stays in sight."""
    ax.set_ylim(-0.05 * top, top * 1.15)


def _edition_panel(ax, panel: Panel, report: Report) -> None:
    from matplotlib.ticker import PercentFormatter  # matplotlib loads only with a chart

    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel("edition", fontsize=8)
    ax.tick_params(labelsize=8)
    numbers = [e.number for e in report.editions]
    if not numbers:
        _note(ax, "no editions sent yet")
        ax.set_xticks([])
        return
    ax.set_xlim(min(numbers) - 0.5, max(numbers) + 0.5)  # whole editions, room either side of a lone one
    if len(numbers) <= 12:
        ax.set_xticks(numbers)
    else:
        from matplotlib.ticker import MaxNLocator  # matplotlib loads only with a chart

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    points = [(e.number, panel.read(e)) for e in report.editions if panel.read(e) is not None]
    if not points:
        unreported = any(not e.reported for e in report.editions)
        _note(ax, "no data from this backend\n(the outbox and SMTP hear nothing back)" if unreported else "no data yet")
        return
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    ax.plot(xs, ys, marker="o", markersize=5, color=LINE)
    if panel.is_rate:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        _room(ax, max(0.01, max(ys)))
    else:
        _counts_axis(ax, ys)
    if len(points) < len(numbers):
        ax.annotate(
            "some editions: not reported by their backend",
            (0.5, 0.02),
            xycoords="axes fraction",
            ha="center",
            fontsize=7,
            color="#868e96",
        )


def _growth_panel(ax, report: Report) -> None:
    ax.set_title(GROWTH_TITLE, fontsize=10)
    ax.set_xlabel("week", fontsize=8)
    ax.tick_params(labelsize=8)
    if not report.growth:
        _note(ax, "no readers yet")
        ax.set_xticks([])
        return
    totals = [g.total for g in report.growth]
    ax.plot(range(len(totals)), totals, marker="o" if len(totals) <= 12 else None, markersize=5, color=GROWTH)
    ax.set_xlim(-0.5, len(totals) - 0.5)
    step = max(1, math.ceil(len(totals) / 4))
    ticks = list(range(0, len(totals), step))
    ax.set_xticks(ticks, [report.growth[i].week for i in ticks], fontsize=7, rotation=30)
    _counts_axis(ax, totals)


def layout(width: int) -> tuple[int, int, int]:
    """(columns, rows, height in pixels) of a chart `width` pixels wide."""
    panels = len(PANELS) + 1
    if width >= NARROW:
        columns = 3
        rows = math.ceil(panels / columns)
        return columns, rows, round(width * 2 / 3)
    return 1, panels, panels * PANEL_HEIGHT + 145


def chart_figure(report: Report, title: str, width: int = WIDTH):
    """The matplotlib Figure of the chart (see `layout`)."""
    # matplotlib costs about 0.3 s to import: only a command that draws a chart pays it.
    import matplotlib
    from matplotlib.figure import Figure

    matplotlib.use("Agg")

    columns, rows, height = layout(width)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    axes = figure.subplots(rows, columns, squeeze=False).flat
    for ax, panel in zip(axes, PANELS):
        _edition_panel(ax, panel, report)
    _growth_panel(axes[len(PANELS)], report)
    for ax in list(axes)[len(PANELS) + 1 :]:
        ax.set_visible(False)
    if columns == 1:  # a phone: the title and the note wrap above the stacked panels
        figure.suptitle("\n".join(textwrap.wrap(title, 44)), fontsize=11, y=1 - 12 / height, va="top")
        figure.text(
            0.5,
            1 - 52 / height,
            "\n".join(textwrap.wrap(FOOTNOTE, 58)),
            ha="center",
            va="top",
            fontsize=8,
            color="#495057",
        )
        figure.subplots_adjust(left=0.16, right=0.95, top=1 - 120 / height, bottom=80 / height, hspace=0.62)
    else:
        figure.suptitle(title, fontsize=13)
        figure.text(0.5, 0.01, FOOTNOTE, ha="center", va="bottom", fontsize=9, color="#495057")
        figure.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.12, wspace=0.25, hspace=0.6)
    return figure


def render_chart(report: Report, fmt: str, title: str = "Edition stats", width: int = WIDTH) -> bytes:
    """The chart as PNG or SVG bytes, `width` pixels wide (the height follows from the layout)."""
    if fmt not in FORMATS:
        raise ChartError(f"charts are png or svg, not {fmt!r}")
    if width < 300:
        raise ChartError(f"a chart is at least 300 pixels wide, not {width}")
    buffer = io.BytesIO()
    chart_figure(report, title, width).savefig(buffer, format=fmt, dpi=DPI)
    return buffer.getvalue()


def write_chart(report: Report, path: str | Path, title: str = "Edition stats", width: int = WIDTH) -> Path:
    """Write the chart to `path` (.png or .svg); the whole file or nothing."""
    path = Path(path)
    data = render_chart(report, chart_format(path), title, width)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ChartError(f"cannot write the chart to {str(path)!r}: {exc.strerror or exc}") from exc
    return path
