"""Edition stats and subscriber growth: the figures, `digest stats` (with its chart) and the /stats page."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from click.testing import CliRunner
from PIL import Image

from helpers import add_edition, add_readers
from digest.cli import main
from digest.delivery.ledger import Delivery
from digest.stats.chart import HEIGHT, WIDTH
from digest.events.parse import parse_batch
from digest.events.ingest import ingest
from digest.stats.figures import edition_stats, percent, weekly_growth
from digest.store import open_store
from digest.timeutil import utcnow
from helpers import sendgrid_event, serve_site
from subscribers.models import Subscriber

UTC = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# --- the pure figures ------------------------------------------------------------------------


def test_rates_are_of_sent_or_of_delivered_and_none_without_a_base():
    stats = edition_stats(3, "2026-W47", "sent", 200, {"delivered": 190, "open": 95, "click": 19, "bounce": 4,
                                                       "spamreport": 1, "unsubscribe": 2, "processed": 200})
    assert (stats.sent, stats.delivered, stats.opens, stats.clicks, stats.bounces, stats.complaints,
            stats.unsubscribes) == (200, 190, 95, 19, 4, 1, 2)
    assert stats.rates == {"delivery_rate": 0.95, "open_rate": 0.5, "click_rate": 0.1, "bounce_rate": 0.02,
                           "complaint_rate": 0.005, "unsubscribe_rate": 0.01}
    assert set(edition_stats(4, "2026-W48", "sending", 0, {}).rates.values()) == {None}
    assert (percent(0.005), percent(1 / 3), percent(None)) == ("0.5%", "33.3%", "—")


def test_growth_covers_every_week_from_the_first_reader_gaps_included():
    readers = [(at("2026-11-02 10:00"), None), (at("2026-11-03 10:00"), at("2026-11-20 10:00")),
               (at("2026-11-18 10:00"), None), (None, None)]  # the last never confirmed
    growth = weekly_growth(readers, UTC, until=at("2026-11-29 12:00"))
    assert [(g.week, g.joined, g.left, g.net, g.total) for g in growth] == [
        ("2026-W45", 2, 0, 2, 2), ("2026-W46", 0, 0, 0, 2), ("2026-W47", 1, 1, 0, 2), ("2026-W48", 0, 0, 0, 2)]
    assert weekly_growth([], UTC) == []


def test_growth_weeks_follow_the_newsletters_time_zone():
    sunday_night_utc = at("2026-11-22 23:30")  # already Monday in Berlin
    assert weekly_growth([(sunday_night_utc, None)], UTC)[0].week == "2026-W47"
    assert weekly_growth([(sunday_night_utc, None)], ZoneInfo("Europe/Berlin"))[0].week == "2026-W48"


# --- from the store --------------------------------------------------------------------------


def an_edition_with_events(engine) -> None:
    """Edition 1 went to readers 1-10; SendGrid told us what happened next."""
    add_readers(engine, 10)
    table = Subscriber.__table__
    with engine.begin() as connection:  # they confirmed when they joined
        connection.execute(sa.update(table).values(confirmed_at=table.c.created_at))
    edition_id = add_edition(engine, 1, status="sent")
    add_edition(engine, 2, status="draft")  # not sent: not in the stats
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(Delivery.__table__.insert(), [
            {"edition_id": edition_id, "subscriber_id": i, "state": "sent", "claimed_at": now, "finished_at": now}
            for i in range(1, 11)])
    r = lambda i: f"reader{i}@example.com"  # noqa: E731
    events = [sendgrid_event("processed", r(i)) for i in range(1, 11)]
    events += [sendgrid_event("delivered", r(i)) for i in range(1, 10)]  # reader 10 bounced
    events += [sendgrid_event("open", r(i)) for i in (1, 1, 1, 2, 3)]  # reader 1 opened three times
    events += [sendgrid_event("click", r(i)) for i in (1, 2, 2)]
    events += [sendgrid_event("bounce", r(10), type="bounce"), sendgrid_event("bounce", r(9), type="blocked")]
    events += [sendgrid_event("spamreport", r(4)), sendgrid_event("unsubscribe", r(5)),
               sendgrid_event("group_unsubscribe", r(6)), sendgrid_event("open", r(7), edition=2)]
    with engine.begin() as connection:
        ingest(connection, parse_batch(json.dumps(events), now).rows, now)


EXPECTED = {"number": 1, "week": "2026-W01", "status": "sent", "sent": 10, "delivered": 9, "opens": 3,
            "clicks": 2, "bounces": 1, "complaints": 1, "unsubscribes": 2, "delivery_rate": 0.9,
            "open_rate": 0.3333, "click_rate": 0.2222, "bounce_rate": 0.1, "complaint_rate": 0.1,
            "unsubscribe_rate": 0.2}


def test_digest_stats_counts_readers_per_edition_from_the_ledger_and_the_events(db_url, cli_env):
    engine = open_store(db_url)
    an_edition_with_events(engine)
    engine.dispose()
    shown = CliRunner().invoke(main, ["stats", "--json"])
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.output)
    assert figures["editions"] == [EXPECTED]
    this_week = figures["growth"][-1]
    assert (this_week["joined"], this_week["left"], this_week["total"]) == (0, 4, 6)  # 4, 5, 6 and 10 left

    text = CliRunner().invoke(main, ["stats", "--edition", "1"])
    assert text.exit_code == 0, text.output
    row = next(line for line in text.output.splitlines() if line.strip().startswith("1 "))
    assert row.split()[:6] == ["1", "2026-W01", "10", "9", "(90%)", "3"]


def test_digest_stats_names_a_missing_edition_and_a_bad_plot_file(cli_env):
    missing = CliRunner().invoke(main, ["stats", "--edition", "99"])
    assert missing.exit_code == 1
    assert "there is no edition 99" in missing.output
    bad = CliRunner().invoke(main, ["stats", "--plot", "chart.gif"])
    assert bad.exit_code == 2
    assert "--plot writes .png or .svg files; 'chart.gif' ends in .gif" in bad.output


def test_the_plot_is_a_chart_image_of_the_promised_size(sqlite_url, cli_env, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_DATABASE_URL", sqlite_url)
    engine = open_store(sqlite_url)
    an_edition_with_events(engine)
    engine.dispose()
    png, svg = tmp_path / "stats.png", tmp_path / "stats.svg"
    for path in (png, svg):
        done = CliRunner().invoke(main, ["stats", "--plot", str(path)])
        assert done.exit_code == 0, done.output
        assert f"Chart written to {path}" in done.output
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (WIDTH, HEIGHT)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert len(colours) > 50  # lines, labels and titles, not a blank canvas
        assert (59, 91, 219) in {c for _, c in colours}  # the metric lines' colour is drawn
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Complaint rate" in svg.read_text()


def test_the_stats_page_is_for_editors_only(db_url):
    with serve_site(db_url) as off:
        assert off.http.get("/stats").status_code == 404  # no DIGEST_ADMIN_TOKEN: the page is off
    with serve_site(db_url, admin_token="s3cret-editor-token") as site:
        an_edition_with_events(site.engine)
        anonymous = site.http.get("/stats")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "admin token" in anonymous.text
        assert site.http.get("/stats", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert site.http.get("/stats?token=wrong").status_code == 403
        page = site.http.get("/stats", headers={"Authorization": "Bearer s3cret-editor-token"})
        assert page.status_code == 200
        assert 'data-edition="1"' in page.text and 'data-edition="2"' not in page.text
        assert "data:image/svg+xml;base64," in page.text
        assert site.http.get("/stats?token=s3cret-editor-token").status_code == 200
        data = site.http.get("/stats", headers={"Authorization": "Bearer s3cret-editor-token",
                                                "Accept": "application/json"}).json()
        assert data["editions"] == [EXPECTED]
