"""Settings read from the environment: a wrong value is refused at start, in one line naming it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from digest.cli import main
from digest.errors import ConfigError
from digest.settings import Settings


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
