"""Editor accounts, the audit log and the approval rule, through the CLI, the send engine, the
scheduler, its status and `digest doctor`, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from helpers import add_reader, comparison, edition_status, ledger
from sqlmodel import select

from digest.cli import main
from digest.delivery import send_edition
from digest.doctor import run
from digest.editors.accounts import check_sign_in
from digest.editors.approvals import approve
from digest.editors.audit import edition_log
from digest.editors.models import AuditEntry
from digest.errors import AwaitingApproval, EditorError
from digest.jobs import run_wave, waves_status
from digest.mail.outbox import OutboxSender
from digest.settings import Settings, load_environment
from digest.store import open_store, session_scope

PASSWORD = "correct horse battery"
SLOT = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)  # Monday of W12: sends W11


def digest(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def _editors(*names: tuple[str, str]) -> None:
    for name, role in names:
        done = digest("editors", "add", name, "--role", role, "--password-stdin", input=PASSWORD + "\n")
        assert done.exit_code == 0, done.output


def _edition(engine) -> int:
    add_reader(engine, "ada@example.com")
    with session_scope(engine) as session:
        comparison(session, "w11-a-vs-b", "2026-03-11 09:00")
        comparison(session, "w11-c-vs-d", "2026-03-12 09:00")
    built = digest("editions", "build", "--week", "2026-W11", "--as", "ada")
    assert built.exit_code == 0, built.output
    return 1


def test_accounts_are_added_listed_checked_changed_and_removed(cli_env, db_url):
    _editors(("ada", "owner"), ("grace", "editor"))
    listed = digest("editors", "list")
    assert listed.output.split() == ["ada", "owner", "grace", "editor"]
    short = digest("editors", "add", "bob", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "Error: the password is 5 characters; use at least 12" in short.output
    again = digest("editors", "add", "grace", "--password-stdin", input=PASSWORD + "\n")
    assert again.exit_code == 1 and "there is an editor 'grace' already" in again.output
    bad = digest("editors", "add", "no spaces", "--password-stdin", input=PASSWORD + "\n")
    assert bad.exit_code == 1 and "is not a usable editor name" in bad.output
    no_terminal = digest("editors", "add", "bob")
    assert no_terminal.exit_code == 2 and "--password-stdin" in no_terminal.output
    engine = open_store(db_url)
    try:
        with session_scope(engine) as session:
            assert check_sign_in(session, "grace", PASSWORD).role == "editor"
            assert check_sign_in(session, "grace", "wrong password!") is None
            assert check_sign_in(session, "nobody", PASSWORD) is None
        assert digest("editors", "password", "grace", "--password-stdin", input="another long secret\n").exit_code == 0
        with session_scope(engine) as session:
            assert check_sign_in(session, "grace", PASSWORD) is None
            assert check_sign_in(session, "grace", "another long secret").name == "grace"
        last = digest("editors", "remove", "ada")
        assert last.exit_code == 1 and "ada is the last owner" in last.output
        assert digest("editors", "remove", "grace").exit_code == 0
        assert digest("editors", "list").output.split() == ["ada", "owner"]
        with session_scope(engine) as session:
            entries = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.action, e.detail) for e in entries] == [
            ("account-add", "ada (owner)"),
            ("account-add", "grace (editor)"),
            ("account-password", "grace"),
            ("account-remove", "grace"),
        ]
    finally:
        engine.dispose()


def test_without_approvals_needed_an_edition_goes_out_as_before(cli_env, db_url):
    engine = open_store(db_url)
    try:
        number = _edition(engine)
        sent = digest("editions", "send", "--edition", str(number), "--yes")
        assert sent.exit_code == 0, sent.output
        assert edition_status(engine, number) == "sent"
    finally:
        engine.dispose()


def test_the_cli_refuses_an_unapproved_edition_in_one_line_until_another_editor_approves(cli_env, db_url, monkeypatch):
    monkeypatch.setenv("DIGEST_APPROVALS", "1")
    _editors(("ada", "owner"), ("grace", "editor"))
    engine = open_store(db_url)
    try:
        number = _edition(engine)  # built by ada
        refused = digest("editions", "send", "--edition", str(number), "--yes")
        assert refused.exit_code == 1
        [line] = [line for line in refused.output.splitlines() if line.startswith("Error:")]
        assert line == (
            "Error: edition 1 waits for approval: it needs 1 approval (has none) from editors other than ada, "
            "who changed it last; approve it on the desk (/desk) or with `digest editions approve 1 --as NAME`"
        )
        assert ledger(engine, number) == {} and edition_status(engine, number) == "draft"
        self_approval = digest("editions", "approve", "1", "--as", "ada")
        assert (
            self_approval.exit_code == 1 and "ada changed edition 1 last, so cannot approve it" in self_approval.output
        )
        stranger = digest("editions", "approve", "1", "--as", "mallory")
        assert stranger.exit_code == 1 and "there is no editor 'mallory'" in stranger.output
        assert (
            "grace approved edition 1 (approvals: 1 of 1)" in digest("editions", "approve", "1", "--as", "grace").output
        )
        twice = digest("editions", "approve", "1", "--as", "grace")
        assert twice.exit_code == 1 and "approved edition 1 already" in twice.output
        # A change after the approval withdraws it; the one who changed it cannot approve it again.
        assert digest("editions", "edit", "1", "--subject", "New subject", "--as", "grace").exit_code == 0
        withdrawn = digest("editions", "send", "--edition", "1", "--yes")
        assert withdrawn.exit_code == 1 and "other than grace, who changed it last" in withdrawn.output
        assert digest("editions", "approve", "1", "--as", "grace").exit_code == 1
        assert digest("editions", "approve", "1", "--as", "ada").exit_code == 0
        sent = digest("editions", "send", "--edition", "1", "--yes", "--as", "ada")
        assert sent.exit_code == 0, sent.output
        assert list(ledger(engine, number).values()) == ["sent"]
        shown = digest("editions", "show", "1", "--log")
        log = shown.output.split("Log:\n", 1)[1].splitlines()
        assert [line.split()[3:5] for line in log] == [
            ["ada", "build"],
            ["grace", "approve"],
            ["grace", "edit:"],
            ["ada", "approve"],
            ["ada", "send:"],
        ]
        assert "withdrew the approval of grace" in log[2] and log[4].endswith("send: 1 reader")
    finally:
        engine.dispose()


def test_the_engine_and_the_scheduler_hold_an_unapproved_edition_and_say_so(cli_env, db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DIGEST_APPROVALS", "2")
    _editors(("ada", "owner"), ("grace", "editor"), ("linus", "editor"))
    settings = Settings.from_env(load_environment(None))
    engine = open_store(db_url)
    try:
        number = _edition(engine)
        with pytest.raises(AwaitingApproval, match="needs 2 approvals"):
            send_edition(engine, settings, number)
        held = run_wave(engine, settings, SLOT, ("UTC",), sender=OutboxSender(tmp_path / "outbox"))
        assert held.status == "unfinished" and "edition 1 waits for approval" in held.detail
        assert ledger(engine, number) == {}
        status = waves_status(engine, settings, SLOT)
        assert status.waiting_for is not None and "needs 2 approvals (has none)" in status.waiting_for
        [check] = [c for c in run(load_environment(None), now=SLOT) if c.name == "approvals"]
        assert not check.ok and "needs 2 approvals" in check.detail
        with session_scope(engine) as session:
            approve(session, settings, number, "grace")
            with pytest.raises(EditorError, match="changed edition 1 last"):
                approve(session, settings, number, "ada")
        assert "has 1: grace" in run_wave(engine, settings, SLOT, ("UTC",)).detail
        with session_scope(engine) as session:
            approve(session, settings, number, "linus")
        [check] = [c for c in run(load_environment(None), now=SLOT) if c.name == "approvals"]
        assert check.ok
        done = run_wave(engine, settings, SLOT, ("UTC",), sender=OutboxSender(tmp_path / "outbox"))
        assert done.status == "done", done
        assert list(ledger(engine, number).values()) == ["sent"]
        with session_scope(engine) as session:
            log = [(e.actor, e.action, e.detail) for e in edition_log(session, number)]
        assert log[-1] == ("scheduler", "send", "first wave UTC") and log[-3:-1] == [
            ("grace", "approve", ""),
            ("linus", "approve", ""),
        ]
    finally:
        engine.dispose()


def test_readers_unsubscribed_or_suppressed_on_the_command_line_are_in_the_audit_log(cli_env, db_url):
    engine = open_store(db_url)
    try:
        reader_id, _ = add_reader(engine, "ada@example.com")
        assert digest("subscribers", "unsubscribe", "ada@example.com").exit_code == 0
        assert digest("subscribers", "unsubscribe", "ada@example.com").exit_code == 0  # no change: no entry
        assert digest("subscribers", "suppress", "ada@example.com").exit_code == 0
        with session_scope(engine) as session:
            entries = session.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.actor.startswith("shell:"), e.action, e.detail) for e in entries] == [
            (True, "reader-unsubscribe", f"reader #{reader_id}"),
            (True, "reader-suppress", f"reader #{reader_id}"),
        ]
    finally:
        engine.dispose()
