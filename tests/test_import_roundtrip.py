"""Export, then import, is a round trip (issue 24, item 7).

Readers made through the real service (a form sign-up with topics and a zone, confirmed; one pending,
their confirmation mail sent; one who left and came back; one who left) are exported from one store
and imported into a new one, as when moving to another box (SQLite or PostgreSQL, each to a new
store of the same kind). Each keeps their token (the links in mail already sent open the same
reader's pages), status, topics, zone, cadence and its day, consent record and consent log; nobody is mailed a new
confirmation; the growth figures, replayed from the consent log, come out the same; `--confirmed`
changes none of it. A file from another tool saying pending stays pending under `--confirmed`.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta

import pytest
from click.testing import CliRunner
from helpers import tool

from digest.cli import main
from digest.delivery.confirmations import send_pending
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from digest.web import create_app
from subscribers import consent, operators, service
from subscribers.service import Consent
from subscribers.tokens import ConfirmationTokens
from subscribers.validation import SubscribeRequest

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
from starlette.testclient import TestClient  # noqa: E402

SECRET = "a-secret-key-of-at-least-thirty-two-characters"
FORM = "web form (POST /subscribe)"


@pytest.fixture
def new_store_url(request, db_url, tmp_path) -> str:
    """A store that does not exist yet, of the same kind as db_url's: where the readers move to."""
    if request.node.callspec.params["db_url"] == "sqlite":
        return f"sqlite:///{tmp_path / 'moved.db'}"
    return request.getfixturevalue("empty_pg_url")


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def readers_as_they_were(engine, tmp_path) -> None:
    start = utcnow() - timedelta(days=40)
    with session_scope(engine) as session:
        tool(session, "voice-tool", category="Voice")
        tool(session, "code-tool", category="Code Assistants")

    def at(days: float):
        return start + timedelta(days=days)

    def signup(email, days, topics=(), zone=None, cadence="weekly"):
        with session_scope(engine) as session:
            request = SubscribeRequest(email, topics, zone, cadence)
            service.subscribe(session, request, Consent(at(days), FORM, "198.51.100.7"))
            return service.by_email(session, email).token

    def confirm(token, days):
        with session_scope(engine) as session:
            service.confirm(session, token, "198.51.100.8", at(days))

    def leave(token, days):
        with session_scope(engine) as session:
            service.unsubscribe(session, token, at(days))

    ada = signup("ada@example.com", 0, ("Voice",), "Asia/Tokyo", "monthly")
    confirm(ada, 0.1)
    cy = signup("cy@example.com", 1, ("Code Assistants",))
    confirm(cy, 1.1)
    leave(cy, 10)
    signup("cy@example.com", 20, ("Code Assistants", "Voice"), "Europe/Paris", "fortnightly")  # comes back
    confirm(cy, 20.1)
    dee = signup("dee@example.com", 2)
    confirm(dee, 2.1)
    leave(dee, 15)
    signup("bob@example.com", 30)  # never confirms: pending, their confirmation mail sent
    settings = Settings(database_url=str(engine.url), outbox=tmp_path / "outbox", secret_key=SECRET)
    assert send_pending(engine, settings) == 1


def everything(engine) -> dict[str, tuple[dict, list[dict]]]:
    """address -> (the reader as stored, id aside; their consent log)."""
    with session_scope(engine) as session:
        out = {}
        for reader in operators.all_readers(session):
            record = operators.reader_record(reader)
            out[record["email"]] = (
                {k: v for k, v in record.items() if k != "id"},
                consent.history(session.connection(), record["id"]),
            )
        return out


def mails(tmp_path) -> int:
    return len(list((tmp_path / "outbox").glob("*.eml")))


@pytest.mark.parametrize("confirmed", [False, True], ids=["plain", "confirmed"])
def test_digests_own_export_imports_into_a_new_store_as_it_was(
    cli_env, new_store_url, tmp_path, monkeypatch, confirmed
):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    readers_as_they_were(engine, tmp_path)
    before = everything(engine)
    engine.dispose()
    assert {email: r["status"] for email, (r, _) in before.items()} == {
        "ada@example.com": "active",
        "cy@example.com": "active",
        "dee@example.com": "unsubscribed",
        "bob@example.com": "pending",
    }
    assert len(before["cy@example.com"][1]) == 5  # in, confirmed, out, in again, confirmed again
    assert before["ada@example.com"][0]["cadence"] == "monthly" and before["ada@example.com"][0]["cadence_since"]
    assert before["cy@example.com"][0]["cadence"] == "fortnightly"
    growth = json.loads(run("stats", "--json").stdout)["growth"]
    exported = tmp_path / "readers.csv"
    run("subscribers", "export", "--output", str(exported))
    mailed = mails(tmp_path)

    monkeypatch.setenv("DIGEST_DATABASE_URL", new_store_url)
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    imported = run("subscribers", "import", str(exported), *(["--confirmed"] if confirmed else []))
    assert "Imported 4 readers from readers.csv, digest's own export" in imported.output, imported.output
    assert mails(tmp_path) == mailed  # no new confirmation mail, to anyone
    moved = open_store(new_store_url)
    try:
        assert everything(moved) == before  # tokens, statuses, topics, zones, consent records and logs
        assert json.loads(run("stats", "--json").stdout)["growth"] == growth

        # Links in mail already sent open the same reader's pages in the new store.
        settings = Settings(database_url=new_store_url, secret_key=SECRET, base_url="http://testserver")
        with TestClient(create_app(settings, moved)) as client:
            ada = before["ada@example.com"][0]["token"]
            page = client.get(f"/preferences/{ada}")
            assert page.status_code == 200 and "ada@example.com" in page.text
            assert client.get(f"/unsubscribe/{ada}").status_code == 200
            bob = before["bob@example.com"][0]["token"]
            confirmation = client.get(f"/confirm/{ConfirmationTokens(SECRET).make(bob)}")
            assert confirmation.status_code == 200, confirmation.text
    finally:
        moved.dispose()


def test_importing_the_export_again_over_itself_changes_nobody(cli_env, tmp_path):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    readers_as_they_were(engine, tmp_path)
    before = everything(engine)
    exported = tmp_path / "readers.csv"
    run("subscribers", "export", "--output", str(exported))
    again = run("subscribers", "import", str(exported), "--confirmed")
    assert "4 already on the list, left as they were" in again.output
    assert everything(engine) == before
    engine.dispose()


def test_a_row_of_the_export_that_is_not_as_digest_wrote_it_is_refused_by_line(cli_env, tmp_path):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    readers_as_they_were(engine, tmp_path)
    exported = tmp_path / "readers.csv"
    run("subscribers", "export", "--output", str(exported))
    with session_scope(engine) as session:
        for email in ("ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"):
            operators.delete_reader(session, email, utcnow())
    engine.dispose()
    lines = exported.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",active,", ",activ,")
    lines[2] = lines[2].replace(lines[2].split(",")[5], "short-token")
    exported.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = CliRunner().invoke(main, ["subscribers", "import", str(exported), "--allow-deleted"])
    assert refused.exit_code == 1
    assert "readers.csv:2: status: 'activ' is not a reader status" in refused.output, refused.output
    assert "readers.csv:3: token: is not a reader token digest made" in refused.output, refused.output


def test_pending_rows_from_another_tool_stay_pending_under_confirmed(cli_env, tmp_path):
    path = tmp_path / "listmonk.csv"
    path.write_text(
        "email,name,status\n"
        "ann@example.com,Ann,subscribed\n"
        "bot@example.com,x,unconfirmed\n"
        "ben@example.com,Ben,pending\n",
        encoding="utf-8",
    )
    result = run("subscribers", "import", str(path), "--confirmed")
    assert "Imported 3 readers (active)" in result.output
    assert "2 left pending (pending or unconfirmed in the file)" in result.output, result.output
    assert "Confirmation mails are queued" in result.output  # --confirmed checked no identity: not sent now
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    stored = {email: r["status"] for email, (r, _) in everything(engine).items()}
    engine.dispose()
    assert stored == {"ann@example.com": "active", "bot@example.com": "pending", "ben@example.com": "pending"}
