"""`digest doctor`: is this box ready to send? Every check an operator would make, none of them
sending mail or writing to the store.

`run(environment)` returns one Check per finding, in the order an operator fixes them: the
settings are well-formed; the store is there, reachable and at this version's revision (not
behind, not ahead); the mail backend is configured (its key present; an SMTP server answers and
takes the login); the identity mail goes out under is real (no placeholder From address, postal
address or newsletter name); DIGEST_BASE_URL is an https address readers can reach; the secrets are
long and not the shipped ones; when the web app is public, an admin token and (with SendGrid) the
webhook key are set; the templates (DIGEST_TEMPLATES over the shipped ones) render the demo edition
and the confirmation mail; the scheduler's last weekly run did not fail or pause, and no run is
left unfinished with nobody holding the lease; no reader waits long for a confirmation mail.

Each failed check carries its fix. The click command (digest/cli/doctor.py) prints them.
"""

from __future__ import annotations

import difflib
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from digest.errors import DigestError, StoreError
from digest.settings import ENV_FILE, VARIABLES, Environment, Settings, is_loopback, report
from digest.store import (
    MIGRATIONS,
    database_problem,
    make_engine,
    normalize_url,
    open_store,
    session_scope,
    stored_revisions,
)
from digest.timeutil import utcnow
from digest.words import counted

WAITING_TOO_LONG = timedelta(hours=1)  # a confirmation mail not gone after this: nothing is sending them


class Check(NamedTuple):
    name: str  # what was checked: "store", "backend", "identity"...
    ok: bool
    detail: str  # what was found
    fix: str | None = None  # what to do about it, when not ok

    def as_dict(self) -> dict:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def run(environment: Environment, now: datetime | None = None) -> list[Check]:
    """Every check, in order. Settings that do not parse stop the rest (they would all fail)."""
    now = now or utcnow()
    rows = report(environment)
    wrong = [row for row in rows if row.error]
    if wrong:
        return [
            Check("settings", False, row.error or "", f"correct {row.setting.variable} ({row.source})") for row in wrong
        ]
    settings = Settings.from_env(environment)
    checks = list(_strangers(environment))
    if not checks:
        where = f" (env file {environment.file})" if environment.file is not None else ""
        checks.append(Check("settings", True, f"every setting is well-formed{where}"))
    store, engine = _store(settings)
    checks.append(store)
    checks.extend(_backend(settings))
    checks.extend(_identity(settings))
    checks.extend(_public(settings))
    checks.append(_templates(settings))
    if engine is not None:
        try:
            checks.extend(_scheduler(engine, now))
            checks.extend(_approvals(engine, settings, now))
            checks.append(_confirmations(engine, now))
        finally:
            engine.dispose()
    return checks


def _strangers(environment: Environment) -> Iterator[Check]:
    """A name in the env file that looks like a setting and is none (a typo digest would ignore),
    and an env file every user of the machine may read (it holds the secrets)."""
    if environment.file is not None:
        try:
            mode = environment.file.stat().st_mode
        except OSError:
            mode = 0
        if mode & stat.S_IROTH:
            yield Check(
                "settings",
                False,
                f"{environment.file} holds secrets and every user of this machine may read it",
                f"chmod o-rwx {environment.file} (the service's group may keep reading it)",
            )
    for name, line in environment.lines.items():
        if name.startswith(("DIGEST_", "SENDGRID_")) and name not in (*VARIABLES, ENV_FILE):
            close = difflib.get_close_matches(name, VARIABLES, n=1)
            yield Check(
                "settings",
                False,
                f"{environment.file}:{line}: {name} is not a setting digest reads",
                (f"did you mean {close[0]}? " if close else "") + "`digest config show` lists every setting",
            )


# -- the store ---------------------------------------------------------------------------------


def _known_revisions() -> tuple[set[str], set[str]]:
    """(every revision this version's migrations know, the newest ones)."""
    # Alembic loads here, not at import: only `digest doctor` reads every script.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    return {script.revision for script in scripts.walk_revisions()}, set(scripts.get_heads())


def _store(settings: Settings) -> tuple[Check, Engine | None]:
    """Reachable, at the latest revision, not newer; a missing SQLite file is not created."""
    url = settings.database_url
    try:
        parsed = make_url(normalize_url(url))
    except StoreError as exc:
        return Check("store", False, str(exc), "set DIGEST_DATABASE_URL to sqlite:///PATH or postgresql://..."), None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_file():
            return Check(
                "store",
                False,
                f"the SQLite file {path.resolve()} is not there",
                "check DIGEST_DATABASE_URL; if it is right, `digest db upgrade` creates the store",
            ), None
    engine = make_engine(url, settings.lock_timeout)
    try:
        stored = stored_revisions(engine)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        return Check("store", False, database_problem(exc, url), "check DIGEST_DATABASE_URL and the database"), None
    known, heads = _known_revisions()
    if not stored:
        return Check("store", False, f"{shown} has no tables yet", "run `digest db upgrade`"), engine
    if stored - known:
        return Check(
            "store",
            False,
            f"{shown} is at revision {', '.join(sorted(stored))}, newer than this version of digest knows "
            f"(its latest: {', '.join(sorted(heads))})",
            "upgrade digest to the version that wrote the database (never run an older one against it)",
        ), engine
    if stored != heads:
        return Check(
            "store",
            False,
            f"{shown} is at revision {', '.join(sorted(stored))}, behind this version's {', '.join(sorted(heads))}",
            "back the database up, then run `digest db upgrade`",
        ), engine
    return Check("store", True, f"{shown} is at revision {', '.join(sorted(stored))}, the latest"), engine


# -- the backend --------------------------------------------------------------------------------


def _backend(settings: Settings) -> Iterator[Check]:
    # Imported here: the senders load their clients (httpx, smtplib) only when a check needs them.
    from digest.mail import make_sender

    try:
        make_sender(settings).close()  # reads the backend's settings (its key, its URL); connects nowhere
    except DigestError as exc:
        yield Check("backend", False, str(exc), f"set what DIGEST_BACKEND={settings.backend} needs (see README.md)")
        return
    if settings.backend == "memory":
        yield Check(
            "backend",
            False,
            "DIGEST_BACKEND=memory keeps mail in the process: nobody gets it",
            "set DIGEST_BACKEND to sendgrid or smtp",
        )
    elif settings.backend == "outbox":
        yield Check(
            "backend",
            False,
            f"DIGEST_BACKEND=outbox writes mail into {settings.outbox.resolve()}: nobody gets it",
            "set DIGEST_BACKEND to sendgrid or smtp (the outbox is for trying digest out)",
        )
    elif settings.backend == "sendgrid":
        yield Check("backend", True, f"SendGrid at {settings.sendgrid_api_url}, its API key is set")
    elif settings.backend == "smtp":
        yield _smtp(settings)


def _smtp(settings: Settings) -> Check:
    import smtplib  # only an SMTP backend is tried
    import ssl  # likewise

    from digest.mail.smtp import SmtpSender  # start-up time: only the SMTP backend needs it

    sender = SmtpSender(settings.smtp_url, timeout=10)
    where = f"{sender.target.host}:{sender.target.port}"
    try:
        sender.check()
    except DigestError as exc:
        return Check("backend", False, str(exc), "correct the user name and password in DIGEST_SMTP_URL")
    except ssl.SSLError as exc:
        return Check(
            "backend",
            False,
            f"the SMTP server {where} in DIGEST_SMTP_URL answered, but TLS with it failed: {exc}",
            "check the server's certificate (its name must be the host in DIGEST_SMTP_URL)",
        )
    except (OSError, smtplib.SMTPException) as exc:
        return Check(
            "backend",
            False,
            f"the SMTP server {where} in DIGEST_SMTP_URL does not answer: {exc}",
            "check the host and port in DIGEST_SMTP_URL, and that this machine may reach it",
        )
    login = " and took the login" if sender.target.username else ""
    return Check("backend", True, f"the SMTP server {where} answered{login} (nothing was sent)")


# -- who the mail is from, and the public face ------------------------------------------------------


def _public_app(settings: Settings) -> bool:
    return not is_loopback(settings.base_url)


def _identity(settings: Settings) -> Iterator[Check]:
    problems = settings.identity_problems()
    for problem in problems:
        yield Check("identity", False, problem.said, problem.fix)
    if not problems:
        yield Check(
            "identity", True, f"{settings.newsletter_name} <{settings.from_address}>, with a postal address set"
        )


def _public(settings: Settings) -> Iterator[Check]:
    """The base URL, the secrets, and what a public web app needs."""
    if _public_app(settings):
        yield Check("base URL", True, f"readers' links start with {settings.base_url}")
    else:
        yield Check(
            "base URL",
            False,
            f"DIGEST_BASE_URL is {settings.base_url}, this machine: readers' links would not reach it",
            "set DIGEST_BASE_URL to the https:// address readers reach `digest serve` at",
        )
    problems = settings.secret_problems()
    for problem in problems:
        yield Check("secrets", False, problem.said, problem.fix)
    if not problems:
        yield Check("secrets", True, "DIGEST_SECRET_KEY is long and not the default")
    if not _public_app(settings):
        return
    if settings.admin_token is None:
        yield Check(
            "web app",
            False,
            "DIGEST_ADMIN_TOKEN is not set: the editors' pages (/stats) answer 404",
            "set DIGEST_ADMIN_TOKEN to a long random value, e.g. python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'",
        )
    else:
        yield Check("web app", True, "DIGEST_ADMIN_TOKEN is set")
    if settings.backend == "sendgrid":
        from digest.events.signature import verifier_for  # start-up time: the webhook's crypto

        try:
            verifier_for(settings.webhook_public_key)
        except DigestError as exc:
            yield Check(
                "web app",
                False,
                str(exc),
                "turn on Signed Event Webhook in SendGrid and copy its key into SENDGRID_WEBHOOK_PUBLIC_KEY",
            )
        else:
            yield Check("web app", True, "SENDGRID_WEBHOOK_PUBLIC_KEY is a valid key")


# -- the templates ----------------------------------------------------------------------------------


def _templates(settings: Settings) -> Check:
    """The demo edition and the confirmation mail, rendered with the templates in use (nothing is
    written anywhere: the demo lives in a database in memory)."""
    # Imported here, each: rendering loads Jinja2 and the MJML compiler, which only this check needs.
    from digest.content.importer import read_records, write_records  # start-up time
    from digest.demo import DEMO_DATA  # start-up time
    from digest.render.confirmation import render_confirmation  # start-up time
    from digest.render.preview import preview  # start-up time

    where = f"DIGEST_TEMPLATES ({settings.templates}) over the shipped ones" if settings.templates else "shipped"
    trial = replace(settings, database_url="sqlite://", min_items=1)
    engine = open_store("sqlite://")
    try:
        paths = sorted(Path(str(p)) for p in DEMO_DATA.iterdir() if p.name.endswith(".txt"))
        with session_scope(engine) as session:
            write_records(session, read_records(paths), site_url=trial.site_url, published_at=utcnow())
            preview(session, trial)
        render_confirmation(trial)
    except DigestError as exc:
        return Check("templates", False, str(exc), "correct the template it names (digest editions preview --serve)")
    finally:
        engine.dispose()
    return Check("templates", True, f"the {where} templates render an edition and the confirmation mail")


# -- the scheduler and the confirmation queue ----------------------------------------------------


def _scheduler(engine: Engine, now: datetime) -> Iterator[Check]:
    from digest.jobs import WEEKLY_JOB  # start-up time: the scheduler's wiring
    from schedules import RunOutcome, current_lease, latest_run  # start-up time: as above

    lease = current_lease(engine, WEEKLY_JOB)
    live = lease is not None and lease.expires_at > now
    last = latest_run(engine, WEEKLY_JOB)
    if live:
        yield Check("scheduler", True, f"running on {lease.holder} (lease until {lease.expires_at:%Y-%m-%d %H:%M} UTC)")
    if last is None:
        yield Check("scheduler", True, "the weekly send has not run yet")
        return
    said = f"the last weekly run ({last.slot:%Y-%m-%d %H:%M} UTC) {last.outcome}" + (
        f": {last.detail}" if last.detail else ""
    )
    if last.outcome == RunOutcome.RUNNING and not live:
        yield Check(
            "scheduler",
            False,
            f"{said}, and no scheduler holds the lease",
            "start the scheduler (systemctl start digest) to resume it, or `digest editions send`",
        )
    elif last.outcome == RunOutcome.FAILED:
        yield Check(
            "scheduler", False, said, "see the scheduler's log (journalctl -u digest), then `digest scheduler status`"
        )
    elif last.outcome == RunOutcome.PAUSED:
        yield Check(
            "scheduler", False, said, "see why in `digest editions show`, then `digest editions send` resumes it"
        )
    elif last.outcome == RunOutcome.MISSED:
        yield Check("scheduler", False, said, "send the edition by hand: `digest editions send`")
    else:
        yield Check("scheduler", True, said)


def _approvals(engine: Engine, settings: Settings, now: datetime) -> Iterator[Check]:
    """With DIGEST_APPROVALS set: the edition at hand, if it still waits for approvals."""
    if settings.approvals <= 0:
        return
    from digest.editions.service import edition_at_hand  # start-up time: only this check reads editions
    from digest.editors.approvals import approvals_of  # start-up time: as above

    with session_scope(engine) as session:
        edition = edition_at_hand(session, settings, now).edition
        state = None if edition is None else approvals_of(session, settings, edition)
    if state is None or not state.open:
        return
    if state.met:
        yield Check("approvals", True, f"edition {state.number} has its approvals ({', '.join(state.approvers)})")
    else:
        yield Check("approvals", False, state.refusal(), "an editor approves it before its first wave, or it waits")


def _confirmations(engine: Engine, now: datetime) -> Check:
    from subscribers import confirmations  # start-up time: only this check reads the queue

    with session_scope(engine) as session:
        backlog = confirmations.backlog(session, now - WAITING_TOO_LONG)
    if backlog.stuck:
        return Check(
            "confirmations",
            False,
            f"{counted(backlog.stuck, 'reader')} signed up over an hour ago and still wait for their confirmation mail",
            "run the scheduler or `digest serve` (they send the queue), and check the backend",
        )
    if backlog.refused:
        return Check(
            "confirmations",
            False,
            f"{counted(backlog.refused, 'pending reader')} could not be sent a "
            "confirmation mail (the provider refused it)",
            "see why with `digest subscribers show ADDRESS` (confirmation_error)",
        )
    return Check("confirmations", True, "no reader waits for a confirmation mail")
