"""The desk's charts as numbers (digest.stats.bars): the panels of `digest stats --plot`, each row's figure
in words and its bar's share of the largest; a figure not reported, or a rate of nothing, says so."""

from __future__ import annotations

from digest.stats.bars import LAST, bar_chart, edition_charts, variant_charts
from digest.stats.chart import GROWTH_TITLE, PANELS
from digest.stats.figures import NOT_REPORTED, OWN_SENDER, Report, VariantStats, WeekGrowth, edition_stats


def _edition(number: int, sent: int, delivered: int, backend: str = "sendgrid"):
    kinds = {"delivered": delivered, "click": delivered // 2}
    return edition_stats(number, f"2026-W{number:02d}", "sent", sent, kinds, backend=backend, votes=sent // 10)


def test_each_bar_is_its_share_of_the_largest_and_says_its_figure():
    chart = bar_chart("Sent", [("Edition 1", "", 50, True), ("Edition 2", "", 200, True), ("Edition 3", "", 0, True)])
    assert [(r.text, r.share) for r in chart.rows] == [("50", 25.0), ("200", 100.0), ("0", 0.0)]
    assert chart.key == "sent" and chart.note is None


def test_the_charts_are_the_plots_panels_and_the_growth_over_the_newest_editions():
    editions = tuple(_edition(n, 1000 * n, 900 * n) for n in range(1, LAST + 3))
    growth = (WeekGrowth("2026-W01", 5, 1, 4), WeekGrowth("2026-W02", 3, 0, 7))
    charts = edition_charts(Report(editions, growth))
    assert [c.title for c in charts] == [p.title for p in PANELS] + [GROWTH_TITLE]
    sent = charts[0]
    assert [r.label for r in sent.rows] == [f"Edition {n}" for n in range(3, LAST + 3)]
    assert sent.note == f"the newest {LAST} of {LAST + 2} editions"
    assert sent.rows[-1].text == f"{1000 * (LAST + 2):,}" and sent.rows[-1].share == 100.0
    click = next(c for c in charts if c.key == "click-rate")
    assert {r.text for r in click.rows} == {"50%"}
    assert [(r.label, r.text, r.detail) for r in charts[-1].rows] == [
        ("2026-W01", "4", "+4 that week"),
        ("2026-W02", "7", "+3 that week"),
    ]


def test_a_figure_the_backend_does_not_report_says_so_and_a_rate_of_nothing_is_a_dash():
    own = _edition(1, 10, 0, backend=OWN_SENDER)  # the outbox: deliveries and clicks unknown
    nothing_delivered = _edition(2, 10, 0)  # SendGrid, with no delivery yet: a click rate of nothing
    lines = [VariantStats(1, ("a-vs-b",), own), VariantStats(2, ("c-vs-d",), nothing_delivered)]
    charts = {c.key: c for c in variant_charts(lines)}
    assert [r.text for r in charts["click-rate"].rows] == [NOT_REPORTED, "—"]
    assert [r.reported for r in charts["delivered"].rows] == [False, True]
    assert [r.text for r in charts["votes"].rows] == ["1", "1"]  # digest counts votes whatever the backend
    alone = {c.key: c for c in variant_charts(lines[:1])}
    assert alone["delivered"].note.startswith("no data from this backend")
    assert alone["sent"].note is None
