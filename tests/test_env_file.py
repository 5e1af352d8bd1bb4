"""One way to load the environment: `--env-file PATH` or DIGEST_ENV_FILE, in systemd's
EnvironmentFile format; the real environment wins over the file; `digest config show` says where
each value came from; a malformed file is one `Error:` line naming the file and the line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers import clean_env, run_digest

from digest.cli import main
from digest.envfile import parse
from digest.errors import ConfigError
from digest.settings import load_environment

# --- systemd's format ------------------------------------------------------------------------


def values(text: str) -> dict[str, str]:
    return {name: assignment.value for name, assignment in parse(text, "env").items()}


def test_comments_blank_lines_and_whitespace_are_dropped_as_systemd_does():
    text = "# a comment\n; another\n\n   \nDIGEST_FROM = news@publisher.io  \n\tDIGEST_TIMEZONE=Europe/Paris\r\n"
    assert values(text) == {"DIGEST_FROM": "news@publisher.io", "DIGEST_TIMEZONE": "Europe/Paris"}


def test_inner_whitespace_and_quotes_after_the_first_character_are_kept():
    assert values('A=Your Company, 12 Real Street\nB=it\'s "fine"\n') == {
        "A": "Your Company, 12 Real Street",
        "B": 'it\'s "fine"',
    }


def test_single_quotes_are_verbatim_and_may_span_lines():
    assert values("A='  a \\n $HOME\nsecond line'\n") == {"A": "  a \\n $HOME\nsecond line"}


def test_double_quotes_take_the_shell_escapes_and_may_span_lines():
    text = 'A="say \\"hi\\" \\\\ \\$x \\q"\nB="one\ntwo"\nC="joined \\\nhere"\n'
    assert values(text) == {"A": 'say "hi" \\ $x \\q', "B": "one\ntwo", "C": "joined here"}


def test_an_unquoted_backslash_escapes_the_next_character_and_joins_lines():
    assert values("A=a\\ b\\#c\nB=first \\\nsecond\n") == {"A": "a b#c", "B": "first second"}


def test_nothing_is_expanded_and_a_later_line_wins():
    found = parse("A=$HOME/x\nA=${USER}\n", "env")
    assert found["A"].value == "${USER}" and found["A"].line == 2


def test_a_hash_after_a_value_is_part_of_it_as_in_systemd():
    assert values("A=b # not a comment\nB='c' ; d\n") == {"A": "b # not a comment", "B": "c; d"}


def test_an_empty_value_is_empty():
    assert values("A=\nB=''\n") == {"A": "", "B": ""}


@pytest.mark.parametrize(
    "text,line,said",
    [
        ("A=1\nexport B=2\n", 2, "'export B' is not a variable name"),
        ("A=1\n\njust words\n", 3, "expected NAME=value"),
        ('A=1\nB="never closed\nC=3\n', 2, 'the " opened here is never closed'),
        ("A='x\n", 1, "the ' opened here is never closed"),
        ("1A=x\n", 1, "'1A' is not a variable name"),
    ],
)
def test_a_line_systemd_would_skip_is_refused_naming_the_file_and_line(text, line, said):
    with pytest.raises(ConfigError) as refused:
        parse(text, "/etc/digest/env")
    assert str(refused.value).startswith(f"/etc/digest/env:{line}: ") and said in str(refused.value)


# --- where values come from -----------------------------------------------------------------


def test_the_real_environment_wins_over_the_file_and_says_so(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("DIGEST_BACKEND=smtp\nDIGEST_TIMEZONE=Europe/Paris\n")
    loaded = load_environment(env_file, {"DIGEST_BACKEND": "outbox"})
    assert loaded.values["DIGEST_BACKEND"] == "outbox" and loaded.values["DIGEST_TIMEZONE"] == "Europe/Paris"
    assert loaded.sources["DIGEST_BACKEND"] == "environment"
    assert loaded.sources["DIGEST_TIMEZONE"] == f"{env_file}:2"
    assert loaded.overridden == ("DIGEST_BACKEND",)


def test_the_option_wins_over_digest_env_file(tmp_path):
    (tmp_path / "a").write_text("DIGEST_TIMEZONE=Europe/Paris\n")
    (tmp_path / "b").write_text("DIGEST_TIMEZONE=Asia/Tokyo\n")
    assert load_environment(None, {"DIGEST_ENV_FILE": str(tmp_path / "a")}).file == tmp_path / "a"
    loaded = load_environment(tmp_path / "b", {"DIGEST_ENV_FILE": str(tmp_path / "a")})
    assert loaded.values["DIGEST_TIMEZONE"] == "Asia/Tokyo"


def test_config_show_names_the_file_and_the_line_of_each_value(tmp_path):
    env_file = tmp_path / "digest.env"
    env_file.write_text(
        "# the service's settings\nDIGEST_SECRET_KEY='s3cret value from the file'\nDIGEST_SEND_DAY=friday\n"
        "DIGEST_BACKEND=smtp\n"
    )
    env = clean_env(DIGEST_BACKEND="outbox")
    result = CliRunner().invoke(main, ["--env-file", str(env_file), "config", "show"], env=env)
    assert result.exit_code == 0, result.output
    assert f"Env file: {env_file}" in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert f"env file {env_file}:2" in rows["DIGEST_SECRET_KEY"] and "********" in rows["DIGEST_SECRET_KEY"]
    assert f"env file {env_file}:3" in rows["DIGEST_SEND_DAY"] and rows["DIGEST_SEND_DAY"].endswith("friday")
    assert rows["DIGEST_BACKEND"].split()[1:] == ["environment", "outbox"]
    assert rows["DIGEST_TIMEZONE"].split()[1:] == ["default", "UTC"]
    assert "s3cret" not in result.output
    assert f"Note: DIGEST_BACKEND is set in the environment, which wins over its line in {env_file}." in result.stderr


def test_digest_env_file_is_read_by_every_command_and_a_malformed_file_is_one_line(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text(f"DIGEST_DATABASE_URL=sqlite:///{tmp_path / 'from-file.db'}\nDIGEST_MIN_ITEMS=3\n")
    result = run_digest(["config", "show"], clean_env(DIGEST_ENV_FILE=str(env_file)))
    assert result.returncode == 0, result.stderr
    assert "from-file.db" in result.stdout
    env_file.write_text("DIGEST_MIN_ITEMS=3\nexport DIGEST_FROM=news@publisher.io\n")
    for args, env in (
        (["editions", "list"], clean_env(DIGEST_ENV_FILE=str(env_file))),
        (["--env-file", str(env_file), "db", "current"], clean_env()),
    ):
        result = run_digest(args, env)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"Error: {env_file}:2: 'export DIGEST_FROM' is not a variable name (letters, digits and _, "
            "as in DIGEST_FROM=...; no `export`)"
        ]


@pytest.mark.parametrize(
    "args",
    [
        ["--env-file", "{f}", "config", "show"],
        ["config", "show", "--env-file", "{f}"],
        ["config", "--env-file={f}", "show"],
    ],
)
def test_env_file_works_before_or_after_the_command(tmp_path, args):
    env_file = tmp_path / "env"
    env_file.write_text("DIGEST_SEND_DAY=friday\n")
    result = CliRunner().invoke(main, [a.format(f=env_file) for a in args], env=clean_env())
    assert result.exit_code == 0, result.output
    assert f"Env file: {env_file}" in result.stdout


def test_a_double_dash_ends_where_env_file_is_looked_for():
    from digest.cli import _env_file_first

    assert _env_file_first(["a", "--", "--env-file", "x"]) == ["a", "--", "--env-file", "x"]
    assert _env_file_first(["a", "--env-file", "x", "b"]) == ["--env-file", "x", "a", "b"]


@pytest.mark.parametrize(
    "given,said",
    [("missing", "which is not there"), ("folder", "which is a folder, not an environment file")],
)
def test_an_env_file_that_cannot_be_read_names_where_it_was_given(tmp_path, given, said):
    path = tmp_path / given
    if given == "folder":
        path.mkdir()
    result = CliRunner().invoke(main, ["config", "show"], env=clean_env(DIGEST_ENV_FILE=str(path)))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: DIGEST_ENV_FILE names {path}, {said}"
    result = CliRunner().invoke(main, ["--env-file", str(path), "config", "show"], env=clean_env())
    assert result.output.strip() == f"Error: --env-file names {path}, {said}"


def test_a_value_from_the_file_is_checked_like_one_from_the_environment(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("DIGEST_SEND_DAY=someday\n")
    result = CliRunner().invoke(main, ["--env-file", str(env_file), "scheduler", "next"], env=clean_env())
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {env_file}:1: DIGEST_SEND_DAY must be a weekday name such as monday, got 'someday'"
    )
    env_file.write_text("# the From line\nDIGEST_FROM='two\nlines@publisher.io'\n")
    result = CliRunner().invoke(main, ["--env-file", str(env_file), "scheduler", "next"], env=clean_env())
    assert result.output.strip().startswith(f"Error: {env_file}:2: DIGEST_FROM contains the control character U+000A")
    result = CliRunner().invoke(main, ["scheduler", "next"], env=clean_env(DIGEST_SEND_DAY="someday"))
    assert result.output.strip().startswith("Error: DIGEST_SEND_DAY must be")  # from the environment: no file named
