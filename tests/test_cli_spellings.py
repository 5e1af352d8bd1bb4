"""The CLI of nouns, and the spellings of earlier versions that scripts may still use.

Each old spelling runs the same command as its new one, is hidden from --help,
and says once on stderr what it is called now; stdout is untouched, so a script
that parses it (say, `digest send --json`) keeps working.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from digest.cli import COMMANDS, OLD_SPELLINGS, main

PAGE = FIXTURES / "pages" / "smolvlm2-turbo-vs-pixelwright-lens.txt"
WEEK = "2026-W47"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_lists_the_nouns_and_hides_the_old_spellings():
    shown = invoke("--help").output
    for noun in COMMANDS:
        assert f"  {noun} " in shown
    for old in OLD_SPELLINGS:
        assert f"  {old} " not in shown


@pytest.mark.parametrize(
    "old, new",
    [
        (["import", str(PAGE), "--published-at", "2026-11-17"], "comparisons import"),
        (["edition", "build", "--week", WEEK], "editions"),
        (["preview", "--week", WEEK], "editions preview"),
        (["send", "--week", WEEK, "--dry-run", "--json"], "editions send"),
        (["send-test", "--to", "editor@example.com", "--week", WEEK], "editions send-test"),
        (["status"], "scheduler status"),
    ],
)
def test_an_old_spelling_runs_the_new_command_and_names_it_on_stderr(cli_env, tmp_path, old, new):
    assert invoke("comparisons", "import", str(PAGE), "--published-at", "2026-11-17").exit_code == 0
    assert invoke("editions", "build", "--week", WEEK).exit_code == 0
    if old[0] == "preview":
        old = [*old, "--out", str(tmp_path / "preview")]
    result = invoke(*old)
    assert result.exit_code == 0, result.output
    note, *rest = result.stderr.strip().splitlines()
    assert note == f"Note: `digest {old[0]}` is now `digest {new}`; the old spelling still works."
    assert all(line.startswith("Store: ") for line in rest), result.stderr  # editions name their store
    assert "Note:" not in result.stdout
    if old[0] == "send":
        assert json.loads(result.stdout)["status"] == "dry-run"  # a script parsing stdout is not disturbed


def test_old_and_new_spellings_print_the_same(cli_env):
    assert invoke("comparisons", "import", str(PAGE), "--published-at", "2026-11-17").exit_code == 0
    new = invoke("comparisons", "list")
    assert invoke("import", str(PAGE)).exit_code == 0  # unchanged: re-import is a no-op
    assert new.stdout == invoke("comparisons", "list").stdout
    assert invoke("scheduler", "status").stdout == invoke("status").stdout


def test_editions_show_names_the_items_and_who_got_them(cli_env):
    invoke("comparisons", "import", str(PAGE), "--published-at", "2026-11-17")
    invoke("editions", "build", "--week", WEEK)
    shown = json.loads(invoke("editions", "show", "1", "--json").stdout)
    assert shown["number"] == 1 and shown["week"] == WEEK and shown["status"] == "draft"
    assert [c["slug"] for c in shown["comparisons"]] == ["smolvlm2-turbo-vs-pixelwright-lens"]
    assert shown["readers"]["sent"] == 0
    text = invoke("editions", "show", "1").stdout
    assert "smolvlm2-turbo-vs-pixelwright-lens" in text and "draft" in text
    missing = invoke("editions", "show", "9")
    assert missing.exit_code == 1 and "there is no edition 9" in missing.output
