"""README.md's "Running in production", followed step by step in a temporary folder: the settings in
one environment file read with --env-file, PostgreSQL, SMTP to a local aiosmtpd server, and every
command run as the console script the way an operator types it (no terminal). It ends with
`digest doctor` green and a test send received. The SendGrid step (domain authentication, webhook)
needs SendGrid itself: the walkthrough's own alternative, SMTP, stands in for it.

The steps the test takes are checked against the README, in order, so the two cannot drift apart."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from conftest import PG_ADMIN_URL, ROOT, missing_service
from helpers import (
    Mailbox,
    clean_env,
    digest_command,
    free_port,
    healthy,
    log_tail,
    run_process,
    running,
    smtp_server,
    start_process,
    wait_for,
)

from digest.demo import DEMO_DATA
from digest.store import SCHEMA_HEAD

README = (ROOT / "README.md").read_text(encoding="utf-8")
PRODUCTION = README[README.index("## Running in production") : README.index("## Commands")]

# What the walkthrough tells an operator to do, in its order: each must appear in the section, in this order.
STEPS = [
    "sudo python3 -m venv /opt/digest/.venv",
    "/etc/digest/env",
    "--env-file /etc/digest/env",
    "digest db upgrade",
    "digest db current",
    "digest comparisons import",
    "digest templates copy",
    "DIGEST_TEMPLATES=",
    "digest editions preview",
    "digest editions build",
    "digest editions send-test --to",
    "digest doctor",
    "systemctl enable --now digest",
    "digest scheduler status",
    ".backup",
    "pg_dump -Fc",
    "pg_restore --clean --dbname",
    "digest db upgrade",  # the upgrade steps
    "ExecStart=/opt/digest/.venv/bin/digest serve --with-scheduler",
]


def test_the_readme_walkthrough_names_the_steps_this_test_takes_in_order():
    words = " ".join(PRODUCTION.split())  # however its lines are wrapped
    at = 0
    for step in STEPS:
        found = words.find(step, at + 1 if at else 0)
        assert found >= 0, f"README.md's production walkthrough no longer says {step!r} (after position {at})"
        at = found


def test_the_readme_env_file_is_one_digest_reads(tmp_path):
    """The README's /etc/digest/env, as printed (placeholders and all), parses in systemd's format."""
    from digest.envfile import parse

    block = re.search(r"```sh\n# /etc/digest/env\n(.*?)```", PRODUCTION, re.S).group(1)
    found = parse(block, "README.md")
    assert found["DIGEST_POSTAL_ADDRESS"].value == "Your Company, 12 Real Street, 75001 Paris, France"
    assert {"DIGEST_FROM", "DIGEST_NEWSLETTER_NAME", "DIGEST_ADMIN_TOKEN", "SENDGRID_WEBHOOK_PUBLIC_KEY"} <= set(found)


class Box:
    """The box: a data folder (the service's WorkingDirectory) and `digest --env-file ENV ...` run in it."""

    def __init__(self, root: Path):
        self.data = root / "var-lib-digest"
        self.data.mkdir()
        self.env_file = root / "etc-digest" / "env"
        self.env_file.parent.mkdir()
        self.environ = clean_env()  # nothing from the shell: the file says everything

    def digest(self, *args: str, ok: bool = True, environ: dict | None = None) -> subprocess.CompletedProcess:
        result = run_process(
            [*digest_command(), "--env-file", str(self.env_file), *args],
            180,
            cwd=self.data,
            env=environ or self.environ,
        )
        if ok:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def add_line(self, line: str) -> None:
        with self.env_file.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def test_the_production_walkthrough_from_install_to_a_green_doctor_and_a_test_send_received(tmp_path, pg_url):
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        missing_service("pg_dump and pg_restore (apt-get install -y postgresql-client)")
    box = Box(tmp_path)
    with smtp_server(Mailbox()) as (mailbox, smtp_url):
        # 2. Settings: one file, in systemd's format (a comment, a quoted value), mode 640 as README says.
        box.env_file.touch(mode=0o640)
        box.env_file.write_text(
            "# /etc/digest/env  (mode 640: it holds secrets)\n"
            f"DIGEST_DATABASE_URL={pg_url}\n"
            "DIGEST_BASE_URL=https://news.publisher-walkthrough.net\n"
            "DIGEST_SECRET_KEY=Zx4-9rJp2WqL0vT8mN6bY1cH3kF5sD7gA9eR2uI4oP6\n"
            "DIGEST_ADMIN_TOKEN='Qw8-eR5tY2uI9oP1aS4dF7gH0jK3lZ6xC8vB5nM2'\n"
            "DIGEST_NEWSLETTER_NAME=Weekly AI Tool Verdicts\n"
            "DIGEST_FROM=verdicts@news.publisher-walkthrough.net\n"
            'DIGEST_POSTAL_ADDRESS="Publisher SAS, 12 rue des Lilas, 75019 Paris, France"\n'
            f"DIGEST_OUTBOX={box.data / 'outbox'}\n"
            "DIGEST_BACKEND=smtp\n"
            f"DIGEST_SMTP_URL={smtp_url}\n"
            "DIGEST_TIMEZONE=Europe/Paris\n"
        )
        # 3.1 The store.
        box.digest("db", "upgrade")
        current = box.digest("db", "current").stdout
        assert SCHEMA_HEAD in current
        # 3.2 The first comparisons.
        exports = sorted(str(Path(str(p))) for p in DEMO_DATA.iterdir() if p.name.endswith(".txt"))
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        box.digest("comparisons", "import", *exports, "--published-at", now)
        # 3.3 Brand: copy the templates, change the masthead, point the file at them, preview.
        brand = box.data / "brand"
        box.digest("templates", "copy", str(brand))
        masthead = next(brand.rglob("_masthead.mjml.j2"))
        masthead.write_text(masthead.read_text().replace("View in your browser", "Read it on the web, Walkthrough"))
        box.add_line(f"DIGEST_TEMPLATES={brand}")
        box.digest("editions", "preview", "--out", str(box.data / "preview"))
        assert "Read it on the web, Walkthrough" in (box.data / "preview" / "edition.html").read_text()
        # 3.6 Build, and a test to a seed address.
        box.digest("editions", "build")
        box.digest("editions", "send-test", "--to", "seed@publisher-walkthrough.net")
        wait_for(lambda: mailbox.messages, 30, "the test send at the SMTP server")
        [message] = mailbox.messages
        assert mailbox.envelopes == [["seed@publisher-walkthrough.net"]]
        assert message["From"].addresses[0].addr_spec == "verdicts@news.publisher-walkthrough.net"
        assert message["Subject"].startswith("[Test]")
        html = message.get_body(("html",)).get_content()
        assert "Read it on the web, Walkthrough" in html and "Publisher SAS, 12 rue des Lilas" in html
        # 3.7 The doctor: every check green, nothing sent.
        doctor = box.digest("doctor")
        assert doctor.stdout.splitlines()[-1].startswith("All ") and "FAIL" not in doctor.stdout, doctor.stdout
        assert len(mailbox.messages) == 1
        # 3.8 The unit's command starts with these settings (its identity and secrets pass) and answers.
        port, log = free_port(), tmp_path / "serve.log"
        with open(log, "ab") as output:
            server = start_process(
                [*digest_command(), "--env-file", str(box.env_file), "serve", "--with-scheduler", "--port", str(port)],
                cwd=box.data,
                env=box.environ,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        with running(server):
            wait_for(lambda: healthy(port) or server.poll() is not None, 60, "digest serve --with-scheduler")
            assert server.poll() is None, log_tail(log)
        assert "Weekly send:" in box.digest("scheduler", "status").stdout
        # Backups and restores: pg_dump, then pg_restore into a fresh database the store can be pointed at.
        dump = tmp_path / "digest.dump"
        assert run_process(["pg_dump", "-Fc", "-f", str(dump), pg_url]).returncode == 0
        restored = f"{pg_url}_restored"
        name = restored.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            restore = run_process(["pg_restore", "--clean", "--if-exists", "--dbname", restored, str(dump)])
            assert restore.returncode == 0, restore.stderr
            # An ad-hoc command on the restored copy: the environment wins over the file's line, and says so.
            listed = box.digest("editions", "list", environ={**box.environ, "DIGEST_DATABASE_URL": restored})
            assert "Note: DIGEST_DATABASE_URL is set in the environment" in listed.stderr
            assert "draft" in listed.stdout.lower()
        finally:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        # Upgrades: back up (above), then `db upgrade` again is harmless and the doctor stays green.
        box.digest("db", "upgrade")
        assert box.digest("doctor").returncode == 0
        # DIGEST_ENV_FILE names the same file for every command, instead of --env-file.
        result = run_process(
            [*digest_command(), "config", "show"],
            cwd=box.data,
            env={**box.environ, "DIGEST_ENV_FILE": str(box.env_file)},
        )
        assert result.returncode == 0 and f"Env file: {box.env_file}" in result.stdout
        assert "Zx4-9rJp" not in result.stdout and os.path.basename(pg_url) in result.stdout


def test_the_sqlite_backup_and_restore_of_the_walkthrough(tmp_path):
    """`sqlite3 digest.db ".backup FILE"` while the store is in use (WAL), then the restore: the copy
    put in place of digest.db (its -wal and -shm gone) is a working store with everything in it."""
    import sqlite3

    if shutil.which("sqlite3") is None:
        missing_service("the sqlite3 command (apt-get install -y sqlite3)")
    box = Box(tmp_path)
    store = box.data / "digest.db"
    box.env_file.write_text(f"DIGEST_DATABASE_URL=sqlite:///{store}\nDIGEST_OUTBOX={box.data / 'outbox'}\n")
    box.digest("db", "upgrade")
    exports = sorted(str(Path(str(p))) for p in DEMO_DATA.iterdir() if p.name.endswith(".txt"))
    box.digest("comparisons", "import", *exports)
    holder = sqlite3.connect(store)  # a process that has the store open, as the service would
    holder.execute("PRAGMA journal_mode=WAL")
    backup = tmp_path / "backups" / "digest-backup.db"
    backup.parent.mkdir()
    assert ".backup" in PRODUCTION and "sqlite3 /var/lib/digest/digest.db" in PRODUCTION
    assert run_process(["sqlite3", str(store), f".backup {backup}"]).returncode == 0
    holder.close()
    before = box.digest("comparisons", "list").stdout
    for name in ("digest.db-wal", "digest.db-shm"):
        (box.data / name).unlink(missing_ok=True)
    shutil.copy(backup, store)
    assert box.digest("comparisons", "list").stdout == before and before.strip()
