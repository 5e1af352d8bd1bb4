"""The README stays true: every command and variable documented, the test command the one CI runs."""

from __future__ import annotations

import re
import subprocess
import sys

import click
import pytest
from conftest import ROOT

from digest.cli import main, reference
from digest.settings import ENV_FILE, VARIABLES

README = (ROOT / "README.md").read_text(encoding="utf-8")


COMMANDS = list(reference.commands(main))


def test_the_commands_were_found():
    paths = {path for path, _ in COMMANDS}
    assert {"digest comparisons import", "digest editions send", "digest scheduler status", "digest serve"} <= paths


def test_every_endpoint_is_in_the_readme():
    from digest.settings import Settings
    from digest.store import open_store
    from digest.web import create_app

    app = create_app(Settings(database_url="sqlite://"), open_store("sqlite://"))
    for path, methods in app.openapi()["paths"].items():
        for method in methods:
            assert f"`{method.upper()} {path}`" in README or f"`{path}`" in README, (
                f"README.md does not document {method.upper()} {path}"
            )


def test_the_readme_says_each_section_once():
    headings = re.findall(r"^#{1,3} (.+)$", README, re.M)
    assert len(headings) == len(set(headings)), sorted(h for h in headings if headings.count(h) > 1)


def test_the_readme_has_a_table_of_contents_that_matches_its_sections():
    sections = re.findall(r"^## (.+)$", README, re.M)
    for section in sections:
        if section != "Contents":
            assert f"[{section}](#" in README, f"the table of contents does not list {section!r}"


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"{path} has no help text"
    if not isinstance(command, click.Group) or not command.commands:
        assert "Example:" in command.help, f"{path}'s help ends without an example"


@pytest.mark.parametrize("path", [p for p, c in COMMANDS if not isinstance(c, click.Group)])
def test_every_command_is_in_the_readme(path):
    assert f"`{path}" in README, f"README.md does not document `{path}`"


def test_the_readmes_generated_parts_agree_with_the_code():
    assert reference.disagreements(README) == []


def test_a_command_missing_from_the_readme_is_found():
    line = "- `digest editions send`:"
    assert line in README
    planted = "\n".join(row for row in README.splitlines() if not row.startswith(line))
    assert reference.disagreements(planted) == [
        "README.md's commands part differs from the code: run python -m digest.cli.reference"
    ]


def test_a_command_the_cli_lacks_is_found():
    planted = README.replace(
        "<!-- commands:end -->", "- `digest editions unsend`: no such command\n<!-- commands:end -->"
    )
    assert "README.md's commands part differs" in " ".join(reference.disagreements(planted))


def test_a_readme_without_the_generated_parts_is_found():
    planted = README.replace("<!-- commands:start -->", "")
    assert any("has no `<!-- commands:start -->`" in problem for problem in reference.disagreements(planted))


def test_regenerating_a_stale_readme_brings_it_back():
    line = next(row for row in README.splitlines() if row.startswith("- `digest editions send`:"))
    stale = README.replace(line, "- `digest editions send`: something it no longer does")
    assert reference.regenerate(stale) == README


@pytest.mark.parametrize("variable", (*VARIABLES, ENV_FILE))
def test_every_environment_variable_is_in_the_readme(variable):
    assert f"`{variable}`" in README


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_commands = [b for b in blocks if "pytest" in b]
    assert test_commands, "README.md shows no test command"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_commands[0].strip() in ci


def test_version_and_help_print_without_error():
    for args in (["--version"], ["--help"]):
        out = subprocess.run([sys.executable, "-m", "digest", *args], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0, out.stderr
    assert (
        "digest, version"
        in subprocess.run([sys.executable, "-m", "digest", "--version"], capture_output=True, text=True).stdout
    )
