"""Settings read from the environment: a wrong value is refused at start, in one line naming it."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from conftest import ROOT

from digest.cli import main, reference
from digest.errors import ConfigError
from digest.mail import make_sender
from digest.settings import SENDERS, SETTINGS, VARIABLES, Settings, markdown_table


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.com",
        "https://news.example.com/",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
        "http://127.0.0.2",
    ],
)
def test_the_base_url_is_https_or_a_loopback_address(url):
    assert Settings.from_env({"DIGEST_BASE_URL": url}).base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url,said",
    [
        ("http://news.example.com", "must start with https://"),
        ("http://10.0.0.7:8000", "must start with https://"),
        ("ftp://news.example.com", "must be an address such as https://"),
        ("news.example.com", "must be an address such as https://"),
    ],
)
def test_a_base_url_mailbox_providers_would_refuse_is_refused_naming_the_variable(url, said):
    with pytest.raises(ConfigError, match=said) as refused:
        Settings.from_env({"DIGEST_BASE_URL": url})
    assert "DIGEST_BASE_URL" in str(refused.value)


def test_the_command_line_says_so_in_one_error_line(cli_env, monkeypatch):
    monkeypatch.setenv("DIGEST_BASE_URL", "http://news.example.com")
    result = CliRunner().invoke(main, ["editions", "list"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith(
        "Error: DIGEST_BASE_URL must start with https://"
    )


# --- one table: the dataclass, from_env, `digest settings` and README.md's table all come from SETTINGS -----


def table_agrees(readme: str) -> bool:
    """The README check test_docs runs, on the settings part only."""
    return not [problem for problem in reference.disagreements(readme) if "settings" in problem]


def test_readmes_configuration_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table_agrees(readme), "README.md's configuration table is stale: run python -m digest.cli.reference"


@pytest.mark.parametrize(
    "mistake",
    [
        lambda text: re.sub(r"^\| `DIGEST_LOCK_TIMEOUT` .*\n", "", text, flags=re.M),  # a row left out
        lambda text: text.replace("| `DIGEST_MAX_ERRORS` | `100` |", "| `DIGEST_MAX_ERRORS` | `50` |"),  # a default
        lambda text: text.replace("the From address", "the sender"),  # a meaning
        lambda text: text.replace("| `DIGEST_FROM` |", "| `DIGEST_FROM_ADDRESS` |"),  # a variable
    ],
    ids=["row removed", "default altered", "help altered", "variable renamed"],
)
def test_the_readme_check_fails_on_a_planted_mistake(mistake):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    planted = mistake(readme)
    assert planted != readme  # the mistake was planted
    assert not table_agrees(planted)


def test_settings_has_one_field_per_row_and_every_default_reads_as_settings_gives_it():
    assert [f.name for f in fields(Settings)] == [s.attribute for s in SETTINGS]
    assert len(set(VARIABLES)) == len(VARIABLES) == len(SETTINGS)
    assert Settings.from_env({}) == Settings()
    defaults = Settings()
    assert (defaults.max_complaint_rate, defaults.catch_up_hours, defaults.send_time) == (0.003, 24.0, time(8, 0))
    assert defaults.timezone == ZoneInfo("UTC") and defaults.outbox == Path("outbox")


def test_every_row_says_what_it_is_in_one_line():
    for setting in SETTINGS:
        assert setting.help and "\n" not in setting.help and "|" not in setting.help, setting.variable


def test_digest_backend_takes_the_names_the_sender_registry_holds():
    assert Settings.from_env({"DIGEST_BACKEND": "Memory"}).backend == "memory"
    with pytest.raises(ConfigError, match="DIGEST_BACKEND must be outbox, sendgrid, smtp or memory, got 'pigeon'"):
        Settings.from_env({"DIGEST_BACKEND": "pigeon"})
    for name in SENDERS:
        sender = make_sender(
            Settings(database_url="sqlite://", backend=name, sendgrid_api_key="k", smtp_url="smtp://127.0.0.1:2525")
        )
        try:
            assert sender.name == name
        finally:
            sender.close()
    with pytest.raises(ConfigError, match="DIGEST_BACKEND must be outbox, sendgrid, smtp or memory"):
        make_sender(Settings(database_url="sqlite://", backend="pigeon"))


def test_digest_settings_shows_each_value_masks_secrets_and_says_where_it_came_from():
    env = {
        "DIGEST_SECRET_KEY": "s3cret-value",
        "DIGEST_DATABASE_URL": "postgresql://digest:hunter2@db.internal/digest",
        "DIGEST_MAX_BOUNCE_RATE": "2%",
    }
    result = CliRunner().invoke(main, ["settings"], env=env)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split(None, 2)[1:] for line in result.stdout.splitlines()}
    assert set(lines) == set(VARIABLES)
    assert lines["DIGEST_SECRET_KEY"] == ["environment", "********"]
    assert lines["DIGEST_DATABASE_URL"] == ["environment", "postgresql://digest:********@db.internal/digest"]
    assert lines["DIGEST_MAX_BOUNCE_RATE"] == ["environment", "2%"]
    assert lines["DIGEST_BACKEND"] == ["default", "outbox"]
    assert "s3cret" not in result.output and "hunter2" not in result.output


def test_digest_settings_lists_every_malformed_value_then_fails():
    result = CliRunner().invoke(main, ["settings"], env={"DIGEST_MAX_ERRORS": "-1", "DIGEST_SEND_DAY": "someday"})
    assert result.exit_code == 1
    assert "DIGEST_MAX_ERRORS must be at least 0" in result.output
    assert "DIGEST_SEND_DAY must be a weekday name" in result.output
    assert "Error: 2 settings malformed: DIGEST_MAX_ERRORS, DIGEST_SEND_DAY" in result.output


def test_digest_settings_markdown_prints_the_table():
    result = CliRunner().invoke(main, ["settings", "--markdown"])
    assert result.exit_code == 0 and result.output == markdown_table()


def test_a_secret_stays_out_of_the_settings_repr():
    shown = repr(Settings(secret_key="s3cret", sendgrid_api_key="SG.key", admin_token="tok3n"))
    assert "s3cret" not in shown and "SG.key" not in shown and "tok3n" not in shown
    assert "newsletter_name='Weekly AI Tool Verdicts'" in shown
