"""Provider clicks as engagement (issue 21, item 4): a SendGrid click in an edition, well after the edition
left for the reader, is a sign of life; clicks on links that act for the reader, clicks within minutes
of the send (link scanners), clicks on mail the ledger never sent and opens are not. Real signed webhook
posts over HTTP on SQLite and PostgreSQL; one read and one UPDATE per batch whatever its size."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import KeyPair, add_readers, sendgrid_event, serve_site

from digest.cli import main
from digest.delivery.ledger import Delivery, mailed_at
from digest.editions.models import Edition
from digest.events.clicks import SCANNER_WINDOW, acts_for_the_reader, counted
from digest.events.ingest import ingest
from digest.events.parse import parse_batch
from digest.store import open_store
from digest.timeutil import utcnow
from subscribers import links
from subscribers.models import Subscriber

HOUR = 3600
PAGE = "https://verdicts.example.com/compare/relaybench-vs-quillpatch"


@pytest.fixture
def keys():
    return KeyPair()


def _site(db_url, keys, **settings):
    return serve_site(db_url, webhook_public_key=keys.public_b64, **settings)


def readers_now(engine) -> dict[int, tuple]:
    table = Subscriber.__table__
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.id, table.c.engaged_at, table.c.sunset_asked_at))
        return {id_: (engaged, asked) for id_, engaged, asked in rows}


def at(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def sent(engine, readers, stamp: int, number: int = 3) -> None:
    """Edition `number`, mailed to `readers` at `stamp` (Unix seconds): its `sent` ledger rows."""
    with engine.begin() as connection:
        edition = connection.execute(
            sa.insert(Edition.__table__).returning(Edition.__table__.c.id),
            {"number": number, "week": f"2026-W{number:02d}", "status": "sent", "built_at": utcnow()},
        ).scalar_one()
        connection.execute(
            sa.insert(Delivery.__table__),
            [
                {
                    "edition_id": edition,
                    "subscriber_id": r,
                    "state": "sent",
                    "claimed_at": at(stamp),
                    "finished_at": at(stamp),
                }
                for r in readers
            ],
        )


def clicked(reader: int, stamp: int, url: str = PAGE, edition: int | None = 3) -> dict:
    return sendgrid_event(
        "click", f"reader{reader}@example.com", edition=edition, reader=reader, timestamp=stamp, url=url
    )


def test_the_rule_alone():
    assert not acts_for_the_reader(PAGE) and not acts_for_the_reader("https://news.example.com/editions/3#c-1")
    for url in ("/unsubscribe/t", "/preferences/t", "/vote/t/a/b", "/keep/t", "/confirm/x", "/Vote/t/a/b", None, 7):
        assert acts_for_the_reader(f"https://news.example.com{url}" if isinstance(url, str) else url), url
    then = datetime(2026, 11, 23, 8, tzinfo=UTC)
    rows = [
        {"reader_id": 1, "edition_number": 3, "occurred_at": then + SCANNER_WINDOW},  # just late enough
        {"reader_id": 1, "edition_number": 3, "occurred_at": then + 2 * SCANNER_WINDOW},  # the latest wins
        {"reader_id": 2, "edition_number": 3, "occurred_at": then + SCANNER_WINDOW - timedelta(seconds=1)},
        {"reader_id": 3, "edition_number": 3, "occurred_at": then + timedelta(days=1)},  # never mailed
    ]
    left = {(3, 1): then, (3, 2): then}
    assert counted(rows, left) == {1: then + 2 * SCANNER_WINDOW}


def test_a_late_click_in_an_edition_counts_and_answers_a_repermission_mail(db_url, keys):
    with _site(db_url, keys) as site:
        add_readers(site.engine, 2)
        with site.engine.begin() as connection:
            connection.execute(sa.update(Subscriber.__table__).values(sunset_asked_at=utcnow() - timedelta(days=2)))
        now = int(time.time())
        sent(site.engine, [1, 2], now - HOUR)
        answer = site.post_events(keys, [sendgrid_event("delivered", "reader1@example.com", edition=3, reader=1)])
        assert answer.status_code == 200, answer.text
        assert readers_now(site.engine)[1][0] is None  # a delivery is no sign of life
        answer = site.post_events(keys, [clicked(1, now - 60)])
        assert answer.status_code == 200 and answer.json()["stored"] == 1, answer.text
        found = readers_now(site.engine)
        assert found[1] == (at(now - 60), None)  # engaged at the click; the question answered
        assert found[2][0] is None and found[2][1] is not None  # the other reader: untouched


def test_scanners_acting_links_unknown_deliveries_and_opens_never_count(db_url, keys):
    with _site(db_url, keys) as site:
        add_readers(site.engine, 7)
        now = int(time.time())
        base, token = site.settings.base_url, "t" * 43
        sent(site.engine, [1, 2, 3, 4, 5, 7], now - HOUR)
        batch = [
            clicked(1, now - HOUR + 20),  # seconds after the send: a link scanner
            clicked(2, now, links.unsubscribe_url(base, token)),  # acts for the reader
            clicked(3, now, links.vote_url(base, token, "a-vs-b", "a")),  # the vote counts as its POST
            clicked(4, now, links.keep_url(base, token)),
            clicked(6, now),  # the ledger never sent edition 3 to reader 6
            clicked(7, now, edition=None),  # not an edition (a confirmation or welcome mail)
            sendgrid_event("open", "reader5@example.com", edition=3, reader=5, timestamp=now),  # opens never
        ]
        answer = site.post_events(keys, batch)
        assert answer.status_code == 200 and answer.json()["stored"] == len(batch), answer.text
        assert {r: engaged for r, (engaged, _) in readers_now(site.engine).items()} == dict.fromkeys(range(1, 8))
        # the same scanner reader clicking again an hour later: that one counts (and is labelled so)
        assert site.post_events(keys, [clicked(1, now)]).status_code == 200
        assert readers_now(site.engine)[1][0] == at(now)


def test_engagement_never_moves_back_and_a_retried_batch_changes_nothing(db_url, keys):
    with _site(db_url, keys) as site:
        add_readers(site.engine, 1)
        now = int(time.time())
        later = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
        with site.engine.begin() as connection:  # a vote, after the click SendGrid reports late
            connection.execute(sa.update(Subscriber.__table__).values(engaged_at=later))
        sent(site.engine, [1], now - 2 * HOUR)
        batch = [clicked(1, now - HOUR)]
        assert site.post_events(keys, batch).status_code == 200
        assert readers_now(site.engine)[1][0] == later
        with site.engine.begin() as connection:
            connection.execute(sa.update(Subscriber.__table__).values(engaged_at=None))
        assert site.post_events(keys, batch).json()["duplicates"] == 1  # a retry: nothing new to count
        assert readers_now(site.engine)[1][0] is None


def test_off_means_clicks_never_count(db_url, keys):
    with _site(db_url, keys, clicks_engage=False) as site:
        add_readers(site.engine, 1)
        now = int(time.time())
        sent(site.engine, [1], now - HOUR)
        assert site.post_events(keys, [clicked(1, now)]).status_code == 200
        assert readers_now(site.engine)[1][0] is None


def test_a_batch_of_clicks_takes_one_read_and_one_update(db_url):
    engine = open_store(db_url)
    add_readers(engine, 300)
    now = int(time.time())
    sent(engine, range(1, 301), now - HOUR)
    sent(engine, range(1, 301), now - 2 * HOUR, number=2)  # an earlier edition: its rows are not read
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    batch = [clicked(r, now - (r % 7)) for r in range(1, 301)] + [clicked(r, now - 100) for r in range(1, 301)]
    with engine.begin() as connection:
        result = ingest(connection, parse_batch(json.dumps(batch), utcnow()).rows, mailed_at=mailed_at)
    assert result.engaged == 300
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE SUBSCRIBER")]
    reads = [s for s in statements if "FROM delivery" in s]
    assert len(updates) == 1 and len(reads) == 1, statements
    engaged = {r: e for r, (e, _) in readers_now(engine).items()}
    assert engaged == dict.fromkeys(range(1, 301), at(now))  # the batch's latest counted click
    engine.dispose()


def test_subscribers_show_labels_clicks_as_possibly_from_link_scanners(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, 1)
    now = int(time.time())
    sent(engine, [1], now - HOUR)
    with engine.begin() as connection:
        ingest(connection, parse_batch(json.dumps([clicked(1, now)]), utcnow()).rows, mailed_at=mailed_at)
    engine.dispose()
    shown = CliRunner().invoke(main, ["subscribers", "show", "reader1@example.com"], catch_exceptions=False).output
    assert "\nclicks (may include link scanners): 1\n" in shown, shown
    assert f"engaged_at:           {at(now).isoformat()}" in shown, shown
    as_json = CliRunner().invoke(main, ["subscribers", "show", "reader1@example.com", "--json"]).stdout
    assert json.loads(as_json)["clicks"] == 1


def test_stats_label_clicks_as_possibly_from_link_scanners():
    from digest.stats.chart import FOOTNOTE
    from digest.stats.figures import OPENS_CAVEAT

    for said in (OPENS_CAVEAT, FOOTNOTE):
        assert "Clicks (may include link scanners) and votes are the engagement figures." in said
