"""Edition stats and subscriber growth: the figures, honest on every backend, `digest stats` (with its chart,
readable on a phone) and the /stats page. Signing in to /stats is in test_stats_login.py."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import add_edition, add_reader, add_readers, comparison, sendgrid_event, serve_site
from PIL import Image
from sqlmodel import select

from digest.cli import main
from digest.content.votes import record_vote
from digest.delivery import send_edition
from digest.delivery.ledger import Delivery, was_mailed
from digest.editions.service import build_edition
from digest.events.ingest import ingest
from digest.events.parse import parse_batch
from digest.stats.chart import HEIGHT, PHONE, WIDTH, chart_figure, layout, render_chart
from digest.stats.figures import (
    OWN_SENDER,
    SENDGRID,
    Report,
    WeekGrowth,
    backend_of,
    edition_stats,
    load_report,
    percent,
    weekly_growth,
)
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import operators, service
from subscribers.models import Subscriber
from subscribers.validation import SubscribeRequest

UTC = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# --- the pure figures ------------------------------------------------------------------------


def test_rates_are_of_sent_or_of_delivered_and_none_without_a_base():
    stats = edition_stats(
        3,
        "2026-W47",
        "sent",
        200,
        {"delivered": 190, "open": 95, "click": 19, "bounce": 4, "spamreport": 1, "unsubscribe": 2, "processed": 200},
        votes=30,
    )
    assert (
        stats.sent,
        stats.delivered,
        stats.opens,
        stats.clicks,
        stats.votes,
        stats.bounces,
        stats.complaints,
        stats.unsubscribes,
    ) == (200, 190, 95, 19, 30, 4, 1, 2)
    assert stats.rates == {
        "delivery_rate": 0.95,
        "open_rate": 0.5,
        "click_rate": 0.1,
        "vote_rate": 0.15,
        "bounce_rate": 0.02,
        "complaint_rate": 0.005,
        "unsubscribe_rate": 0.01,
    }
    assert set(edition_stats(4, "2026-W48", "sending", 0, {}).rates.values()) == {None}
    assert (percent(0.005), percent(1 / 3), percent(None)) == ("0.5%", "33.3%", "—")


def test_a_backend_that_hears_nothing_back_reports_none_not_zero():
    stats = edition_stats(5, "2026-W49", "sent", 40, {}, backend=OWN_SENDER, votes=6, unsubscribes=2)
    assert (stats.delivered, stats.opens, stats.clicks, stats.bounces, stats.complaints) == (None,) * 5
    assert (stats.sent, stats.votes, stats.unsubscribes, stats.reported) == (40, 6, 2, False)
    assert stats.rates["open_rate"] is None and stats.rates["delivery_rate"] is None
    assert (stats.rates["vote_rate"], stats.rates["unsubscribe_rate"]) == (0.15, 0.05)
    assert stats.as_dict()["not_reported"] == ["delivered", "opens", "clicks", "bounces", "complaints"]
    assert (backend_of(40, 0, 0), backend_of(0, 40, 0), backend_of(40, 0, 3), backend_of(0, 0, 0)) == (
        OWN_SENDER,
        SENDGRID,
        SENDGRID,
        None,
    )


def test_growth_covers_every_week_from_the_first_reader_gaps_included():
    readers = [
        (at("2026-11-02 10:00"), None),
        (at("2026-11-03 10:00"), at("2026-11-20 10:00")),
        (at("2026-11-18 10:00"), None),
        (None, None),
    ]  # the last never confirmed
    signups = [
        (at("2026-11-02 09:00"), at("2026-11-02 10:00")),
        (at("2026-11-03 10:00"), None),
        (at("2026-11-17 10:00"), at("2026-11-18 10:00")),
        (at("2026-10-28 10:00"), None),
    ]
    growth = weekly_growth(readers, UTC, until=at("2026-11-29 12:00"), signups=signups)
    assert [(g.week, g.signed_up, g.clicked, g.joined, g.left, g.net, g.total) for g in growth] == [
        ("2026-W44", 1, 0, 0, 0, 0, 0),
        ("2026-W45", 2, 1, 2, 0, 2, 2),
        ("2026-W46", 0, 0, 0, 0, 0, 2),
        ("2026-W47", 1, 1, 1, 1, 0, 2),
        ("2026-W48", 0, 0, 0, 0, 0, 2),
    ]
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
        connection.execute(
            Delivery.__table__.insert(),
            [
                {"edition_id": edition_id, "subscriber_id": i, "state": "sent", "claimed_at": now, "finished_at": now}
                for i in range(1, 11)
            ],
        )
    r = lambda i: f"reader{i}@example.com"  # noqa: E731
    events = [sendgrid_event("processed", r(i)) for i in range(1, 11)]
    events += [sendgrid_event("delivered", r(i)) for i in range(1, 10)]  # reader 10 bounced
    events += [sendgrid_event("open", r(i)) for i in (1, 1, 1, 2, 3)]  # reader 1 opened three times
    events += [sendgrid_event("click", r(i)) for i in (1, 2, 2)]
    events += [sendgrid_event("bounce", r(10), type="bounce"), sendgrid_event("bounce", r(9), type="blocked")]
    events += [
        sendgrid_event("spamreport", r(4)),
        sendgrid_event("unsubscribe", r(5)),
        sendgrid_event("group_unsubscribe", r(6)),
        sendgrid_event("open", r(7), edition=2),
    ]
    with engine.begin() as connection:
        ingest(connection, parse_batch(json.dumps(events), now).rows, now)


EXPECTED = {
    "number": 1,
    "week": "2026-W01",
    "status": "sent",
    "sent": 10,
    "delivered": 9,
    "opens": 3,
    "clicks": 2,
    "votes": 0,
    "bounces": 1,
    "complaints": 1,
    "unsubscribes": 2,
    "backend": "sendgrid",
    "delivery_rate": 0.9,
    "open_rate": 0.3333,
    "click_rate": 0.2222,
    "vote_rate": 0.0,
    "bounce_rate": 0.1,
    "complaint_rate": 0.1,
    "unsubscribe_rate": 0.2,
    "reported": True,
    "not_reported": [],
}


def test_digest_stats_counts_readers_per_edition_from_the_ledger_and_the_events(db_url, cli_env):
    engine = open_store(db_url)
    an_edition_with_events(engine)
    engine.dispose()
    shown = CliRunner().invoke(main, ["stats", "--json"])
    assert shown.exit_code == 0, shown.output
    figures = json.loads(shown.stdout)
    assert figures["editions"] == [EXPECTED]
    this_week = figures["growth"][-1]
    assert (this_week["joined"], this_week["left"], this_week["total"]) == (0, 4, 6)  # 4, 5, 6 and 10 left

    text = CliRunner().invoke(main, ["stats", "--edition", "1"])
    assert text.exit_code == 0, text.output
    row = next(line for line in text.stdout.splitlines() if line.strip().startswith("1 "))
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


def test_the_stats_page_shows_the_figures_and_a_chart_for_phones_and_wide_screens(db_url):
    with serve_site(db_url, admin_token="s3cret-editor-token") as site:
        an_edition_with_events(site.engine)
        page = site.http.get("/stats", headers={"Authorization": "Bearer s3cret-editor-token"})
        assert page.status_code == 200
        assert 'data-edition="1"' in page.text and 'data-edition="2"' not in page.text
        assert page.text.count("data:image/svg+xml;base64,") == 2  # a phone's chart and a wide one
        assert '<source media="(max-width: 700px)"' in page.text
        assert "Apple Mail Privacy Protection" in page.text and 'id="not-reported"' not in page.text
        data = site.http.get(
            "/stats", headers={"Authorization": "Bearer s3cret-editor-token", "Accept": "application/json"}
        ).json()
        assert data["editions"] == [EXPECTED]


# --- honest on every backend: the outbox hears nothing back, digest counts what it sees itself -----------


def test_an_outbox_edition_says_not_reported_and_counts_votes_and_digests_own_unsubscribes(
    db_url, tmp_path, monkeypatch
):
    with serve_site(db_url, admin_token="s3cret-editor-token", outbox=tmp_path / "outbox") as site:
        tokens = [add_reader(site.engine, f"r{i}@example.com")[1] for i in range(1, 5)]
        with session_scope(site.engine) as session:
            comparison(session, "a-vs-b", "2026-11-10 09:00", left="a", right="b")
            build_edition(session, site.settings, "2026-W46")
        send_edition(site.engine, site.settings, 1)
        one_click = site.http.post(
            f"/unsubscribe/{tokens[0]}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200  # RFC 8058, as a mail client does it
        with session_scope(site.engine) as session:
            comparison(session, "c-vs-d", "2026-11-17 09:00", left="c", right="d")
            build_edition(session, site.settings, "2026-W47")
        send_edition(site.engine, site.settings, 2)
        assert site.http.post(f"/unsubscribe/{tokens[1]}").status_code == 200  # the page's button
        with session_scope(site.engine) as session:
            record_vote(session, tokens[2], "c-vs-d", "c", mailed=was_mailed)
            record_vote(session, tokens[3], "a-vs-b", "b", mailed=was_mailed)  # a late vote on edition 1's comparison
        data = site.http.get(
            "/stats", headers={"Authorization": "Bearer s3cret-editor-token", "Accept": "application/json"}
        ).json()
        first, second = data["editions"]
        for edition, sent in ((first, 4), (second, 3)):
            assert (edition["sent"], edition["unsubscribes"], edition["votes"]) == (sent, 1, 1)
            assert (edition["backend"], edition["reported"]) == ("outbox or smtp", False)
            assert [edition[name] for name in ("delivered", "opens", "clicks", "bounces", "complaints")] == [None] * 5
            assert edition["open_rate"] is None and edition["unsubscribe_rate"] == round(1 / sent, 4)
        page = site.http.get("/stats", headers={"Authorization": "Bearer s3cret-editor-token"})
        assert 'id="not-reported"' in page.text and "not reported by this backend" in page.text
        monkeypatch.setenv("DIGEST_DATABASE_URL", db_url)
        text = CliRunner().invoke(main, ["stats"])
    assert text.exit_code == 0, text.output
    row = next(line for line in text.stdout.splitlines() if line.strip().startswith("2 "))
    assert row.split()[:5] == ["2", "2026-W47", "3", "not", "reported"]
    assert "not reported: not reported by this backend (the outbox and SMTP hear nothing back" in text.output
    assert "Opens are unreliable: Apple Mail Privacy Protection" in text.output


def test_growth_counts_sign_ups_and_confirmation_clicks_apart_from_readers_added_as_confirmed(engine):
    asked = utcnow() - timedelta(minutes=10)
    with session_scope(engine) as session:
        for email in ("clicked@example.com", "waiting@example.com"):
            service.subscribe(session, SubscribeRequest(email=email), service.Consent(at=asked, source="web"))
        clicked = session.exec(select(Subscriber).where(Subscriber.email == "clicked@example.com")).one()
        service.confirm(session, clicked.token, "127.0.0.1", utcnow())
        operators.add_reader(
            session,
            SubscribeRequest(email="moved@example.com"),
            confirmed=True,
            consent=service.Consent(at=asked, source="old tool"),
        )
    with session_scope(engine) as session:
        growth = load_report(session, UTC, until=utcnow()).growth
    this_week = growth[-1]
    assert (this_week.signed_up, this_week.clicked, this_week.joined, this_week.total) == (3, 1, 2, 2)


# --- the chart -------------------------------------------------------------------------------------------


def _one_outbox_edition() -> Report:
    return Report(
        (edition_stats(1, "2026-W49", "sent", 3, {}, backend=OWN_SENDER, votes=1, unsubscribes=0),),
        (WeekGrowth("2026-W49", 3, 0, 3, 4, 3),),
    )


def _panel(figure, title: str):
    return next(ax for ax in figure.axes if ax.get_title() == title)


def test_a_single_week_is_a_point_counts_have_whole_number_axes_and_unreported_panels_say_so():
    figure = chart_figure(_one_outbox_edition(), "stats", PHONE)
    for title in ("Sent", "Votes (readers)", "Unsubscribes", "Active readers"):
        ax = _panel(figure, title)
        [line] = ax.get_lines()
        assert line.get_marker() == "o" and len(line.get_xdata()) == 1, title  # one week: a visible point
        shown = [tick for tick in ax.get_yticks() if ax.get_ylim()[0] <= tick <= ax.get_ylim()[1]]
        assert len(shown) >= 2 and all(float(tick).is_integer() for tick in shown), (title, shown)
    for title in ("Delivered", "Click rate", "Open rate (unreliable)", "Bounce rate", "Complaint rate"):
        ax = _panel(figure, title)
        assert ax.get_lines() == [] and "no data from this backend" in " ".join(t.get_text() for t in ax.texts)
    empty = chart_figure(Report((), ()), "stats", PHONE)
    assert "no editions sent yet" in _panel(empty, "Sent").texts[0].get_text()
    assert "no readers yet" in _panel(empty, "Active readers").texts[0].get_text()


def test_the_chart_at_phone_width_stacks_its_panels_in_one_readable_column(artifacts):
    report = _one_outbox_edition()
    columns, rows, height = layout(PHONE)
    assert (columns, rows) == (1, 9)
    figure = chart_figure(report, "Weekly AI Tool Verdicts: edition stats", PHONE)
    widths = {round(ax.get_position().width * PHONE) for ax in figure.axes if ax.get_visible()}
    assert min(widths) >= 280  # each panel spans the phone's width, not a third of it
    path = artifacts / "stats-phone.png"
    path.write_bytes(render_chart(report, "png", "Weekly AI Tool Verdicts: edition stats", PHONE))
    with Image.open(path) as image:
        assert image.size == (PHONE, height)
    wide = artifacts / "stats-wide.png"
    wide.write_bytes(render_chart(an_edition_report(), "png", "Weekly AI Tool Verdicts: edition stats"))


def an_edition_report() -> Report:
    editions = tuple(
        edition_stats(
            n,
            f"2026-W{44 + n}",
            "sent",
            100 + 10 * n,
            {"delivered": 95 + 10 * n, "open": 40 + n, "click": 10 + n, "bounce": 2, "spamreport": n % 2},
            votes=5 + n,
            unsubscribes=n % 3,
        )
        for n in range(1, 5)
    )
    growth = tuple(WeekGrowth(f"2026-W{44 + n}", 10, 1, 9 * n, 12, 9) for n in range(1, 5))
    return Report(editions, growth)
