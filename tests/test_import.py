"""The importer: page exports and JSON in, the store exactly as the site shows it, all or nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import FIXTURES

from digest.cli import main
from digest.content.importer import parse_page
from digest.content.models import LENSES
from digest.store import open_store

SHARED_TOOL_PAGE = FIXTURES / "pages" / "smolvlm2-turbo-vs-pixelwright-lens.txt"
JSON_FIXTURE = FIXTURES / "comparisons.json"


def run(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every content table, for before/after comparisons."""
    engine = open_store(url)
    with engine.connect() as connection:
        tables = ["tool", "comparison", "entry", "review"]
        out = {t: sorted(map(tuple, connection.execute(sa.text(f"SELECT * FROM {t}")).all()), key=repr) for t in tables}
    engine.dispose()
    return out


def db_fingerprint(url: str) -> str:
    """Byte-for-byte for SQLite (main file, WAL checkpointed by closing); row-for-row for PostgreSQL."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        engine = open_store(url)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return hashlib.sha256(repr(snapshot(url)).encode()).hexdigest()


def test_the_shared_sample_page_is_present(sample_pages):
    assert sample_pages, "../shared/comparisons/ should hold at least one page export"


def test_a_page_reads_back_exactly(cli_env, sample_pages):
    pages = [*sample_pages, SHARED_TOOL_PAGE]
    result = run("comparisons", "import", *map(str, pages), "--published-at", "2026-11-16T10:00:00Z")
    assert result.exit_code == 0, result.output
    records = [parse_page(page.read_text(encoding="utf-8"), str(page)) for page in pages]
    # A tool is stored once: its own text (category, tagline, description) is the last page's.
    latest = {tool.slug: tool for record in records for tool in record.tools}
    for page, expected in zip(pages, records):
        text = page.read_text(encoding="utf-8")
        shown = json.loads(run("comparisons", "show", expected.slug, "--json").stdout)
        assert shown["title"] == expected.title and shown["summary"] == expected.summary
        assert shown["published_at"] == "2026-11-16T10:00:00Z"
        for tool, record in zip(shown["tools"], expected.tools):
            for field in ("name", "panel_ship", "community", "entry_price"):  # as this page showed them
                assert tool[field] == getattr(record, field)
            for field in ("category", "tagline", "description"):
                assert tool[field] == getattr(latest[record.slug], field)
        assert len(shown["reviews"]) == 2 * len(LENSES)
        for review in shown["reviews"]:
            # every quote is the page's text between the curly quotes, to the byte
            assert f"“{review['quote']}”" in text
            assert review["verdict"] == "unknown"


def test_figures_of_the_fixture_page_are_stored_as_shown(cli_env):
    assert run("comparisons", "import", str(SHARED_TOOL_PAGE)).exit_code == 0
    shown = json.loads(run("comparisons", "show", "smolvlm2-turbo-vs-pixelwright-lens", "--json").stdout)
    smol, lens = shown["tools"]
    assert (smol["panel_ship"], smol["community"], smol["entry_price"]) == (100, None, "Free")
    assert (lens["panel_ship"], lens["community"], lens["entry_price"]) == (62.5, 40, "$0.002 / image")
    assert lens["description"] == "Fixture description of a hosted vision API.\nIt spans two lines in the export."
    competition = [r for r in shown["reviews"] if r["lens"] == "competition" and r["tool"] == lens["slug"]]
    assert competition[0]["quote"] == "Competition quote about the hosted API,\ncontinued on a second line."


def test_a_tool_in_two_comparisons_is_stored_once_and_reimport_changes_nothing(cli_env, sample_pages):
    url = cli_env["DIGEST_DATABASE_URL"]
    assert run("comparisons", "import", *map(str, sample_pages), str(SHARED_TOOL_PAGE)).exit_code == 0
    before = snapshot(url)
    assert len(before["comparison"]) == 2
    assert len(before["tool"]) == 3  # SmolVLM2 Turbo is in both
    again = run("comparisons", "import", *map(str, sample_pages), str(SHARED_TOOL_PAGE))
    assert again.exit_code == 0
    assert "0 new, 0 updated, 2 unchanged" in again.output
    assert snapshot(url) == before


def test_a_changed_page_updates_the_comparison_in_place(cli_env, tmp_path):
    assert run("comparisons", "import", str(SHARED_TOOL_PAGE)).exit_code == 0
    changed = tmp_path / "changed.txt"
    changed.write_text(SHARED_TOOL_PAGE.read_text(encoding="utf-8").replace("62.5%", "70%"), encoding="utf-8")
    result = run("comparisons", "import", str(changed))
    assert "0 new, 1 updated" in result.output
    rows = json.loads(run("comparisons", "list", "--json").stdout)
    assert len(rows) == 1 and rows[0]["tools"][1]["panel_ship"] == 70


def test_json_import_carries_verdicts_and_dates(cli_env):
    cli_env_tz = "Europe/Paris"
    result = CliRunner().invoke(main, ["comparisons", "import", str(JSON_FIXTURE)], env={"DIGEST_TIMEZONE": cli_env_tz})
    assert result.exit_code == 0, result.output
    shown = json.loads(run("comparisons", "show", "relaybench-vs-quillpatch", "--json").stdout)
    assert shown["published_at"] == "2026-11-17T08:30:00Z"
    assert [(r["tool"], r["verdict"]) for r in shown["reviews"]] == [("relaybench", "ship"), ("quillpatch", "skip")]
    assert shown["tools"][1]["community"] is None


def test_week_filter_lists_only_that_week(cli_env):
    run("comparisons", "import", str(SHARED_TOOL_PAGE), "--published-at", "2026-11-16")
    run("comparisons", "import", str(JSON_FIXTURE))
    week_47 = json.loads(run("comparisons", "list", "--week", "2026-W47", "--json").stdout)
    assert {c["slug"] for c in week_47} == {"smolvlm2-turbo-vs-pixelwright-lens", "relaybench-vs-quillpatch"}
    assert json.loads(run("comparisons", "list", "--week", "2026-W48", "--json").stdout) == []
    table = run("comparisons", "list").output
    assert "SmolVLM2 Turbo vs Pixelwright Lens" in table and "100% / 62.5%" in table


def _mutate(text: str, case: str) -> str | bytes:
    lines = text.splitlines()
    if case == "missing block":  # tool B's whole block is gone
        start = lines.index("Computer Vision")
        end = lines.index("Reviewer scorecard")
        return "\n".join(lines[:start] + lines[end:])
    if case == "panel not a percentage":
        return text.replace("62.5%\nPanel ship", "sixty\nPanel ship")
    if case == "cut-off scorecard":
        return text[: text.index("“Thesis quote about the hosted")] + "“Thesis quote about the hos"
    if case == "too few quotes":
        return "\n".join(lines[: lines.index("Reviewer scorecard") + 3])
    if case == "not UTF-8":
        return text.encode("utf-8").replace(b"Fixture description of a hosted", b"Fixture \xe9 of a hosted")
    if case == "broken JSON":
        return '{"comparisons": [\n  {"title": "A vs B",\n  "summary": }\n]}'
    if case == "JSON missing a field":
        data = json.loads(JSON_FIXTURE.read_text(encoding="utf-8"))
        del data["comparisons"][0]["tools"][1]["panel_ship"]
        return json.dumps(data, indent=1)
    if case == "control character":
        return text.replace("Fixture description of a small", "Fixture \x00 of a small")
    raise AssertionError(case)


BAD = {
    "missing block": ("page", r"bad\.txt:\d+: .*(expected|ends)"),
    "panel not a percentage": (
        "page",
        r"bad\.txt:17: expected the panel ship share of Pixelwright Lens as a percentage",
    ),
    "cut-off scorecard": ("page", r"bad\.txt:\d+: the thesis quote about Pixelwright Lens opens here but never closes"),
    "too few quotes": ("page", r"bad\.txt:\d+: the file ends where the competition quote about SmolVLM2 Turbo"),
    "not UTF-8": ("page", r"bad\.txt:23: not UTF-8 text \(byte 0xe9"),
    "broken JSON": ("json", r"bad\.json:3: broken JSON"),
    "JSON missing a field": ("json", r"bad\.json: comparisons\[0\]\.tools\[1\]\.panel_ship: Field required"),
    "control character": ("page", r"bad\.txt:13: control character U\+0000"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_rejected_with_file_line_and_reason_and_nothing_is_written(cli_env, tmp_path, case):
    url = cli_env["DIGEST_DATABASE_URL"]
    assert run("comparisons", "import", str(SHARED_TOOL_PAGE)).exit_code == 0  # something already in the store
    before = db_fingerprint(url)
    kind, message = BAD[case]
    bad = tmp_path / ("bad.json" if kind == "json" else "bad.txt")
    content = _mutate(SHARED_TOOL_PAGE.read_text(encoding="utf-8"), case)
    bad.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    good_and_new = tmp_path / "good.json"  # a valid file in the same run must not be written either
    good_and_new.write_text(JSON_FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(main, ["comparisons", "import", str(good_and_new), str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert __import__("re").search(message, result.output), result.output
    assert "Traceback" not in result.output
    assert db_fingerprint(url) == before


def test_a_missing_path_and_a_bad_date_are_clear_errors(cli_env, tmp_path):
    result = CliRunner().invoke(main, ["comparisons", "import", str(tmp_path / "nope.txt")])
    assert result.exit_code == 1 and "nope.txt: no such file or folder" in result.output
    result = CliRunner().invoke(main, ["comparisons", "import", str(SHARED_TOOL_PAGE), "--published-at", "last week"])
    assert result.exit_code == 2 and "expected an ISO date" in result.output
    result = CliRunner().invoke(main, ["comparisons", "list", "--week", "2026-47"])
    assert result.exit_code == 1 and "YYYY-Www" in result.output
