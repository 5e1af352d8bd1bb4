"""The README stays true: every command and variable documented, the test command the one CI runs."""

from __future__ import annotations

import re
import subprocess
import sys

import click
import pytest

from conftest import ROOT
from digest.cli import main
from digest.settings import ENVIRONMENT_VARIABLES

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "digest"):
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = list(_commands(main))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"{path} has no help text"
    if not isinstance(command, click.Group) or not command.commands:
        assert "Example:" in command.help, f"{path}'s help ends without an example"


@pytest.mark.parametrize("path", [p for p, c in COMMANDS if not isinstance(c, click.Group)])
def test_every_command_is_in_the_readme(path):
    assert f"`{path}" in README, f"README.md does not document `{path}`"


@pytest.mark.parametrize("variable", ENVIRONMENT_VARIABLES)
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
    assert "digest, version" in subprocess.run([sys.executable, "-m", "digest", "--version"],
                                               capture_output=True, text=True).stdout
