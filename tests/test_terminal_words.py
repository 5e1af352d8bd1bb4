"""What a person reads (issue 24, item 12): a progress bar that draws in a terminal, a zone list of
places, and verbs that agree with their counts."""

from __future__ import annotations

import os
import warnings

from helpers import add_readers, in_terminal, two_comparisons

from digest.delivery.plan import SendPlan
from digest.settings import Settings
from digest.store import open_store
from digest.web import create_app
from digest.words import agreeing, counted
from subscribers import validation
from subscribers.errors import InvalidInput

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
from starlette.testclient import TestClient  # noqa: E402


def test_send_in_a_terminal_draws_its_progress_bar_instead_of_printing_its_control_codes(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    two_comparisons(engine, build="2026-W47")
    add_readers(engine, 40)
    engine.dispose()
    status, output = in_terminal(["editions", "send", "--yes", "--batch-size", "5"], dict(os.environ))
    assert status == 0, output
    assert "Edition 1: sent." in output
    assert "Sending" in output and "40/40" in output, output  # the bar, drawn
    assert "\\u000d" not in output and "\\u001b" not in output, output  # not its codes as text
    assert "\r" in output  # it redraws in place


def test_the_zone_list_offers_places_and_utc_never_localtime_or_factory(sqlite_url, tmp_path):
    offered = validation.zones()
    assert "Europe/Paris" in offered and "America/Argentina/Buenos_Aires" in offered and "UTC" in offered
    for alias in ("localtime", "Factory", "EST5EDT", "GMT+0", "Etc/GMT-3", "Zulu", "posixrules"):
        assert alias not in offered
    for refused in ("localtime", "Factory", "Etc/GMT-3"):
        try:
            validation.timezone(refused)
        except InvalidInput as exc:
            assert "is not an IANA time zone such as Europe/Paris" in str(exc)
        else:
            raise AssertionError(f"{refused} was accepted")
    engine = open_store(sqlite_url)
    settings = Settings(database_url=sqlite_url, outbox=tmp_path / "outbox", base_url="http://testserver")
    with TestClient(create_app(settings, engine)) as client:
        page = client.get("/").text
    engine.dispose()
    assert '<option value="Europe/Paris">' in page
    assert '<option value="localtime">' not in page and '<option value="Factory">' not in page


def test_verbs_agree_with_their_counts():
    assert (counted(1, "reader"), agreeing(1, "gets", "get")) == ("1 reader", "gets")
    assert (counted(2, "reader"), agreeing(2, "gets", "get")) == ("2 readers", "get")
    one = SendPlan(1, "2026-W47", "draft", (), (), readers=3, early=None, unmatched=1)
    assert "1 more reader chose topics that match none of its comparisons and gets no mail" in one.as_text("outbox")
