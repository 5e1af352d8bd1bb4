"""`digest db prune` (issue 23, item 4): old editions' ledger rows and raw events go, their figures stay.

An edition sent through the SendGrid-compatible server in four variants, with events (deliveries,
opens, clicks, a bounce, a SendGrid unsubscribe), a vote and one of digest's own unsubscribes, on
SQLite and PostgreSQL: `stats --json`, `stats --by-variant --json` and `editions show --json` print
the same figures after pruning as before; its ledger rows and events are gone; the consent log is
untouched; a rerun prunes nothing more; an edition still sending is refused; a bad date is one line.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import add_edition, sendgrid_event, serve_site
from test_variants import reader_id, seed, send, sendgrid  # noqa: F401  the edition, its send, the server

from digest.cli import main
from digest.content.models import Comparison
from digest.content.votes import record_vote
from digest.delivery.ledger import Delivery, was_mailed
from digest.errors import UnknownVoteLink
from digest.events.ingest import ingest
from digest.events.models import Event
from digest.events.parse import parse_batch
from digest.jobs import RETENTION_JOB, build_scheduler, retain
from digest.settings import Settings
from digest.stats.prune import prune
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import consent, service

VOICE = "murmurcast-vs-tidewell"


def tomorrow() -> str:
    """The day after today, asked when used (after the send): a constant taken at import went stale when a
    run crossed midnight UTC, and `--before` it then left the edition sent after midnight unpruned."""
    return (utcnow() + timedelta(days=1)).date().isoformat()


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def printed(*args: str):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def figures(number: int) -> tuple:
    shown = printed("editions", "show", str(number), "--json")
    shown.pop("pruned_at")
    return (
        printed("stats", "--json"),
        printed("stats", "--edition", str(number), "--by-variant", "--json"),
        shown,
    )


def rows(engine, number: int) -> tuple[int, int, list]:
    with engine.connect() as connection:
        edition_id = connection.execute(sa.text("SELECT id FROM edition WHERE number = :n"), {"n": number}).scalar()
        ledger = connection.execute(
            sa.select(sa.func.count()).select_from(Delivery.__table__).where(Delivery.edition_id == edition_id)
        ).scalar()
        events = connection.execute(
            sa.select(sa.func.count()).select_from(Event.__table__).where(Event.edition_number == number)
        ).scalar()
        log = [tuple(row) for row in connection.execute(sa.select(consent.log).order_by(consent.log.c.id))]
    return ledger, events, log


def sent_with_events(engine, server) -> int:
    number = seed(engine)
    assert send(engine, server, number).sent == 5
    now = utcnow()
    happened = [("delivered", a) for a in ("code@example.com", "voice@example.com", "image-code@example.com")]
    happened += [("open", "code@example.com"), ("open", "voice@example.com"), ("click", "voice@example.com")]
    happened += [("bounce", "image-code@example.com"), ("unsubscribe", "code@example.com")]
    batch = [sendgrid_event(kind, a, edition=number, reader=reader_id(engine, a)) for kind, a in happened]
    with engine.begin() as connection:
        ingest(connection, parse_batch(json.dumps(batch), now).rows, now)
    with session_scope(engine) as session:
        voter = service.by_email(session, "voice@example.com")
        record_vote(session, voter.token, VOICE, f"{VOICE}-left", mailed=was_mailed)
        leaver = service.by_email(session, "all@example.com")
        service.unsubscribe(session, leaver.token, utcnow())
    add_edition(engine, number + 1, status="sent")  # a newer edition: the newest sent is never pruned
    return number


def test_a_pruned_edition_prints_the_same_figures_without_its_rows(cli_env, sendgrid):  # noqa: F811
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = sent_with_events(engine, sendgrid)
    before = figures(number)
    stats, variants, shown = before
    [edition, newer] = stats["editions"]
    assert (edition["sent"], edition["opens"], edition["clicks"], edition["votes"]) == (5, 2, 1, 1)
    assert (edition["bounces"], edition["unsubscribes"]) == (1, 2)
    assert len(variants) == 4 and shown["unmatched"] == 1
    ledger, events, log = rows(engine, number)
    with session_scope(engine) as session:
        voice = session.execute(sa.select(Comparison.id).where(Comparison.slug == VOICE)).scalar_one()
        assert was_mailed(session, reader_id(engine, "voice-evals@example.com"), voice)
    assert ledger == 6 and events == 8

    refused = run("db", "prune", "--before", tomorrow())  # no terminal, no --yes: it says what it would do
    assert refused.exit_code == 1 and "would delete 6 ledger rows and 8 events of 1 edition" in refused.output
    assert rows(engine, number) == (ledger, events, log)

    done = run("db", "prune", "--before", tomorrow(), "--yes")
    assert done.exit_code == 0, done.output
    assert "Pruned 1 edition: 6 ledger rows and 8 events deleted" in done.output
    assert rows(engine, number) == (0, 0, log)  # the consent log untouched
    assert figures(number) == before
    assert printed("editions", "show", str(number), "--json")["pruned_at"]
    [listed] = [e for e in printed("editions", "list", "--json") if e["number"] == number]
    assert listed["readers"] == shown["readers"]

    again = run("db", "prune", "--before", tomorrow(), "--yes")
    assert again.exit_code == 0 and "Nothing to prune" in again.output
    assert figures(number) == before

    # A reader of a pruned edition may no longer vote on its comparisons: nothing says they got it.
    with session_scope(engine) as session:
        assert not was_mailed(session, reader_id(engine, "voice-evals@example.com"), voice)
        reader = service.by_email(session, "voice-evals@example.com")
        with pytest.raises(UnknownVoteLink):
            record_vote(session, reader.token, VOICE, f"{VOICE}-left", mailed=was_mailed)
    engine.dispose()


def desk_figures(db_url: str, number: int) -> tuple[dict, str]:
    """The desk's live figures of an edition (its JSON) and its send page, read by a fresh site."""
    with serve_site(db_url, admin_token="t0ken") as site:
        bearer = {"Authorization": "Bearer t0ken"}
        live = site.http.get(f"/desk/editions/{number}/send/live", headers=bearer)
        page = site.http.get(f"/desk/editions/{number}/send", headers={**bearer, "Accept": "text/html"})
        assert live.status_code == 200 and page.status_code == 200, (live.text, page.text)
        cells = live.json()["cells"]
        for moving in ("counted-at", "rate"):  # when it was counted, and readers per second over the last minute
            cells.pop(moving)
        return cells, page.text


def test_the_desk_shows_a_pruned_edition_as_before_and_it_is_never_sent_again(cli_env, sendgrid):  # noqa: F811
    db_url = cli_env["DIGEST_DATABASE_URL"]
    engine = open_store(db_url)
    number = sent_with_events(engine, sendgrid)
    before, page = desk_figures(db_url, number)
    assert (before["total-sent"], before["v4-sent"], before["v0-skipped"], before["w1-sent"]) == ("5", "2", "1", "5")

    assert [p.number for p in prune(engine, utcnow() + timedelta(days=1))] == [number]
    after, page_after = desk_figures(db_url, number)
    assert after == before
    assert "Variant 4" in page_after
    refused = run("editions", "send", "--edition", str(number), "--yes")
    assert refused.exit_code == 1 and f"edition {number} was pruned" in refused.output, refused.output
    engine.dispose()


def test_an_edition_still_sending_is_refused_and_a_bad_date_is_one_line(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_edition(engine, 7, status="sending")
    refused = run("db", "prune", "--before", tomorrow(), "--yes")
    assert refused.exit_code == 1
    assert refused.output.strip() == (
        "Error: edition 7 (sending) is still being sent: prune only editions whose send finished "
        "(finish or resume the send first, or give an earlier --before)"
    )
    bad = run("db", "prune", "--before", "last tuesday", "--yes")
    assert bad.exit_code == 1
    assert bad.output.strip() == (
        "Error: --before: expected a date such as 2026-01-01 or 2026-01-01T09:00:00+01:00, got 'last tuesday'"
    )
    engine.dispose()


def desk_stats(db_url: str, number: int) -> tuple[str, str]:
    """The desk's stats of every edition and of edition `number` per variant, read by a fresh site, as their
    figures and charts (the time they were counted left out)."""
    with serve_site(db_url, admin_token="t0ken") as site:
        headers = {"Authorization": "Bearer t0ken", "Accept": "text/html"}
        pages = [site.http.get(path, headers=headers) for path in ("/desk/stats", f"/desk/editions/{number}/stats")]
    assert [p.status_code for p in pages] == [200, 200], [p.text[:300] for p in pages]
    return tuple(re.sub(r'<p class="fineprint" id="counted-at">.*?</p>', "", p.text) for p in pages)


def test_the_desks_stats_show_each_edition_and_variant_with_charts_and_the_same_once_pruned(cli_env, sendgrid):  # noqa: F811
    db_url = cli_env["DIGEST_DATABASE_URL"]
    engine = open_store(db_url)
    number = sent_with_events(engine, sendgrid)
    every, one = desk_stats(db_url, number)
    row = re.search(rf'<tr data-edition="{number}">(.*?)</tr>', every, re.S).group(1)
    assert [re.sub(r"<.*?>", " ", cell).split() for cell in re.findall(r"<td>(.*?)</td>", row)] == [
        ["5"],  # sent
        ["3", "60%"],  # delivered
        ["2", "66.7%"],  # opens, of delivered
        ["1", "33.3%"],  # clicks
        ["1", "20%"],  # votes, of sent
        ["1", "20%"],  # bounces
        ["0", "0%"],  # complaints
        ["2", "40%"],  # unsubscribes
    ]
    # The charts of `digest stats --plot`, each a table: every bar beside its figure in words.
    sent_chart = re.search(r'<figure class="chart-panel" id="chart-sent".*?</figure>', every, re.S).group(0)
    assert f"Edition {number}" in sent_chart and '<td class="bar-figure">5</td>' in sent_chart
    assert 'class="bar-fill" width="100.0%"' in sent_chart and 'aria-hidden="true"' in sent_chart
    assert 'id="chart-active-readers"' in every and 'id="chart-complaint-rate"' in every
    # Per variant: as `digest stats --edition N --by-variant` counts them.
    variants = re.findall(r'<tr data-variant="(\d+)">', one)
    assert variants == ["1", "2", "3", "4"]
    assert 'id="whole-sent">5<' in one and 'id="chart-votes"' in one
    assert [re.sub(r"<.*?>", "", m) for m in re.findall(r'id="whole-opens">(.*?)</dd>', one)] == ["2 (66.7%)"]

    assert [p.number for p in prune(engine, utcnow() + timedelta(days=1))] == [number]
    assert desk_stats(db_url, number) == (every, one)  # from the kept figures, word for word
    engine.dispose()


def test_retention_prunes_what_was_sent_longer_ago_than_retain_days_and_is_off_by_default(cli_env, sendgrid):  # noqa: F811
    """DIGEST_RETAIN_DAYS: the scheduler's hourly retention job prunes as `digest db prune` does."""
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = sent_with_events(engine, sendgrid)
    off, on = Settings.from_env(cli_env), Settings.from_env({**cli_env, "DIGEST_RETAIN_DAYS": "30"})
    assert off.retain_days is None and on.retain_days == 30
    jobs = {
        flag: set(build_scheduler(engine, s, confirmations=False, late=False)._registry.jobs)
        for flag, s in (("off", off), ("on", on))
    }
    assert RETENTION_JOB not in jobs["off"] and RETENTION_JOB in jobs["on"]
    ledger, events, log = rows(engine, number)
    assert retain(engine, on, utcnow() + timedelta(days=29)) is None  # not old enough yet
    assert rows(engine, number) == (ledger, events, log)
    said = retain(engine, on, utcnow() + timedelta(days=31))
    assert said == "pruned 1 edition sent over 30 days ago (6 ledger rows and 8 events deleted, their figures kept)"
    assert rows(engine, number) == (0, 0, log)
    assert retain(engine, on, utcnow() + timedelta(days=31)) is None  # nothing left to prune
    engine.dispose()
