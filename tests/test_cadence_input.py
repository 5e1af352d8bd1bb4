"""Where a reader's cadence comes in, and where readers it skips are counted (SQLite and PostgreSQL).

The subscribe endpoint (JSON and form), the preferences endpoint, a CSV import (a `cadence` column;
a bad value names its line and column and nothing is written), `digest subscribers add --cadence`
and `show`; then the figures of an edition a monthly reader is not due: `editions show`, the send's
summary and the desk's week count them as not due, never as readers who get none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import add_reader, serve_site, set_preferences, topical, wait_until

from digest.cli import main
from digest.delivery.summary import describe_edition
from digest.jobs import run_wave
from digest.mail.memory import MemorySender
from digest.send_days import slot_of
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from digest.web.desk.glance import week_at_glance
from subscribers.models import Subscriber


def stored(engine, email: str) -> tuple[str, date | None]:
    with engine.connect() as connection:
        table = Subscriber.__table__
        return tuple(
            connection.execute(sa.select(table.c.cadence, table.c.cadence_since).where(table.c.email == email)).one()
        )


def test_the_subscribe_and_preferences_endpoints_take_a_cadence(db_url):
    with serve_site(db_url) as site:
        with session_scope(site.engine) as session:
            topical(session, "voice-a", "2026-03-18 09:00", ("Voice", "Voice"), "Voice A")
        answer = site.http.post("/subscribe", json={"email": "ana@example.com", "cadence": "monthly"})
        assert answer.status_code == 202, answer.text
        form = site.http.post(
            "/subscribe", data={"email": "ben@example.com", "cadence": "fortnightly"}, headers={"Accept": "text/html"}
        )
        assert form.status_code == 200, form.text
        bad = site.http.post("/subscribe", json={"email": "cy@example.com", "cadence": "daily"})
        assert bad.status_code == 422
        assert bad.json()["errors"] == [
            {"field": "cadence", "message": "'daily' is not a cadence (choose weekly, fortnightly, monthly)"}
        ]
        bad_form = site.http.post(
            "/subscribe", data={"email": "cy@example.com", "cadence": "hourly"}, headers={"Accept": "text/html"}
        )
        assert bad_form.status_code == 422 and 'id="cadence-error"' in bad_form.text
        assert 'value="hourly"' not in bad_form.text  # the choices are the three cadences, none ticked wrongly

        def settled():
            with site.engine.connect() as connection:
                return connection.execute(sa.text("SELECT count(*) FROM subscriber")).scalar_one() == 2

        wait_until(settled, 10, "the two sign-ups committed")  # by the app's batcher, just after the answer
        today = utcnow().date()
        assert stored(site.engine, "ana@example.com")[0] == "monthly"
        assert stored(site.engine, "ben@example.com")[0] == "fortnightly"
        assert abs(stored(site.engine, "ana@example.com")[1] - today) <= timedelta(days=1)

        _, token = add_reader(site.engine, "dee@example.com")
        saved = site.http.post(f"/preferences/{token}", json={"cadence": "monthly"})
        assert saved.status_code == 200 and saved.json()["cadence"] == "monthly", saved.text
        assert stored(site.engine, "dee@example.com")[0] == "monthly"
        kept = site.http.post(f"/preferences/{token}", json={"topics": ["Voice"]})  # no cadence: unchanged
        assert kept.json()["cadence"] == "monthly"
        page = site.http.get(f"/preferences/{token}").text
        assert 'name="cadence" value="monthly" checked' in page
        refused = site.http.post(f"/preferences/{token}", json={"cadence": "yearly"})
        assert refused.status_code == 422 and "'yearly' is not a cadence" in refused.text
        assert stored(site.engine, "dee@example.com")[0] == "monthly"


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result


def test_an_import_takes_a_cadence_column_and_refuses_a_bad_one_by_line_and_column(cli_env, tmp_path):
    path = tmp_path / "readers.csv"
    path.write_text(
        "email,topics,cadence\nann@example.com,,monthly\nbob@example.com,,Fortnightly\ncy@example.com,,daily\n",
        encoding="utf-8",
    )
    refused = run("subscribers", "import", str(path), "--confirmed", code=1)
    assert "readers.csv:4: cadence: 'daily' is not a cadence (choose weekly, fortnightly, monthly)" in refused.output
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM subscriber")).scalar_one() == 0  # nothing written
        path.write_text(path.read_text(encoding="utf-8").replace("daily", ""), encoding="utf-8")
        run("subscribers", "import", str(path), "--confirmed")
        assert stored(engine, "ann@example.com")[0] == "monthly"
        assert stored(engine, "bob@example.com")[0] == "fortnightly"
        assert stored(engine, "cy@example.com")[0] == "weekly"  # an empty cell: the default
        run("subscribers", "add", "dee@example.com", "--confirmed", "--cadence", "monthly")
        assert "cadence:              monthly" in run("subscribers", "show", "dee@example.com").output
        bad = run("subscribers", "add", "eve@example.com", "--confirmed", "--cadence", "often", code=1)
        assert "'often' is not a cadence" in bad.output
    finally:
        engine.dispose()


def test_readers_a_cadence_skips_are_counted_as_not_due_not_as_getting_none(db_url, engine, cli_env, monkeypatch):
    settings = Settings.from_env(
        {
            "DIGEST_DATABASE_URL": db_url,
            "DIGEST_BACKEND": "memory",
            "DIGEST_TIMEZONE": "Europe/London",
            "DIGEST_SEND_DAY": "monday",
            "DIGEST_SEND_TIME": "08:00",
        }
    )
    with session_scope(engine) as session:
        topical(session, "voice-w15", "2026-04-08 09:00", ("Voice", "Voice"), "Voice of the week")
    table = Subscriber.__table__
    readers = [add_reader(engine, f"r{n}@example.com")[0] for n in range(5)]
    set_preferences(engine, readers, timezone="Europe/London", when=datetime(2026, 4, 1, tzinfo=UTC))
    with engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.id.in_(readers[:2]))
            .values(cadence="monthly", cadence_since=date(2026, 4, 1))
        )
        connection.execute(
            sa.update(table)
            .where(table.c.id == readers[2])
            .values(cadence="fortnightly", cadence_since=date(2026, 4, 6))
        )
    sender = MemorySender()
    day = date(2026, 4, 13)  # not the first Monday of April; a fortnight after 6 April would be the 20th
    run_wave(engine, settings, slot_of(day, "Europe/London", settings), ("Europe/London",), sender=sender)
    assert sorted(sender.addresses()) == ["r3@example.com", "r4@example.com"]
    with session_scope(engine) as session:
        info = describe_edition(session, 1, settings=settings)
    assert info["not_due"] == {"fortnightly": 1, "monthly": 2}
    assert info["unmatched"] == 0 and [line["readers"] for line in info["variants"]] == [2]
    week = week_at_glance(engine, settings, 1)
    assert week.not_due == "3 readers not due this send day (1 fortnightly, 2 monthly)"
    assert week.unmatched == 0 and week.readers == 2
    for name, value in (("DIGEST_TIMEZONE", "Europe/London"), ("DIGEST_SEND_DAY", "monday")):
        monkeypatch.setenv(name, value)
    shown = run("editions", "show", "1").output
    assert "3 readers not due this send day (1 fortnightly, 2 monthly): not mailed, not an error" in shown
    assert "skipped: their topics match none" not in shown
