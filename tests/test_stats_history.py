"""Figures that never rewrite the past and never show a fake zero (issue 24, item 10).

An edition sent through the outbox, split by variant, says its deliveries, opens, clicks, bounces and
complaints are not reported (never "sendgrid", "reported": true or "0 delivered (0%)"), and counts
each variant's votes and unsubscribes as plain `digest stats` counts the edition's. A reader who
leaves and comes back changes no figure of a past week, nor the unsubscribes of the edition they left
after: membership history is read from the consent log, which is only ever appended to.
"""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner
from helpers import add_reader, set_preferences, topical

from digest.cli import main
from digest.content.votes import record_vote
from digest.delivery import send_edition
from digest.delivery.ledger import was_mailed
from digest.editions.service import build_edition
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import operators, service
from subscribers.service import Consent
from subscribers.validation import SubscribeRequest

VOICE, EVALS = "murmurcast-vs-tidewell", "relaybench-vs-lanternops"


def sent_through_the_outbox(engine, outbox) -> dict[str, str]:
    """Edition 1 (a Voice and an Evaluation comparison) sent through the outbox to a Voice reader and an
    Evaluation reader, one variant each; returns their tokens."""
    with session_scope(engine) as session:
        topical(session, VOICE, "2026-03-18 09:00", ("Voice", "Voice"), "Murmurcast vs Tidewell")
        topical(session, EVALS, "2026-03-19 09:00", ("Evaluation", "Evaluation"), "Relaybench vs Lanternops")
        build_edition(session, Settings(), "2026-W12")
    tokens = {}
    for address, topics in (("voice@example.com", ("Voice",)), ("evals@example.com", ("Evaluation",))):
        reader, tokens[address] = add_reader(engine, address)
        set_preferences(engine, [reader], topics=topics)
    settings = Settings(database_url=str(engine.url), backend="outbox", outbox=outbox)
    assert send_edition(engine, settings, 1).sent == 2
    return tokens


def stats(*args: str) -> str:
    result = CliRunner().invoke(main, ["stats", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_by_variant_on_the_outbox_says_not_reported_and_counts_votes_and_unsubscribes(cli_env, tmp_path):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    tokens = sent_through_the_outbox(engine, tmp_path / "outbox")
    with session_scope(engine) as session:
        record_vote(session, tokens["voice@example.com"], VOICE, f"{VOICE}-left", mailed=was_mailed)
        service.unsubscribe(session, tokens["evals@example.com"], utcnow())
    engine.dispose()

    [edition] = json.loads(stats("--json"))["editions"]
    assert (edition["votes"], edition["unsubscribes"], edition["backend"]) == (1, 1, "outbox or smtp")
    variants = {tuple(v["comparisons"]): v for v in json.loads(stats("--edition", "1", "--by-variant", "--json"))}
    assert set(variants) == {(VOICE,), (EVALS,)}
    for line in variants.values():
        assert line["backend"] == "outbox or smtp" and line["reported"] is False, line
        assert line["delivered"] is None and line["delivery_rate"] is None and line["opens"] is None, line
        assert line["not_reported"] == ["delivered", "opens", "clicks", "bounces", "complaints"]
    assert (variants[(VOICE,)]["votes"], variants[(VOICE,)]["unsubscribes"]) == (1, 0)
    assert (variants[(EVALS,)]["votes"], variants[(EVALS,)]["unsubscribes"]) == (0, 1)
    assert variants[(EVALS,)]["unsubscribe_rate"] == 1.0

    text = stats("--edition", "1", "--by-variant")
    assert "0 delivered" not in text and "delivered not reported" in text, text
    assert "1 votes (100%)" in text and "1 unsubscribes (100%)" in text, text
    assert "not reported: not reported by this backend" in text, text


def test_a_reader_who_leaves_and_comes_back_changes_no_past_figure(cli_env, tmp_path):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    tokens = sent_through_the_outbox(engine, tmp_path / "outbox")  # both joined 30 days ago
    with session_scope(engine) as session:
        service.unsubscribe(session, tokens["evals@example.com"], utcnow())
    with session_scope(engine) as session:  # and an operator's unsubscribe is in the log too
        operators.unsubscribe_reader(session, "voice@example.com", utcnow())
    before = json.loads(stats("--json"))
    assert before["editions"][0]["unsubscribes"] == 2
    assert before["growth"][-1]["left"] == 2 and before["growth"][-1]["total"] == 0

    # The Evaluation reader signs up again and confirms, a little later.
    back = utcnow() + timedelta(seconds=1)
    with session_scope(engine) as session:
        service.subscribe(session, SubscribeRequest("evals@example.com"), Consent(back, "web form (POST /subscribe)"))
        service.confirm(session, tokens["evals@example.com"], None, back + timedelta(seconds=1))
    engine.dispose()
    after = json.loads(stats("--json"))
    assert after["editions"][0]["unsubscribes"] == 2  # still the two who left after edition 1
    assert after["growth"][:-1] == before["growth"][:-1]  # every past week as it was
    week = after["growth"][-1]
    assert (week["joined"], week["left"], week["total"], week["signed_up"], week["clicked"]) == (1, 2, 1, 1, 1)
    assert before["growth"][0]["joined"] == 2  # the week they first joined keeps both
