"""Late comparisons are never lost: an edition carries every comparison published up to the end of its week
that no edition carried, looking back to the newest earlier edition; it freezes as its send begins."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from helpers import add_reader, comparison

from digest.cli import main
from digest.delivery import send_edition
from digest.editions.service import build_edition, edit_edition, edition_comparisons, get_edition
from digest.errors import EditionError
from digest.jobs import run_wave
from digest.mail.outbox import OutboxSender
from digest.settings import Settings
from digest.store import open_store, session_scope

SETTINGS = Settings()


def slugs(engine, number: int) -> list[str]:
    with session_scope(engine) as session:
        return [c.slug for c in edition_comparisons(session, get_edition(session, number))]


def test_a_comparison_imported_after_its_weeks_edition_went_out_is_carried_into_the_next(engine, tmp_path):
    add_reader(engine, "ada@example.com")
    with session_scope(engine) as session:
        comparison(session, "w10-first", "2026-03-04 09:00")
        first = build_edition(session, SETTINGS, "2026-W10").edition.number
    send_edition(engine, SETTINGS, first, sender=OutboxSender(tmp_path / "outbox"))
    with session_scope(engine) as session:
        comparison(session, "w10-late", "2026-03-06 09:00")  # dated W10, imported after W10 went out
        comparison(session, "w11-own", "2026-03-11 09:00")
        result = build_edition(session, SETTINGS, "2026-W11")
    assert result.carried_over == ("w10-late",)
    assert result.reason.endswith("built with 2 comparisons (1 carried over from earlier weeks: w10-late)")
    assert slugs(engine, result.edition.number) == ["w11-own", "w10-late"]
    assert slugs(engine, first) == ["w10-first"]  # the sent edition is as it went out


def test_the_first_edition_ever_looks_at_its_own_week_only(engine):
    with session_scope(engine) as session:
        comparison(session, "history", "2026-01-07 09:00")  # an import of the site's history
        comparison(session, "this-week", "2026-03-11 09:00")
        result = build_edition(session, SETTINGS, "2026-W11")
    assert slugs(engine, result.edition.number) == ["this-week"] and result.carried_over == ()


def test_build_names_the_comparisons_it_carried_over(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with session_scope(engine) as session:
        comparison(session, "w10-first", "2026-03-04 09:00")
        build_edition(session, SETTINGS, "2026-W10")
        comparison(session, "w10-late", "2026-03-06 09:00")
    result = CliRunner().invoke(main, ["editions", "build", "--week", "2026-W11"])
    assert result.exit_code == 0, result.output
    assert (
        "Edition 2 for 2026-W11 built with 1 comparison (1 carried over from earlier weeks: w10-late)." in result.output
    )
    engine.dispose()


def test_an_edition_freezes_as_its_send_begins_taking_what_was_imported_since_it_was_built(engine, tmp_path):
    add_reader(engine, "ada@example.com")
    with session_scope(engine) as session:
        comparison(session, "built-with", "2026-03-11 09:00")
        number = build_edition(session, SETTINGS, "2026-W11").edition.number
        edit_edition(session, number, order=["built-with"])
        comparison(session, "imported-since", "2026-03-13 09:00")  # newer, but after the build
    summary = send_edition(engine, SETTINGS, number, sender=OutboxSender(tmp_path / "outbox"))
    assert summary.frozen == (
        f"edition {number} for 2026-W11 frozen; added since it was built: imported-since; "
        "nothing carried over from earlier weeks"
    )
    assert slugs(engine, number) == ["built-with", "imported-since"]  # the editor's order stands
    with session_scope(engine) as session:
        comparison(session, "after-the-freeze", "2026-03-14 09:00")
    with session_scope(engine) as session:
        with pytest.raises(EditionError, match="only a draft can be edited"):
            edit_edition(session, number, intro="Too late.")
        with pytest.raises(EditionError, match="only a draft can be rebuilt"):
            build_edition(session, SETTINGS, "2026-W11", rebuild=True)
        following = build_edition(session, SETTINGS, "2026-W12")
    assert following.carried_over == ("after-the-freeze",)


def test_the_schedulers_log_says_what_the_first_wave_froze_and_carried_over(engine, tmp_path, caplog):
    add_reader(engine, "ada@example.com")
    with session_scope(engine) as session:
        comparison(session, "w10-first", "2026-03-04 09:00")
        build_edition(session, SETTINGS, "2026-W10")
        comparison(session, "w10-late", "2026-03-06 09:00")
        comparison(session, "w11-own", "2026-03-11 09:00")
    caplog.set_level(logging.INFO, logger="digest.jobs")
    slot = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)  # Monday of W12: sends W11
    outcome = run_wave(engine, SETTINGS, slot, ("UTC",), sender=OutboxSender(tmp_path / "outbox"))
    assert outcome.status == "done", outcome
    assert (
        "edition 2 for 2026-W11 built with 2 comparisons (1 carried over from earlier weeks: w10-late)" in caplog.text
    )
    assert "edition 2 for 2026-W11 frozen; carried over from earlier weeks: w10-late" in caplog.text
