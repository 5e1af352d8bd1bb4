"""One edition at hand: build, preview, send-test and send without --edition/--week mean the same edition;
send says what it will do and asks in a terminal; a comparison dated in the future waits for its date."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import add_readers, at, comparison, edition_status, in_terminal, ledger

from digest.cli import main
from digest.delivery import send_edition
from digest.editions.models import Edition
from digest.editions.service import build_edition, edition_at_hand
from digest.errors import EditionError
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from digest.weeks import current_week, week_of

SETTINGS = Settings()


def _mark_sent(engine, *numbers: int) -> None:
    table = Edition.__table__
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.number.in_(numbers)).values(status="sent", sent_at=utcnow()))


def _three_weeks(engine) -> None:
    """Edition 1 (2026-W46) sent; 2 (W47) and 3 (W48, next week's, built early) drafts."""
    with session_scope(engine) as session:
        for slug, when, week in (
            ("w46-a-vs-b", "2026-11-10 09:00", "2026-W46"),
            ("w47-c-vs-d", "2026-11-17 09:00", "2026-W47"),
            ("w48-e-vs-f", "2026-11-24 09:00", "2026-W48"),
        ):
            comparison(session, slug, when)
            build_edition(session, SETTINGS, week)
    _mark_sent(engine, 1)


def test_the_edition_at_hand_is_the_earliest_unsent_then_the_current_weeks(engine):
    _three_weeks(engine)
    with session_scope(engine) as session:
        hand = edition_at_hand(session, SETTINGS, now=at("2026-12-01 12:00"))
        assert (hand.edition.number, hand.week, hand.which()) == (2, "2026-W47", {"number": 2})
    _mark_sent(engine, 2, 3)
    with session_scope(engine) as session:  # all sent: the current week's, not built yet
        hand = edition_at_hand(session, SETTINGS, now=at("2026-12-01 12:00"))
        assert (hand.edition, hand.week, hand.which()) == (None, "2026-W49", {"week": "2026-W49"})
        in_paris = edition_at_hand(
            session, Settings(timezone=ZoneInfo("Europe/Paris")), now=at("2026-11-29 23:30")
        )  # already Monday in Paris
        assert in_paris.week == "2026-W49"


def test_preview_send_test_send_and_build_all_mean_the_same_edition(cli_env, tmp_path):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    _three_weeks(engine)
    add_readers(engine, 2)
    runner = CliRunner()
    previewed = runner.invoke(main, ["editions", "preview", "--out", str(tmp_path / "p")])
    assert previewed.exit_code == 0, previewed.output
    assert previewed.stdout.splitlines()[0] == "Edition 2 for 2026-W47 (draft)"
    assert "W47 C Vs D Left" in (tmp_path / "p" / "edition.txt").read_text(encoding="utf-8")
    tested = runner.invoke(main, ["editions", "send-test", "--to", "editor@example.com"])
    assert "Sent a test of edition 2 " in tested.output, tested.output
    built = runner.invoke(main, ["editions", "build"])
    assert built.stdout.startswith("Edition 2 for 2026-W47 was already built."), built.output
    dry = runner.invoke(main, ["editions", "send", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("Edition 2 for 2026-W47 (draft), 1 comparison:")
    assert "It would reach 2 readers through outbox." in dry.output and "Edition 2: dry-run." in dry.output
    sent = runner.invoke(main, ["editions", "send", "--yes", "--yes"])
    assert sent.exit_code == 0, sent.output
    assert "Edition 2: sent." in sent.output and ledger(engine, 2) and not ledger(engine, 3)
    after = runner.invoke(main, ["editions", "preview", "--out", str(tmp_path / "q")])
    assert after.stdout.splitlines()[0] == "Edition 3 for 2026-W48 (draft)"  # the next to go out
    engine.dispose()


def test_with_every_edition_sent_build_makes_the_current_weeks(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    _three_weeks(engine)
    _mark_sent(engine, 2, 3)
    with session_scope(engine) as session:
        comparison(session, "this-week-a-vs-b", utcnow())
    built = CliRunner().invoke(main, ["editions", "build"])
    assert built.exit_code == 0, built.output
    assert built.stdout.startswith(f"Edition 4 for {current_week(ZoneInfo('UTC'))} built with 1 comparison.")
    engine.dispose()


# --- send says what it will do, and asks in a terminal -------------------------------------------------


def _one_edition(url: str, readers: int = 3) -> None:
    engine = open_store(url)
    add_readers(engine, readers)
    with session_scope(engine) as session:
        comparison(session, "alpha-vs-beta", "2026-11-17 09:00", title="Alpha vs Beta")
        comparison(session, "gamma-vs-delta", "2026-11-18 09:00", title="Gamma vs Delta")
        build_edition(session, SETTINGS, "2026-W47")
    engine.dispose()


def test_send_names_the_edition_its_comparisons_and_readers_and_asks_nothing_without_a_terminal(cli_env):
    _one_edition(cli_env["DIGEST_DATABASE_URL"])
    CliRunner().invoke(main, ["editions", "edit", "1", "--exclude", "alpha-vs-beta"])
    result = CliRunner().invoke(main, ["editions", "send", "--yes", "--yes"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "Edition 1 for 2026-W47 (draft), 1 comparison:",
        "  1. Gamma vs Delta  [gamma-vs-delta]",
        "Left out: alpha-vs-beta",
        "It will reach 3 readers through outbox.",
    ]
    assert lines[4] == "Edition 1: sent."  # no question: stdin is not a terminal
    assert "[y/N]" not in result.output
    assert len(os.listdir(cli_env["DIGEST_OUTBOX"])) == 3


def test_the_plan_counts_only_readers_it_will_mail_and_names_comparisons_that_join_as_it_freezes(cli_env):
    """Readers whose topics match nothing get no mail, so the plan does not count them; a comparison
    imported after the build joins as the send begins, so the plan lists it."""
    _one_edition(cli_env["DIGEST_DATABASE_URL"])
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, 2, first=100, topics=["Voice"])  # the edition's tools are all Developer Tools
    with session_scope(engine) as session:
        comparison(session, "late-vs-later", "2026-11-19 09:00", title="Late vs Later")
    engine.dispose()
    dry = CliRunner().invoke(main, ["editions", "send", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "  3. Late vs Later  [late-vs-later]  (imported since it was built; joins as the send begins)" in dry.output
    assert (
        "It would reach 3 readers through outbox; 2 more readers chose topics that match none of its "
        "comparisons and get no mail."
    ) in dry.output
    sent = CliRunner().invoke(main, ["editions", "send", "--yes", "--yes"])
    assert sent.exit_code == 0, sent.output
    assert len(os.listdir(cli_env["DIGEST_OUTBOX"])) == 3  # what the plan said


def test_send_in_a_terminal_asks_and_a_no_sends_nothing(cli_env):
    _one_edition(cli_env["DIGEST_DATABASE_URL"])
    status, output = in_terminal(["editions", "send"], dict(os.environ), answer="n")
    assert status == 1, output
    assert "It will reach 3 readers through outbox." in output
    assert "Send edition 1 to 3 readers? [y/N]:" in output and "Aborted" in output
    assert not Path(cli_env["DIGEST_OUTBOX"]).exists()
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    assert ledger(engine, 1) == {} and edition_status(engine, 1) == "draft"
    engine.dispose()
    status, output = in_terminal(["editions", "send"], dict(os.environ), answer="y")
    assert status == 0, output
    assert "Edition 1: sent." in output
    assert len(os.listdir(cli_env["DIGEST_OUTBOX"])) == 3


def test_send_yes_does_not_ask_even_in_a_terminal(sqlite_url, cli_env, monkeypatch):
    monkeypatch.setenv("DIGEST_DATABASE_URL", sqlite_url)
    _one_edition(sqlite_url, readers=2)
    status, output = in_terminal(["editions", "send", "--yes"], dict(os.environ))
    assert status == 0, output
    assert "[y/N]" not in output and "Edition 1: sent." in output


# --- a comparison dated in the future -----------------------------------------------------------------


def _future_edition(url: str) -> tuple[int, str]:
    engine = open_store(url)
    add_readers(engine, 2)
    later = utcnow() + timedelta(hours=3)
    week = week_of(later, ZoneInfo("UTC"))
    with session_scope(engine) as session:
        comparison(session, "tomorrow-a-vs-b", later)
        number = build_edition(session, SETTINGS, week).edition.number
    engine.dispose()
    return number, week


def test_a_comparison_dated_in_the_future_is_not_sent_before_its_date(cli_env):
    number, _week = _future_edition(cli_env["DIGEST_DATABASE_URL"])
    refused = CliRunner().invoke(main, ["editions", "send", "--yes", "--edition", str(number)])
    assert refused.exit_code == 1
    assert "carries a comparison dated in the future: tomorrow-a-vs-b (dated " in refused.output
    assert f"digest editions edit {number} --exclude tomorrow-a-vs-b" in refused.output
    assert "--include-future" in refused.output and "Traceback" not in refused.output
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    assert ledger(engine, number) == {} and edition_status(engine, number) == "draft"
    with pytest.raises(EditionError, match="dated in the future"):  # the scheduler's path refuses too
        send_edition(engine, Settings(database_url=cli_env["DIGEST_DATABASE_URL"]), number)
    dry = CliRunner().invoke(main, ["editions", "send", "--edition", str(number), "--dry-run"])
    assert dry.exit_code == 0 and "dated in the future" in dry.output
    sent = CliRunner().invoke(main, ["editions", "send", "--yes", "--edition", str(number), "--include-future"])
    assert sent.exit_code == 0, sent.output
    assert f"Edition {number}: sent." in sent.output and len(ledger(engine, number)) == 2
    engine.dispose()
