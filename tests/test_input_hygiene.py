"""Input hygiene (issue 12, item 7): imported text is checked after decoding, the same on SQLite and
PostgreSQL; lengths are limited; an oversized file is refused before it is read; the CLI never
passes control characters to a terminal; CSV exports cannot run as spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import sys

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import comparison, digest_env, scaled, start_process

from digest.cli import main
from digest.content.models import Comparison, Tool
from digest.store import open_store, session_scope
from subscribers.models import Subscriber


def cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def a_comparison(**changes) -> dict:
    tools = [
        {
            "name": "Relaybench",
            "category": "Evaluation",
            "tagline": "Tests for prompts",
            "description": "Runs your prompts.",
            "panel_ship": 75,
            "community": None,
            "entry_price": "Free",
        },
        {
            "name": "Quillpatch",
            "category": "Agents",
            "tagline": "Agents",
            "description": "Builds agents.",
            "panel_ship": 50,
            "entry_price": "Paid",
        },
    ]
    item = {
        "title": "Relaybench vs Quillpatch",
        "summary": "Which ships?",
        "tools": tools,
        "reviews": [{"tool": "Relaybench", "lens": "builder", "quote": "Ship it.", "verdict": "ship"}],
    }
    for path, value in changes.items():  # "tools.1.name" -> item["tools"][1]["name"]
        *parents, last = path.split(".")
        target = item
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return item


def comparisons_stored(cli_env) -> int:
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(Comparison)).scalar_one()
    engine.dispose()
    return count


@pytest.mark.parametrize(
    "field, value, words",
    [
        (
            "tools.1.name",
            "Quill\u0000patch",
            "comparisons[0].tools[1].name: contains the control character U+0000 (NUL)",
        ),
        ("title", "\u001b]0;owned\u0007A vs B", "comparisons[0].title: contains the control character U+001B (ESC)"),
        (
            "reviews.0.quote",
            "Ship\u0007 it.",
            "comparisons[0].reviews[0].quote: contains the control character U+0007 (BEL)",
        ),
        ("tools.0.category", "Eval\ruation", "comparisons[0].tools[0].category: contains a line break U+000D"),
        ("summary", "\ud800", "comparisons[0].summary: Input should be a valid string, unable to parse raw data"),
        ("title", "T" * 301, "comparisons[0].title: String should have at most 300 characters"),
        ("tools.0.description", "d" * 10_001, "comparisons[0].tools[0].description: String should have at most 10000"),
    ],
)
def test_imported_json_is_checked_after_decoding_and_refused_with_file_and_path(cli_env, tmp_path, field, value, words):
    path = tmp_path / "week.json"
    path.write_text(json.dumps({"comparisons": [a_comparison(**{field: value})]}), encoding="utf-8")
    assert "\\" in path.read_text() or len(value) > 300  # the control character is a JSON escape in the file
    result = cli("comparisons", "import", str(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}: {words}"), result.output
    assert comparisons_stored(cli_env) == 0


def test_line_breaks_are_kept_in_multi_line_fields(cli_env, tmp_path):
    path = tmp_path / "week.json"
    path.write_text(json.dumps({"comparisons": [a_comparison(**{"tools.0.description": "One.\r\nTwo.\tThree."})]}))
    assert cli("comparisons", "import", str(path)).exit_code == 0
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with engine.connect() as connection:
        assert (
            connection.execute(sa.select(Tool.description).where(Tool.slug == "relaybench")).scalar_one()
            == "One.\nTwo.\tThree."
        )
    engine.dispose()


def test_a_page_export_with_a_name_longer_than_the_store_keeps_is_refused_by_field(cli_env, tmp_path):
    name = "A" * 201
    page = (
        f"{name} vs Quillpatch\nWhich ships?\nEvaluation\n{name}\nTagline\n75%\nPanel ship\n—\nCommunity\nFree\n"
        "Entry\nDescription.\nAgents\nQuillpatch\nTagline\n50%\nPanel ship\n—\nCommunity\nPaid\nEntry\n"
        "Description.\nReviewer scorecard\n" + "\n".join(f"“Quote {i}.”" for i in range(8)) + "\n"
    )
    path = tmp_path / "long.txt"
    path.write_text(page, encoding="utf-8")
    result = cli("comparisons", "import", str(path))
    assert result.exit_code == 1 and "tools[0].name: is 201 characters long; at most 200 are allowed" in result.output
    assert comparisons_stored(cli_env) == 0


@pytest.mark.parametrize("command", [["comparisons", "import"], ["subscribers", "import"]])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(cli_env, tmp_path, command):
    path = tmp_path / ("huge.json" if command[0] == "comparisons" else "huge.csv")
    with path.open("wb") as stream:
        stream.truncate(64 * 1024**3)  # 64 GB, sparse: reading it would take minutes and all the memory
    result = CliRunner().invoke(main, [*command, str(path)])
    assert result.exit_code == 1 and "68,719,476,736 bytes; the limit is" in result.output, result.output


def test_nothing_the_cli_prints_passes_control_characters_to_the_terminal(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    hostile = "\x1b]0;owned\x07Evil\x1b[2J\r\u202e"
    with session_scope(engine) as session:
        comparison(session, "evil-vs-good", "2026-11-18 09:00", title=f"{hostile} vs Good")
    with engine.begin() as connection:
        connection.execute(
            sa.insert(Subscriber.__table__).values(
                email="ada@example.com",
                status="active",
                topics=[f"T{hostile}"],
                token="t" * 40,
                created_at=sa.func.now(),
                updated_at=sa.func.now(),
                consent_source=hostile,
            )
        )
    engine.dispose()
    outputs = [
        cli("comparisons", "list").output,
        cli("comparisons", "show", "evil-vs-good").output,
        cli("subscribers", "list").output,
        cli("subscribers", "show", "ada@example.com").output,
    ]
    for output in outputs:
        assert not any(ch in output for ch in "\x1b\x07\r\u202e"), output
        assert "\\u001b]0;owned\\u0007Evil" in output and "\\u000d\\u202e" in output  # shown, not run
    as_json = cli("comparisons", "list", "--json").output
    assert not any(ch in as_json for ch in "\x1b\x07\r\u202e")
    assert json.loads(as_json)[0]["title"].startswith(hostile)  # JSON stays JSON, and says the same


def test_on_a_real_terminal_only_colour_codes_pass(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with session_scope(engine) as session:
        comparison(session, "evil-vs-good", "2026-11-18 09:00", title="\x1b]0;owned\x07Evil\x1b[2J vs Good")
    engine.dispose()
    leader, follower = pty.openpty()
    process = start_process(
        [sys.executable, "-m", "digest", "comparisons", "show", "evil-vs-good"],
        env=digest_env(**cli_env),
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        seen += chunk
    process.wait(timeout=scaled(60))
    os.close(leader)
    assert process.returncode == 0, seen
    assert b"\x1b[1m" in seen  # click's bold title: a colour code passes
    assert b"\x1b]" not in seen and b"\x07" not in seen and b"\x1b[2J" not in seen
    assert b"\\u001b]0;owned\\u0007Evil\\u001b[2J" in seen


FORMULAS = ["=1+2@example.com", "+44@example.com", "-x@example.com", "'=quoted@example.com", "ada@example.com"]


def test_a_csv_export_neutralises_formula_cells_and_imports_back_as_it_was(cli_env, tmp_path):
    for email in FORMULAS:
        assert (
            cli("subscribers", "add", "--confirmed", "--source", '=HYPERLINK("http://x")', "--", email).exit_code == 0
        )
    export = tmp_path / "readers.csv"
    assert cli("subscribers", "export", "--output", str(export)).exit_code == 0
    rows = list(csv.reader(io.StringIO(export.read_text())))
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)
    emails = [row[1] for row in rows[1:]]
    assert emails == [
        "'=1+2@example.com",
        "'+44@example.com",
        "'-x@example.com",
        "''=quoted@example.com",
        "ada@example.com",
    ]
    assert all(row[10].startswith("'=HYPERLINK") for row in rows[1:])  # consent_source
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM consent_event"))
        connection.execute(sa.delete(Subscriber.__table__))
    result = cli("subscribers", "import", str(export), "--confirmed")
    assert result.exit_code == 0, result.output
    with engine.connect() as connection:
        assert sorted(connection.execute(sa.select(Subscriber.__table__.c.email)).scalars()) == sorted(FORMULAS)
    engine.dispose()
