"""`digest doctor`: every check passes on a box ready to send, and each problem is found, named on
one line with its fix, without sending mail or writing to the store."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import Mailbox, add_reader, clean_env, free_port, smtp_server
from test_smtp import certificate  # noqa: F401  the self-signed certificate fixture

from digest.cli import main
from digest.doctor import run
from digest.settings import load_environment
from digest.timeutil import utcnow
from schedules import RunOutcome

READY = {
    "DIGEST_BASE_URL": "https://news.publisher.io",
    "DIGEST_SECRET_KEY": "k" * 43,
    "DIGEST_ADMIN_TOKEN": "t" * 43,
    "DIGEST_NEWSLETTER_NAME": "The Tool Letter",
    "DIGEST_FROM": "letter@news.publisher.io",
    "DIGEST_POSTAL_ADDRESS": "Publisher SAS, 12 rue des Lilas, 75019 Paris, France",
    "DIGEST_BACKEND": "smtp",
}


@pytest.fixture
def smtp():
    with smtp_server(Mailbox()) as (mailbox, url):
        yield mailbox, url


@pytest.fixture
def ready(engine, db_url, smtp):
    """A box ready to send: a migrated store (the engine fixture), a reachable SMTP server, a real identity."""
    return {**READY, "DIGEST_DATABASE_URL": db_url, "DIGEST_SMTP_URL": smtp[1]}


def failures(env: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for check in run(load_environment(None, env)):
        if not check.ok:
            assert check.fix, check
            found.setdefault(check.name, []).append((check.detail, check.fix))
    return found


def test_a_ready_box_passes_every_check_and_nothing_is_mailed(ready, smtp):
    result = CliRunner().invoke(main, ["doctor"], env=clean_env(**ready))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(line.startswith("ok ") for line in lines[:-1]), result.output
    names = {line.split()[1] for line in lines[:-1]}
    assert {"settings", "store", "backend", "identity", "base", "secrets", "web", "templates"} <= names
    assert "answered (nothing was sent)" in result.stdout
    assert lines[-1].startswith("All ") and lines[-1].endswith(" checks pass.")
    assert smtp[0].messages == []
    as_json = CliRunner().invoke(main, ["doctor", "--json"], env=clean_env(**ready))
    assert as_json.exit_code == 0
    report = json.loads(as_json.stdout)
    assert report["ok"] is True and all(c["ok"] for c in report["checks"])
    assert set(report["checks"][0]) == {"check", "ok", "detail", "fix"}


def test_each_problem_is_one_line_with_its_fix_and_the_exit_status_is_1(ready):
    env = clean_env(**{**ready, "DIGEST_FROM": "verdicts@example.com", "DIGEST_SECRET_KEY": "short"})
    result = CliRunner().invoke(main, ["doctor"], env=env)
    assert result.exit_code == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 2 and all(". Fix: " in line for line in failed)
    assert "DIGEST_FROM is a placeholder (verdicts@example.com)" in failed[0]
    assert "DIGEST_SECRET_KEY is 5 characters long" in failed[1]
    assert result.stderr.strip().splitlines()[-1].startswith("Error: 2 of ")
    report = json.loads(CliRunner().invoke(main, ["doctor", "--json"], env=env).stdout)
    assert report["ok"] is False
    assert {c["check"] for c in report["checks"] if not c["ok"]} == {"identity", "secrets"}


def test_malformed_settings_are_listed_and_stop_the_rest(ready):
    found = failures({**ready, "DIGEST_SEND_DAY": "someday", "DIGEST_MAX_ERRORS": "-1"})
    assert list(found) == ["settings"] and len(found["settings"]) == 2


def test_a_name_in_the_env_file_that_is_no_setting_is_named_with_its_line(ready, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in ready.items()) + "DIGEST_FORM=letter@publisher.io\n")
    env_file.chmod(0o640)
    checks = [c for c in run(load_environment(env_file, clean_env())) if not c.ok]
    assert [(c.name, c.detail) for c in checks] == [
        ("settings", f"{env_file}:{len(ready) + 1}: DIGEST_FORM is not a setting digest reads")
    ]
    assert checks[0].fix.startswith("did you mean DIGEST_FROM?")


def test_an_env_file_every_user_may_read_is_named(ready, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in ready.items()))
    env_file.chmod(0o644)
    [check] = [c for c in run(load_environment(env_file, clean_env())) if not c.ok]
    assert check.detail == f"{env_file} holds secrets and every user of this machine may read it"
    assert check.fix.startswith(f"chmod o-rwx {env_file}")
    env_file.chmod(0o640)
    assert all(c.ok for c in run(load_environment(env_file, clean_env())))


# --- the store: reachable, at the latest revision, not newer; never created -------------------------------


def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path, smtp):
    path = tmp_path / "nowhere" / "digest.db"
    found = failures({**READY, "DIGEST_DATABASE_URL": f"sqlite:///{path}", "DIGEST_SMTP_URL": smtp[1]})
    [(detail, fix)] = found["store"]
    assert str(path) in detail and "digest db upgrade" in fix
    assert not path.exists() and not path.parent.exists()


@pytest.mark.parametrize(
    "revision,said,fix",
    [("0007", "behind", "digest db upgrade"), ("9999", "newer than this version", "upgrade digest")],
)
def test_a_store_behind_or_ahead_of_this_version_is_named(engine, ready, revision, said, fix):
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    [(detail, how)] = failures(ready)["store"]
    assert said in detail and revision in detail and fix in how


def test_an_unreachable_postgresql_is_named(smtp):
    url = "postgresql://postgres@127.0.0.1:1/digest"
    [(detail, _)] = failures({**READY, "DIGEST_DATABASE_URL": url, "DIGEST_SMTP_URL": smtp[1]})["store"]
    assert "127.0.0.1:1" in detail


# --- the backend -----------------------------------------------------------------------------------


def test_an_smtp_server_that_does_not_answer_is_named(ready):
    port = free_port()
    [(detail, fix)] = failures({**ready, "DIGEST_SMTP_URL": f"smtp://127.0.0.1:{port}"})["backend"]
    assert f"127.0.0.1:{port}" in detail and "does not answer" in detail and "DIGEST_SMTP_URL" in fix


def test_an_smtp_server_whose_certificate_is_not_trusted_is_named(ready, certificate):  # noqa: F811  the fixture
    server_tls, _ = certificate  # self-signed: this machine's trust store does not know it
    with smtp_server(Mailbox(), tls_context=server_tls, require_starttls=True) as (_, url):
        [(detail, fix)] = failures({**ready, "DIGEST_SMTP_URL": url})["backend"]
    assert "TLS with it failed" in detail and "certificate" in fix


def test_sendgrid_needs_its_key_and_a_public_app_the_webhook_key(ready):
    found = failures({**ready, "DIGEST_BACKEND": "sendgrid"})
    assert "SENDGRID_API_KEY" in found["backend"][0][0]
    assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in found["web app"][0][0]


def test_the_outbox_reaches_nobody(ready):
    assert "nobody gets it" in failures({**ready, "DIGEST_BACKEND": "outbox"})["backend"][0][0]


def test_a_public_app_needs_an_admin_token(ready):
    env = {k: v for k, v in ready.items() if k != "DIGEST_ADMIN_TOKEN"}
    assert "DIGEST_ADMIN_TOKEN is not set" in failures(env)["web app"][0][0]


def test_a_loopback_base_url_is_not_ready_for_readers(ready):
    [(detail, fix)] = failures({**ready, "DIGEST_BASE_URL": "http://127.0.0.1:8000"})["base URL"]
    assert "this machine" in detail and "https://" in fix


# --- templates, the scheduler, the confirmation queue ------------------------------------------------


def test_a_broken_template_is_named(ready, tmp_path):
    brand = tmp_path / "brand"
    assert CliRunner().invoke(main, ["templates", "copy", str(brand)]).exit_code == 0
    masthead = next(brand.rglob("_masthead.mjml.j2"))
    masthead.write_text(masthead.read_text() + "\n{% if %}\n")
    [(detail, _)] = failures({**ready, "DIGEST_TEMPLATES": str(brand)})["templates"]
    assert "_masthead.mjml.j2" in detail


@pytest.mark.parametrize("outcome", [RunOutcome.PAUSED, RunOutcome.FAILED, RunOutcome.MISSED, RunOutcome.RUNNING])
def test_a_weekly_run_that_needs_a_person_is_named(engine, ready, outcome):
    from schedules import runs  # the library's own writer, as the scheduler uses it

    runs.write(engine, "weekly-edition", utcnow() - timedelta(days=1), outcome, detail="what happened")
    [(detail, _)] = failures(ready)["scheduler"]
    assert "the last weekly run" in detail and outcome in detail


def test_a_done_weekly_run_is_fine(engine, ready):
    from schedules import runs  # the library's own writer, as the scheduler uses it

    runs.write(engine, "weekly-edition", utcnow() - timedelta(days=1), RunOutcome.DONE)
    assert "scheduler" not in failures(ready)


def test_a_confirmation_mail_the_provider_refused_is_counted(engine, ready):
    reader, _ = add_reader(engine, "ada@publisher.io", status="pending")
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE subscriber SET confirmation_error = '550 no such mailbox', created_at = :t WHERE id = :id"),
            {"t": utcnow(), "id": reader},
        )
    [(detail, fix)] = failures(ready)["confirmations"]
    assert detail.startswith("1 pending reader could not be sent") and "digest subscribers show" in fix


def test_readers_waiting_long_for_their_confirmation_mail_are_counted(engine, ready):
    reader, _ = add_reader(engine, "ada@publisher.io", status="pending")

    def signed_up(ago: timedelta) -> None:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE subscriber SET created_at = :t WHERE id = :id"), {"t": utcnow() - ago, "id": reader}
            )

    signed_up(timedelta(minutes=1))
    assert "confirmations" not in failures(ready)  # just signed up: the mail is on its way
    signed_up(timedelta(hours=2))
    [(detail, fix)] = failures(ready)["confirmations"]
    assert detail.startswith("1 reader signed up over an hour ago") and "scheduler" in fix
