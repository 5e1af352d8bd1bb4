"""The stats as pictures: one small chart per metric, editions along the bottom.

matplotlib with the Agg backend (no display needed), imported only when a chart
is drawn. The figure has a fixed size (SIZE at DPI), so a PNG is always
WIDTH x HEIGHT pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

from digest.errors import ChartError
from digest.stats.figures import Report

WIDTH, HEIGHT, DPI = 1200, 800, 100
FORMATS = ("png", "svg")
# (title, how to read it from an EditionStats, is it a rate)
PANELS = (
    ("Sent", lambda e: e.sent, False),
    ("Delivered", lambda e: e.delivered, False),
    ("Open rate", lambda e: e.rates["open_rate"], True),
    ("Click rate", lambda e: e.rates["click_rate"], True),
    ("Bounce rate", lambda e: e.rates["bounce_rate"], True),
    ("Complaint rate", lambda e: e.rates["complaint_rate"], True),
    ("Unsubscribes", lambda e: e.unsubscribes, False),
)




def chart_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        ending = f".{suffix}" if suffix else "no extension"
        raise ChartError(f"--plot writes .png or .svg files; {str(path)!r} ends in {ending}")
    return suffix


def _figure(report: Report, title: str):
    # matplotlib costs about 0.3 s to import: only a command that draws a chart pays it.
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    matplotlib.use("Agg")

    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    figure.suptitle(title)
    axes = figure.subplots(2, 4)
    numbers = [e.number for e in report.editions]
    for ax, (name, read, is_rate) in zip(axes.flat, PANELS):
        values = [read(e) for e in report.editions]
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("edition", fontsize=8)
        ax.tick_params(labelsize=8)
        if numbers:  # whole editions only, with room either side of a lone one
            ax.set_xlim(min(numbers) - 0.5, max(numbers) + 0.5)
            if len(numbers) <= 12:
                ax.set_xticks(numbers)
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if is_rate:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        points = [(n, v) for n, v in zip(numbers, values) if v is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color="#3b5bdb")
            ax.set_ylim(bottom=0)
        else:
            ax.text(0.5, 0.5, "no editions yet", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    growth = axes.flat[-1]
    growth.set_title("Active readers", fontsize=10)
    growth.set_xlabel("week", fontsize=8)
    growth.tick_params(labelsize=8)
    if report.growth:
        growth.plot(range(len(report.growth)), [g.total for g in report.growth], color="#2b8a3e")
        ticks = list(range(0, len(report.growth), max(1, len(report.growth) // 4)))
        growth.set_xticks(ticks, [report.growth[i].week for i in ticks], fontsize=7, rotation=30)
        growth.set_ylim(bottom=0)
    else:
        growth.text(0.5, 0.5, "no readers yet", ha="center", va="center", transform=growth.transAxes, fontsize=8)
    figure.subplots_adjust(left=0.05, right=0.98, top=0.9, bottom=0.1, wspace=0.3, hspace=0.45)
    return figure


def render_chart(report: Report, fmt: str, title: str = "Edition stats") -> bytes:
    """The chart as PNG or SVG bytes."""
    if fmt not in FORMATS:
        raise ChartError(f"charts are png or svg, not {fmt!r}")
    buffer = io.BytesIO()
    _figure(report, title).savefig(buffer, format=fmt, dpi=DPI)
    return buffer.getvalue()


def write_chart(report: Report, path: str | Path, title: str = "Edition stats") -> Path:
    """Write the chart to `path` (.png or .svg); the whole file or nothing."""
    path = Path(path)
    data = render_chart(report, chart_format(path), title)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ChartError(f"cannot write the chart to {str(path)!r}: {exc.strerror or exc}") from exc
    return path
