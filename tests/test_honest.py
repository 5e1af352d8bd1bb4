"""Honest mail and pages: a topic edition says it is filtered and what it leaves out; a reader whose
topics match nothing in their next edition is told so on the preferences page, with what it is about;
`digest subscribers show` lists the editions a reader got, with dates and variants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from click.testing import CliRunner
from helpers import add_reader, serve_site, set_preferences, topical
from test_late_readers import EVALS, PARIS_WAVE, VOICE, reader, seed, settings_for

from digest.cli import main
from digest.editions.service import build_edition
from digest.jobs import run_wave
from digest.mail.memory import MemorySender
from digest.send_days import next_mail_for
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import links

BEFORE = PARIS_WAVE - timedelta(days=1)


def letters_by_reader(sender: MemorySender) -> dict[str, object]:
    return {r.address: sent.letter for sent in sender.sent for r in sent.recipients}


def test_a_topic_edition_says_it_is_filtered_and_links_what_it_leaves_out(db_url, engine):
    settings = settings_for(db_url)
    seed(engine)
    reader(engine, "voice@example.com", "Europe/Paris", when=BEFORE, topics=["Voice"])
    reader(engine, "both@example.com", "Europe/Paris", when=BEFORE, topics=["Voice", "Evaluation"])
    reader(engine, "all@example.com", "Europe/Paris", when=BEFORE)
    sender = MemorySender()
    run_wave(engine, settings, PARIS_WAVE, ("Europe/Paris",), sender=sender, final=True)
    letters = letters_by_reader(sender)
    web = f"{settings.base_url}/editions/1"

    voice = letters["voice@example.com"]
    assert VOICE in voice.html and EVALS not in voice.html
    assert "Your topics: Voice" in voice.html and "1 side-by-side verdict for your topics" in voice.html
    assert f'<a href="{web}" style="color:#475569">1 more comparison this week on the web</a>' in voice.html
    assert f"Your topics: Voice · 1 more comparison this week on the web: {web}" in voice.text

    for address in ("both@example.com", "all@example.com"):  # the whole week: nothing to say
        whole = letters[address]
        assert "Your topics" not in whole.html and "more comparison" not in whole.text
        assert "2 side-by-side verdicts this week" in whole.html
    assert len(sender.sent) == 2  # one request per letter: the whole edition, and the Voice one


def test_subscribers_show_lists_the_editions_a_reader_got_with_dates_and_variants(cli_env, engine):
    settings = settings_for(cli_env["DIGEST_DATABASE_URL"])
    seed(engine)
    reader(engine, "voice@example.com", "Europe/Paris", when=BEFORE, topics=["Voice"])
    run_wave(engine, settings, PARIS_WAVE, ("Europe/Paris",), sender=MemorySender(), final=True)
    result = CliRunner().invoke(main, ["subscribers", "show", "voice@example.com"])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("  #1")]
    assert "2026-W12" in line and "sent" in line and "murmurcast-vs-tidewell" in line
    assert "relaybench-vs-lanternops" not in line
    assert utcnow().strftime("%Y-%m-%d") in line  # when it left (the real clock stamps the ledger)
    shown = CliRunner().invoke(main, ["subscribers", "show", "voice@example.com", "--json"])
    assert '"variant": [\n        "murmurcast-vs-tidewell"\n      ]' in shown.output


def test_the_preferences_page_says_when_topics_match_nothing_in_the_next_edition(sqlite_url):
    with serve_site(sqlite_url) as site:
        engine = open_store(sqlite_url)
        reader_id, token = add_reader(engine, "music@example.com")
        set_preferences(engine, [reader_id], topics=["Music"], when=utcnow() - timedelta(days=30))
        mail = next_mail_for(engine, site.settings, reader_id, None, utcnow() - timedelta(days=30), utcnow())
        year, week = (int(part) for part in mail.week.split("-W"))
        day = datetime.combine(date.fromisocalendar(year, week, 1), time(0, 30), tzinfo=UTC)  # in that week
        with session_scope(engine) as session:
            topical(session, "voice-one", day, ("Voice", "Voice"), VOICE)
            topical(session, "evals-one", day, ("Evaluation", "Evaluation"), EVALS)
            built = build_edition(session, site.settings, mail.week)
        assert built.edition is not None, built.reason
        page = site.http.get(links.preferences_url("", token))
        assert page.status_code == 200
        assert 'id="no-match"' in page.text
        assert "Your topics match none of the 2 comparisons in edition 1" in page.text
        assert "It is about Evaluation, Voice" in page.text
        set_preferences(engine, [reader_id], topics=["Music", "Voice"])
        assert 'id="no-match"' not in site.http.get(links.preferences_url("", token)).text
        engine.dispose()
