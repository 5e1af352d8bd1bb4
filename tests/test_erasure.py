"""Erasing a reader erases what the provider told us about them too."""

from __future__ import annotations

from click.testing import CliRunner
from sqlmodel import Session, select

from digest.cli import main
from digest.events.models import Event
from digest.store import open_store
from digest.timeutil import utcnow


def test_deleting_a_reader_anonymizes_their_provider_events(cli_env):
    runner = CliRunner()
    assert runner.invoke(main, ["subscribers", "add", "ada@example.com", "--confirmed"]).exit_code == 0
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with Session(engine) as session:
        session.add(
            Event(
                sg_event_id="e1",
                event="open",
                email="ada@example.com",
                reader_id=1,
                edition_number=1,
                occurred_at=utcnow(),
                raw={"email": "ada@example.com"},
            )
        )
        session.add(
            Event(
                sg_event_id="e2",
                event="open",
                email="bob@example.com",
                reader_id=2,
                edition_number=1,
                occurred_at=utcnow(),
                raw={"email": "bob@example.com"},
            )
        )
        session.commit()
    result = runner.invoke(main, ["subscribers", "delete", "ada@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        events = {e.sg_event_id: e for e in session.exec(select(Event)).all()}
    engine.dispose()
    assert "ada@example.com" not in repr((events["e1"].email, events["e1"].raw))
    assert events["e1"].email.startswith("sha256:") and events["e1"].reader_id is None
    assert events["e2"].email == "bob@example.com"  # nobody else's events are touched
