"""Identity checked before anything leaves: on a public DIGEST_BASE_URL, `serve`, `scheduler run`,
`editions send` and the commands that mail confirmations refuse a placeholder From address, postal
address or newsletter name, and a weak secret key or admin token, naming the variable. On a
loopback base URL (a developer's machine, the demo) all of it is allowed. A base URL with a query
or fragment is refused everywhere."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from digest.cli import main
from digest.errors import ConfigError
from digest.settings import Settings

PUBLIC = "https://news.publisher.io"
REAL = {  # what a publisher sets: every value real-looking
    "DIGEST_BASE_URL": PUBLIC,
    "DIGEST_SECRET_KEY": "k" * 43,
    "DIGEST_NEWSLETTER_NAME": "Weekly AI Tool Verdicts",  # the shipped name, set on purpose: accepted
    "DIGEST_FROM": "verdicts@news.publisher.io",
    "DIGEST_POSTAL_ADDRESS": "Publisher SAS, 12 rue des Lilas, 75019 Paris, France",
}


def problems(**env: str) -> dict[str, str]:
    return {p.variable: p.said for p in Settings.from_env({**REAL, **env}).identity_problems()}


def test_a_real_identity_has_no_problem_even_under_the_shipped_name_when_it_is_set():
    assert problems() == {}
    Settings.from_env(REAL).refuse_placeholders("digest serve")


@pytest.mark.parametrize(
    "address",
    ["verdicts@example.com", "news@example.org", "news@example.net", "news@mail.example.com", "a@EXAMPLE.COM"],
)
def test_a_from_address_at_a_domain_reserved_for_examples_is_a_placeholder(address):
    assert "DIGEST_FROM" in problems(DIGEST_FROM=address)


@pytest.mark.parametrize(
    "postal", ["Weekly AI Tool Verdicts, 1 Example Street, 00000 Example City", "1 example street"]
)
def test_the_shipped_postal_address_is_a_placeholder(postal):
    assert "DIGEST_POSTAL_ADDRESS" in problems(DIGEST_POSTAL_ADDRESS=postal)


def test_a_newsletter_name_never_set_is_missing():
    env = {k: v for k, v in REAL.items() if k != "DIGEST_NEWSLETTER_NAME"}
    assert [p.variable for p in Settings.from_env(env).identity_problems()] == ["DIGEST_NEWSLETTER_NAME"]
    assert not Settings.from_env({**env, "DIGEST_NEWSLETTER_NAME": "The Tool Letter"}).identity_problems()


@pytest.mark.parametrize(
    "variable,value,said",
    [
        ("DIGEST_SECRET_KEY", "dev-secret-change-me", "DIGEST_SECRET_KEY is still the default"),
        ("DIGEST_SECRET_KEY", "short-but-not-default", "DIGEST_SECRET_KEY is 21 characters long, shorter than 32"),
        ("DIGEST_ADMIN_TOKEN", "tok3n", "DIGEST_ADMIN_TOKEN is 5 characters long, shorter than 32"),
    ],
)
def test_a_weak_secret_is_refused_on_a_public_base_url_only(variable, value, said):
    with pytest.raises(ConfigError, match=said):
        Settings.from_env({**REAL, variable: value}).refuse_placeholders("digest serve")
    Settings.from_env({**REAL, variable: value, "DIGEST_BASE_URL": "http://127.0.0.1:8000"}).refuse_placeholders(
        "digest serve"
    )


def test_on_a_loopback_base_url_the_placeholders_are_allowed():
    Settings.from_env({"DIGEST_BASE_URL": "http://localhost:8000"}).refuse_placeholders("digest serve")
    Settings().refuse_placeholders("digest editions send")


@pytest.mark.parametrize(
    "url", ["https://news.publisher.io/?ref=mail", "https://news.publisher.io/#top", "https://news.publisher.io/?"]
)
def test_a_base_url_with_a_query_or_fragment_is_refused(url):
    with pytest.raises(ConfigError, match="DIGEST_BASE_URL must be an address with no query"):
        Settings.from_env({"DIGEST_BASE_URL": url})


@pytest.fixture
def sqlite_env(tmp_path):
    """The refusal comes before the store is opened: one database kind is enough."""
    return {"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}", "DIGEST_OUTBOX": str(tmp_path / "outbox")}


# --- each entry point refuses, in one line naming the variable, before anything leaves or is written ------


ENTRY_POINTS = [  # (the command as the error names it, its arguments)
    ("serve", ["serve", "--port", "1"]),
    ("serve", ["serve", "--with-scheduler", "--port", "1"]),
    ("scheduler run", ["scheduler", "run", "--once"]),
    ("editions send", ["editions", "send", "--yes"]),
    ("subscribers add", ["subscribers", "add", "ada@publisher.io"]),
]


@pytest.mark.parametrize("name,command", ENTRY_POINTS, ids=[" ".join(c) for _, c in ENTRY_POINTS])
@pytest.mark.parametrize(
    "variable,value",
    [
        ("DIGEST_FROM", "verdicts@example.com"),
        ("DIGEST_POSTAL_ADDRESS", "Weekly AI Tool Verdicts, 1 Example Street, 00000 Example City"),
        ("DIGEST_NEWSLETTER_NAME", None),
    ],
)
def test_every_entry_point_refuses_a_placeholder_identity_naming_the_variable(
    sqlite_env, name, command, variable, value
):
    env = {**sqlite_env, **REAL, variable: value}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: `digest {name}` will not run"), result.output
    assert variable in lines[0] and f"DIGEST_BASE_URL ({PUBLIC}) is not this machine" in lines[0]


def test_a_refused_sign_up_writes_no_reader(cli_env):
    env = {**cli_env, **REAL, "DIGEST_FROM": "verdicts@example.com"}
    assert CliRunner().invoke(main, ["subscribers", "add", "ada@publisher.io"], env=env).exit_code == 1
    listed = CliRunner().invoke(main, ["subscribers", "list"], env=env)
    assert "ada@publisher.io" not in listed.output


def test_with_a_real_identity_the_scheduler_runs_on_a_public_base_url(cli_env):
    result = CliRunner().invoke(main, ["scheduler", "run", "--once", "--lease-ttl", "2"], env={**cli_env, **REAL})
    assert result.exit_code == 0, result.output


def test_a_reader_added_without_a_confirmation_mail_is_not_refused(cli_env):
    env = {**cli_env, **REAL, "DIGEST_FROM": "verdicts@example.com"}
    result = CliRunner().invoke(main, ["subscribers", "add", "ada@publisher.io", "--confirmed"], env=env)
    assert result.exit_code == 0, result.output
