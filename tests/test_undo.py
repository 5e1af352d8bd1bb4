"""Seeing and undoing without a database shell: editions show who got it, a draft deleted, a comparison removed
(refused once sent), a reader unsubscribed or suppressed with their record kept, --order refusing a left-out one."""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import add_reader, add_readers, comparison, in_terminal, ledger
from sqlmodel import select

from digest.cli import main
from digest.content.models import Comparison, Entry, Review, Tool, Vote
from digest.content.votes import record_vote
from digest.delivery import send_edition
from digest.editions.models import Edition, EditionItem
from digest.editions.service import build_edition, edit_edition, edition_comparisons, get_edition
from digest.errors import EditionError
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import audience, service, status
from subscribers.models import Subscriber
from subscribers.validation import SubscribeRequest

W47 = "2026-W47"
SETTINGS = Settings()


def _draft(engine, *slugs: str, shared_tool: bool = False) -> int:
    with session_scope(engine) as session:
        for day, slug in enumerate(slugs, start=16):
            left = "shared-tool" if shared_tool else None
            comparison(session, slug, f"2026-11-{day} 09:00", left=left)
        return build_edition(session, SETTINGS, W47).edition.number


def _mark(engine, number: int, status_: str) -> None:
    table = Edition.__table__
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.number == number).values(status=status_))


def _count(engine, model, *where) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(model.__table__).where(*where)).scalar()


# --- editions show: who got it ---------------------------------------------------------------------------


def test_editions_show_lists_order_what_is_left_out_status_and_who_got_it(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, 3)
    number = _draft(engine, "a-vs-b", "c-vs-d")
    with session_scope(engine) as session:
        edit_edition(session, number, exclude=["a-vs-b"])
    send_edition(engine, Settings(database_url=cli_env["DIGEST_DATABASE_URL"], outbox=cli_env["DIGEST_OUTBOX"]), number)
    shown = CliRunner().invoke(main, ["editions", "show", str(number), "--readers", "2"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Edition {number} ({W47}): sent" and lines[1].startswith("Sent:     ")
    assert "   1. c-vs-d" in shown.output and "   2. a-vs-b   (left out)" in shown.output
    assert "Readers:  3 sent, 0 failed" in shown.output.replace("0 claimed, ", "")
    listed = [line.split() for line in lines if line.strip().startswith("reader")]
    assert [row[:2] for row in listed] == [["reader1@example.com", "sent"], ["reader2@example.com", "sent"]]
    assert "... 1 more (--readers 3 lists them all)" in shown.output
    data = json.loads(CliRunner().invoke(main, ["editions", "show", str(number), "--readers", "5", "--json"]).stdout)
    assert [r["email"] for r in data["ledger"]] == ["reader1@example.com", "reader2@example.com", "reader3@example.com"]
    assert [(c["slug"], c["included"]) for c in data["comparisons"]] == [("c-vs-d", True), ("a-vs-b", False)]
    engine.dispose()


# --- --order and what is left out -------------------------------------------------------------------------


def test_order_refuses_a_left_out_comparison_unless_it_is_put_back_in_the_same_command(engine):
    number = _draft(engine, "a-vs-b", "c-vs-d", "e-vs-f")  # order: e, c, a
    with session_scope(engine) as session:
        edit_edition(session, number, exclude=["a-vs-b"])
    with pytest.raises(EditionError, match="--order names a-vs-b, left out of edition 1; put it back with --include"):
        with session_scope(engine) as session:
            edit_edition(session, number, order=["a-vs-b", "c-vs-d"], intro="not kept")
    with session_scope(engine) as session:
        edition = get_edition(session, number=number)
        assert edition.intro is None
        assert [c.slug for c in edition_comparisons(session, edition)] == ["e-vs-f", "c-vs-d"]
        edit_edition(session, number, include=["a-vs-b"], order=["a-vs-b"])
        assert [c.slug for c in edition_comparisons(session, edition)] == ["a-vs-b", "e-vs-f", "c-vs-d"]


def test_order_of_a_left_out_comparison_from_the_command_line(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    _draft(engine, "a-vs-b", "c-vs-d")
    engine.dispose()
    refused = CliRunner().invoke(main, ["editions", "edit", "1", "--exclude", "a-vs-b", "--order", "a-vs-b"])
    assert refused.exit_code == 1 and "left out of edition 1" in refused.output


# --- deleting a draft ---------------------------------------------------------------------------------------


def test_a_draft_is_deleted_and_its_comparisons_can_be_built_again(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = _draft(engine, "a-vs-b", "c-vs-d")
    deleted = CliRunner().invoke(main, ["editions", "delete", str(number), "--yes"])
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.strip() == (
        f"Deleted draft edition 1 for {W47}; its 2 comparisons can be built again (digest editions build --week {W47})."
    )
    assert _count(engine, Edition) == 0 and _count(engine, EditionItem) == 0
    rebuilt = CliRunner().invoke(main, ["editions", "build", "--week", W47])
    assert f"Edition 1 for {W47} built with 2 comparisons." in rebuilt.output
    engine.dispose()


@pytest.mark.parametrize("state", ["sending", "paused", "sent"])
def test_an_edition_that_began_going_out_is_not_deleted(cli_env, state):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = _draft(engine, "a-vs-b")
    _mark(engine, number, state)
    refused = CliRunner().invoke(main, ["editions", "delete", str(number), "--yes"])
    assert refused.exit_code == 1
    assert f"edition 1 is {state}: it has begun going out, so it stays" in refused.output
    assert _count(engine, Edition) == 1 and _count(engine, EditionItem) == 1
    missing = CliRunner().invoke(main, ["editions", "delete", "9", "--yes"])
    assert missing.exit_code == 1 and "there is no edition 9" in missing.output
    engine.dispose()


def test_delete_asks_in_a_terminal(sqlite_url, cli_env, monkeypatch):
    monkeypatch.setenv("DIGEST_DATABASE_URL", sqlite_url)
    engine = open_store(sqlite_url)
    _draft(engine, "a-vs-b")
    status_, output = in_terminal(["editions", "delete", "1"], dict(os.environ), answer="n")
    assert status_ == 1 and "Delete draft edition 1? [y/N]:" in output and "Aborted" in output
    assert _count(engine, Edition) == 1
    engine.dispose()


# --- removing a comparison ------------------------------------------------------------------------------


def test_a_comparison_imported_by_mistake_is_removed_with_its_reviews_votes_and_lone_tools(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = _draft(engine, "mistake-vs-oops", "keep-vs-this", shared_tool=True)
    _, token = add_reader(engine, "ada@example.com")
    with session_scope(engine) as session:
        record_vote(session, token, "mistake-vs-oops", "shared-tool", mailed=lambda *_: True)  # as if mailed
    removed = CliRunner().invoke(main, ["comparisons", "remove", "mistake-vs-oops", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert "Removed mistake-vs-oops (" in removed.output
    assert f"Taken out of draft edition {number}." in removed.output
    assert "Removed the tools no other comparison has: mistake-vs-oops-right." in removed.output
    with session_scope(engine) as session:
        assert session.exec(select(Comparison.slug)).all() == ["keep-vs-this"]
        assert [c.slug for c in edition_comparisons(session, get_edition(session, number=number))] == ["keep-vs-this"]
        assert sorted(session.exec(select(Tool.slug)).all()) == ["keep-vs-this-right", "shared-tool"]
    assert _count(engine, Vote) == 0 and _count(engine, Entry) == 2 and _count(engine, Review) == 4
    again = CliRunner().invoke(main, ["comparisons", "remove", "mistake-vs-oops", "--yes"])
    assert again.exit_code == 1 and "no comparison with the slug 'mistake-vs-oops'" in again.output
    emptied = CliRunner().invoke(main, ["comparisons", "remove", "keep-vs-this", "--yes"])
    assert (
        f"Draft edition {number} now holds no comparison: delete it with digest editions delete {number}."
        in emptied.output
    )
    engine.dispose()


def test_a_comparison_that_went_out_is_not_removed_and_says_why(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = _draft(engine, "sent-vs-out", "left-vs-aside")
    with session_scope(engine) as session:
        edit_edition(session, number, exclude=["left-vs-aside"])
    _mark(engine, number, "sent")
    refused = CliRunner().invoke(main, ["comparisons", "remove", "sent-vs-out", "--yes"])
    assert refused.exit_code == 1
    assert "sent-vs-out went out in edition 1: readers have it and the archive shows it, so it stays" in refused.output
    assert _count(engine, Comparison) == 2 and _count(engine, EditionItem) == 2
    left_aside = CliRunner().invoke(main, ["comparisons", "remove", "left-vs-aside", "--yes"])  # never went out
    assert left_aside.exit_code == 0, left_aside.output
    assert _count(engine, Comparison) == 1 and _count(engine, EditionItem) == 1
    engine.dispose()


# --- unsubscribe and suppress, keeping the record --------------------------------------------------------


def _reader(engine, email: str) -> dict:
    table = Subscriber.__table__
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(table).where(table.c.email == email)).mappings().one())


def test_an_operator_unsubscribes_a_reader_who_keeps_their_record_and_may_come_back(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_reader(engine, "ada@example.com")
    before = _reader(engine, "ada@example.com")
    done = CliRunner().invoke(main, ["subscribers", "unsubscribe", "Ada@Example.com"])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "Unsubscribed ada@example.com; they get no more mail."
    after = _reader(engine, "ada@example.com")
    assert after["status"] == status.UNSUBSCRIBED and after["unsubscribed_at"] is not None
    assert (after["token"], after["consent_at"], after["confirmed_at"]) == (
        before["token"],
        before["consent_at"],
        before["confirmed_at"],
    )
    again = CliRunner().invoke(main, ["subscribers", "unsubscribe", "ada@example.com"])
    assert again.stdout.strip() == "ada@example.com was already unsubscribed; nothing changed."
    with session_scope(engine) as session:  # a new sign-up, with its double opt-in, brings them back
        outcome = service.subscribe(
            session, SubscribeRequest(email="ada@example.com"), service.Consent(at=utcnow(), source="test")
        )
    assert outcome.name == "REOPEN" and _reader(engine, "ada@example.com")["status"] == status.PENDING
    missing = CliRunner().invoke(main, ["subscribers", "unsubscribe", "nobody@example.com"])
    assert missing.exit_code == 1 and "no reader has the address nobody@example.com" in missing.output
    engine.dispose()


def test_a_suppressed_address_gets_nothing_again_and_a_sign_up_does_not_bring_it_back(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, 3)
    add_readers(engine, 1, first=4, status="bounced")
    number = _draft(engine, "a-vs-b")
    started = utcnow()
    done = CliRunner().invoke(main, ["subscribers", "suppress", "reader2@example.com"])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "Suppressed reader2@example.com: no mail of any kind goes there again."
    assert _reader(engine, "reader2@example.com")["status"] == status.SUPPRESSED
    with engine.connect() as connection:  # a send under way skips them from its next batch
        assert connection.execute(audience.stopped_since(started, 0)).scalars().all() == [2]
    with session_scope(engine) as session:
        outcome = service.subscribe(
            session, SubscribeRequest(email="reader2@example.com"), service.Consent(at=utcnow(), source="web form")
        )
    assert outcome.name == "NOTHING" and _reader(engine, "reader2@example.com")["status"] == status.SUPPRESSED
    bounced = CliRunner().invoke(main, ["subscribers", "suppress", "reader4@example.com"])
    assert bounced.stdout.strip() == "reader4@example.com was already bounced; nothing changed."
    send_edition(engine, Settings(database_url=cli_env["DIGEST_DATABASE_URL"], outbox=cli_env["DIGEST_OUTBOX"]), number)
    assert sorted(ledger(engine, number)) == [1, 3]
    listed = CliRunner().invoke(main, ["subscribers", "list", "--status", "suppressed"])
    assert "reader2@example.com" in listed.output and "reader1@example.com" not in listed.output
    engine.dispose()
