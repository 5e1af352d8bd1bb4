"""Selecting and freezing a week's edition, and an editor's changes to a draft."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import at, comparison, scaled
from sqlmodel import Session, select

from digest.cli import main
from digest.editions.models import Edition
from digest.editions.selection import arrange, select_for_week
from digest.editions.service import build_edition, edit_edition, edition_comparisons, edition_items, get_edition
from digest.errors import EditionError, NotFound
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.weeks import BadWeek, week_bounds

W47 = "2026-W47"  # Monday 16 to Sunday 22 November 2026
SETTINGS = Settings()


# --- the pure core ---------------------------------------------------------------------------


@dataclass
class Item:
    id: int
    published_at: datetime


def test_selection_keeps_the_weeks_uncarried_comparisons_newest_first():
    start, end = week_bounds(W47, ZoneInfo("UTC"))
    items = [
        Item(1, at("2026-11-16 00:00")),
        Item(2, at("2026-11-22 23:59")),
        Item(3, at("2026-11-15 23:59")),
        Item(4, at("2026-11-23 00:00")),
        Item(5, at("2026-11-18 12:00")),
        Item(6, at("2026-11-19 12:00")),
    ]
    picked = select_for_week(items, carried={6}, start=start, end=end)
    assert [i.id for i in picked] == [2, 5, 1]


def test_the_week_follows_the_newsletters_time_zone():
    # 23:30 UTC on Sunday 15 November is already Monday 16 November in Paris: week 47 there, week 46 in UTC.
    late_sunday = Item(1, at("2026-11-15 23:30"))
    paris = week_bounds(W47, ZoneInfo("Europe/Paris"))
    utc = week_bounds(W47, ZoneInfo("UTC"))
    assert select_for_week([late_sunday], set(), *paris) == [late_sunday]
    assert select_for_week([late_sunday], set(), *utc) == []


def test_arrange_leads_with_the_named_slugs_and_keeps_the_rest_in_place():
    assert arrange(["a", "b", "c", "d"], ["c", "a"]) == ["c", "a", "b", "d"]


@pytest.mark.parametrize("order,complaint", [(["a", "a"], "twice"), (["zz"], "not in this edition")])
def test_arrange_refuses_unknown_or_repeated_slugs(order, complaint):
    with pytest.raises(EditionError, match=complaint):
        arrange(["a", "b"], order)


# --- building --------------------------------------------------------------------------------


def test_building_a_week_freezes_its_new_comparisons_newest_first(engine):
    with session_scope(engine) as session:
        comparison(session, "older", "2026-11-16 09:00")
        comparison(session, "newer", "2026-11-20 09:00")
        comparison(session, "last-week", "2026-11-12 09:00")
        comparison(session, "next-week", "2026-11-23 09:00")
        result = build_edition(session, SETTINGS, W47)
        assert result.created and result.edition.number == 1 and result.edition.week == W47
        assert [c.slug for c in edition_comparisons(session, result.edition)] == ["newer", "older"]
        assert result.reason == f"edition 1 for {W47} built with 2 comparisons"


def test_building_the_same_week_again_returns_the_same_edition(engine):
    with session_scope(engine) as session:
        comparison(session, "one", "2026-11-17 09:00")
        first = build_edition(session, SETTINGS, W47)
    with session_scope(engine) as session:
        comparison(session, "late", "2026-11-18 09:00")
        again = build_edition(session, SETTINGS, W47)
        assert not again.created and again.edition.id == first.edition.id
        assert [c.slug for c in edition_comparisons(session, again.edition)] == ["one"]
        assert len(session.exec(select(Edition)).all()) == 1


def test_editions_are_numbered_in_the_order_they_are_built(engine):
    with session_scope(engine) as session:
        comparison(session, "a", "2026-11-10 09:00")
        comparison(session, "b", "2026-11-17 09:00")
        comparison(session, "c", "2026-11-24 09:00")
        numbers = [
            build_edition(session, SETTINGS, week).edition.number for week in ("2026-W47", "2026-W46", "2026-W48")
        ]
        assert numbers == [1, 2, 3]


def test_the_default_week_is_the_current_one_in_the_newsletters_zone(engine):
    paris = replace(SETTINGS, timezone=ZoneInfo("Europe/Paris"))
    with session_scope(engine) as session:
        comparison(session, "monday-in-paris", "2026-11-15 23:30")
        result = build_edition(session, paris, now=datetime(2026, 11, 15, 23, 45, tzinfo=UTC))
        assert result.edition.week == W47


def test_a_week_with_nothing_new_builds_nothing_and_says_so(engine):
    with session_scope(engine) as session:
        result = build_edition(session, SETTINGS, W47)
        assert result.edition is None and not result.created
        assert result.reason == f"no new comparisons in {W47}"
        assert session.exec(select(Edition)).all() == []


def test_fewer_comparisons_than_the_minimum_build_nothing(engine):
    with session_scope(engine) as session:
        comparison(session, "lonely", "2026-11-17 09:00")
        result = build_edition(session, replace(SETTINGS, min_items=2), W47)
        assert result.edition is None
        assert result.reason == f"only 1 new comparison in {W47}; DIGEST_MIN_ITEMS is 2"


def test_a_comparison_an_earlier_edition_carried_is_not_picked_again(engine):
    with session_scope(engine) as session:
        moved = comparison(session, "re-dated", "2026-11-10 09:00")
        build_edition(session, SETTINGS, "2026-W46")
        moved.published_at = at("2026-11-17 09:00")  # a re-import moved it into the next week
        session.add(moved)
        comparison(session, "fresh", "2026-11-18 09:00")
        result = build_edition(session, SETTINGS, W47)
        assert [c.slug for c in edition_comparisons(session, result.edition)] == ["fresh"]


def test_a_rebuild_picks_up_late_comparisons_and_keeps_the_editors_choices(engine):
    with session_scope(engine) as session:
        comparison(session, "kept", "2026-11-16 09:00")
        comparison(session, "dropped", "2026-11-17 09:00")
        number = build_edition(session, SETTINGS, W47).edition.number
        edit_edition(session, number, intro="Hello", exclude=["dropped"])
        comparison(session, "late", "2026-11-21 09:00")
        result = build_edition(session, SETTINGS, W47, rebuild=True)
        assert not result.created and result.edition.number == number
        assert [c.slug for c in edition_comparisons(session, result.edition)] == ["late", "kept"]
        assert result.edition.intro == "Hello"


def test_a_sent_edition_cannot_be_rebuilt(engine):
    with session_scope(engine) as session:
        comparison(session, "one", "2026-11-17 09:00")
        edition = build_edition(session, SETTINGS, W47).edition
        edition.status = "sent"
        session.add(edition)
        with pytest.raises(EditionError, match="is sent; only a draft can be rebuilt"):
            build_edition(session, SETTINGS, W47, rebuild=True)


def test_a_malformed_week_is_refused_with_the_expected_form(engine):
    with session_scope(engine) as session:
        with pytest.raises(BadWeek, match="YYYY-Www"):
            build_edition(session, SETTINGS, "2026-47")
        with pytest.raises(BadWeek, match="2025 has no ISO week 53"):
            build_edition(session, SETTINGS, "2025-W53")


# --- finding and editing -----------------------------------------------------------------------


def test_get_edition_by_number_by_week_or_the_latest(engine):
    with session_scope(engine) as session:
        comparison(session, "a", "2026-11-10 09:00")
        comparison(session, "b", "2026-11-17 09:00")
        build_edition(session, SETTINGS, "2026-W46")
        build_edition(session, SETTINGS, W47)
        assert get_edition(session, number=1).week == "2026-W46"
        assert get_edition(session, week=W47).number == 2
        assert get_edition(session).number == 2
        with pytest.raises(NotFound, match="there is no edition 9"):
            get_edition(session, number=9)
        with pytest.raises(NotFound, match="no edition for 2026-W50"):
            get_edition(session, week="2026-W50")


def _three(session) -> int:
    for slug, day in (("a", 16), ("b", 17), ("c", 18)):
        comparison(session, slug, f"2026-11-{day} 09:00")
    return build_edition(session, SETTINGS, W47).edition.number  # order: c, b, a


def test_an_editor_sets_intro_subject_order_and_exclusions(engine):
    with session_scope(engine) as session:
        number = _three(session)
        edition = edit_edition(
            session, number, intro="  First line.\r\n\r\nSecond.  ", subject="Big\nweek", exclude=["b"], order=["a"]
        )
        assert edition.intro == "First line.\n\nSecond." and edition.subject == "Big week"
        assert [c.slug for c in edition_comparisons(session, edition)] == ["a", "c"]
        assert len(edition_items(session, edition, included_only=False)) == 3  # b stays frozen, left out
    with session_scope(engine) as session:
        edition = edit_edition(session, number, subject="", include=["b"])
        assert edition.subject is None
        assert [c.slug for c in edition_comparisons(session, edition)] == ["a", "c", "b"]


@pytest.mark.parametrize(
    "change,complaint",
    [
        ({"exclude": ["nope"]}, "'nope' is not in edition 1"),
        ({"exclude": ["a", "b", "c"]}, "would have no comparisons left"),
        ({"exclude": ["a"], "include": ["a"]}, "both excluded and included"),
        ({"subject": "x" * 201}, "at most 200"),
        ({"order": ["c", "c"]}, "twice"),
    ],
)
def test_an_edit_that_makes_no_sense_is_refused_and_changes_nothing(engine, change, complaint):
    with session_scope(engine) as session:
        number = _three(session)
    with pytest.raises(EditionError, match=complaint):
        with session_scope(engine) as session:
            edit_edition(session, number, intro="not kept", **change)
    with session_scope(engine) as session:
        edition = get_edition(session, number=number)
        assert edition.intro is None
        assert [c.slug for c in edition_comparisons(session, edition)] == ["c", "b", "a"]


def test_a_sent_edition_cannot_be_edited(engine):
    with session_scope(engine) as session:
        number = _three(session)
        edition = get_edition(session, number=number)
        edition.status = "sending"
        session.add(edition)
        with pytest.raises(EditionError, match="edition 1 is sending; only a draft can be edited"):
            edit_edition(session, number, intro="late")


# --- the commands ------------------------------------------------------------------------------


def _seed(db_url, *comparisons_at):
    engine = open_store(db_url)
    with session_scope(engine) as session:
        for slug, when in comparisons_at:
            comparison(session, slug, when)
    engine.dispose()


def test_edition_build_with_nothing_new_says_so_and_exits_0(cli_env):
    result = CliRunner().invoke(main, ["editions", "build", "--week", W47])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"No new comparisons in {W47}."


def test_edition_build_then_edit_from_the_command_line(cli_env):
    _seed(cli_env["DIGEST_DATABASE_URL"], ("a", "2026-11-16 09:00"), ("b", "2026-11-17 09:00"))
    runner = CliRunner()
    built = runner.invoke(main, ["editions", "build", "--week", W47])
    assert built.exit_code == 0, built.output
    assert f"Edition 1 for {W47} built with 2 comparisons." in built.output
    again = runner.invoke(main, ["editions", "build", "--week", W47])
    assert f"Edition 1 for {W47} was already built." in again.output
    edited = runner.invoke(main, ["editions", "edit", "1", "--subject", "Two tools", "--order", "a", "--exclude", "b"])
    assert edited.exit_code == 0, edited.output
    assert edited.stdout.strip() == "Edition 1 updated; it shows 1 comparison."


@pytest.mark.parametrize(
    "args,complaint",
    [
        (["editions", "build", "--week", "47"], "YYYY-Www"),
        (["editions", "edit", "1"], "say what to change"),
        (["editions", "edit", "0", "--intro", "x"], "x>=1"),
        (["editions", "edit", "7", "--intro", "x"], "there is no edition 7"),
        (["editions", "edit", "1", "--order", ",,"], "comparison slugs separated by commas"),
    ],
)
def test_edition_commands_name_what_was_wrong(cli_env, args, complaint):
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 2)
    assert complaint in result.output
    assert "Traceback" not in result.output


def test_two_builds_of_the_same_week_at_once_make_one_edition(engine):
    with session_scope(engine) as session:
        comparison(session, "one", "2026-11-17 09:00")
    first = Session(engine, expire_on_commit=False)
    built_first = build_edition(first, SETTINGS, W47)  # flushed, not yet committed
    outcome = {}

    def second_build():
        with session_scope(engine) as session:
            outcome["result"] = build_edition(session, SETTINGS, W47)

    racer = threading.Thread(target=second_build)
    racer.start()
    racer.join(timeout=scaled(1))  # it waits on the first build's row
    first.commit()
    first.close()
    racer.join(timeout=scaled(30))
    assert not racer.is_alive()
    assert outcome["result"].edition.id == built_first.edition.id and not outcome["result"].created
    with session_scope(engine) as session:
        assert len(session.exec(select(Edition)).all()) == 1


def test_a_build_on_sqlite_holds_the_write_lock_from_reading_the_next_number_to_writing_it(sqlite_url):
    """Another process that commits a write between the build's read of the next number and its INSERT
    would fail the build at once ("database is locked": a deferred SQLite transaction cannot write past
    a newer commit). The build holds the write lock by then, so the other writer waits instead."""
    engine = open_store(sqlite_url)
    with session_scope(engine) as session:
        comparison(session, "alpha-vs-beta", "2026-11-17 09:00")
    other = sqlite3.connect(engine.url.database, timeout=0.1, isolation_level=None)
    other.execute("CREATE TABLE another_process (x)")
    in_between = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def another_process_writes(_connection, _cursor, statement, *_):
        if statement.startswith("INSERT INTO edition "):
            try:
                other.execute("INSERT INTO another_process VALUES (1)")
                in_between.append("written")
            except sqlite3.OperationalError as exc:
                in_between.append(str(exc))

    with session_scope(engine) as session:
        built = build_edition(session, Settings(), "2026-W47")
    assert built.edition.number == 1
    assert in_between == ["database is locked"]  # the other writer had to wait for the build
    other.execute("INSERT INTO another_process VALUES (2)")  # and can write once the build committed
    other.close()
    engine.dispose()
