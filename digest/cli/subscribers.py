"""`digest subscribers`: the reader list from the command line (add, import, export, list, show, unsubscribe,
suppress, delete, resend-confirmation)."""

from __future__ import annotations

import json
import re
import stat
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import click

from digest.cli.app import App, confirm, names_store, pass_app, yes_option
from digest.content.catalog import topics_in_store
from digest.delivery import ledger
from digest.delivery.confirmations import resend_confirmation, resend_confirmations, send_pending
from digest.editors import audit
from digest.editors.audit import shell_actor
from digest.editors.roles import Action
from digest.events import clicks
from digest.events.erasure import forget_events
from digest.mail import make_sender
from digest.store import session_scope
from digest.timeutil import utcnow
from digest.words import counted
from subscribers import operators, validation
from subscribers.consent import history
from subscribers.csvfile import MAX_IMPORT_BYTES, read_rows, write_csv
from subscribers.errors import ImportRejected, InvalidInput
from subscribers.service import Consent
from subscribers.status import ACTIVE, PENDING
from subscribers.status import ALL as STATUSES


@click.group("subscribers")
@click.pass_context
def subscribers_group(ctx: click.Context) -> None:
    """Manage readers: add, import, export, list, show, unsubscribe, suppress, delete (erase), resend-confirmation.

    Readers added here, like those from the web form, are pending until they
    click the link in the confirmation mail, unless --confirmed says consent was
    given elsewhere.

    \b
    Example:
        digest subscribers import readers.csv --skip-invalid
    """
    names_store(ctx)


def _check_before_mailing(app: App, command: str, mails: bool = True) -> None:
    """Before anything is written: a mail that is to leave now needs a real identity (who it says it
    is from) and a backend that can send it (a SendGrid key, an SMTP URL), or the reader would be
    stored and their mail fail."""
    if mails:
        app.settings.refuse_placeholders(command)
        make_sender(app.settings).close()  # reads the backend's settings; connects to nothing


def _send_confirmations(app: App, no_mail: bool) -> None:
    if no_mail:
        click.echo("Confirmation mails are queued; `digest serve` or the scheduler sends them.")
        return
    sent = send_pending(app.engine, app.settings)
    click.echo(f"Sent {counted(sent, 'confirmation mail')} ({app.settings.backend}).")


@subscribers_group.command("add")
@click.argument("email")
@click.option(
    "--topic",
    "topics",
    multiple=True,
    metavar="TOPIC",
    help="A topic (category) to receive; repeatable. None: every topic.",
)
@click.option("--timezone", metavar="ZONE", help="The reader's IANA time zone, e.g. Europe/Paris.")
@click.option(
    "--cadence",
    default="weekly",
    show_default=True,
    help="How often they get a letter: weekly, fortnightly or monthly.",
)
@click.option(
    "--confirmed",
    is_flag=True,
    help="Consent was given elsewhere: make the reader active now, "
    "without a confirmation mail. The consent record says so.",
)
@click.option(
    "--source",
    default="digest subscribers add",
    show_default=True,
    help="Where the consent came from, kept in the consent record.",
)
@click.option(
    "--allow-deleted",
    is_flag=True,
    help="Add an address that was erased on request (only if that person asked to come back).",
)
@click.option("--no-mail", is_flag=True, help="Queue the confirmation mail instead of sending it now.")
@pass_app
def add_command(
    app: App,
    email: str,
    topics: tuple[str, ...],
    timezone: str | None,
    cadence: str,
    confirmed: bool,
    source: str,
    allow_deleted: bool,
    no_mail: bool,
) -> None:
    """Add one reader: pending (a confirmation mail goes out) unless --confirmed.

    \b
    Example:
        digest subscribers add ada@example.com --topic "Developer Tools"
        digest subscribers add cy@example.com --cadence monthly
        digest subscribers add bob@example.com --confirmed --source "signed up at the conference booth"
    """
    now = utcnow()
    _check_before_mailing(app, "digest subscribers add", not confirmed and not no_mail)
    with session_scope(app.store(create=True)) as session:
        request = validation.subscribe_request(
            {"email": email, "topics": list(topics), "timezone": timezone, "cadence": cadence},
            topics_in_store(session),
        )
        reader = operators.add_reader(
            session, request, confirmed=confirmed, allow_deleted=allow_deleted, consent=Consent(at=now, source=source)
        )
    click.echo(f"Added {reader.email} ({reader.status}).")
    if not confirmed:
        _send_confirmations(app, no_mail)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _duration(_ctx, _param, value: str | None) -> timedelta | None:
    if value is None:
        return None
    found = _DURATION.match(value)
    if not found:
        raise click.BadParameter(f"give a duration such as 1d, 12h or 90m, got {value!r}")
    return timedelta(**{_UNITS[found.group(2).lower()]: float(found.group(1))})


@subscribers_group.command("resend-confirmation")
@click.argument("email", required=False)
@click.option("--all-pending", is_flag=True, help="Every pending reader whose last mail left long enough ago.")
@click.option(
    "--older-than",
    callback=_duration,
    default="1d",
    show_default=True,
    metavar="DURATION",
    help="With --all-pending: how long ago their last confirmation mail left (1d, 12h, 90m; at least 10m).",
)
@yes_option
@pass_app
def resend_command(app: App, email: str | None, all_pending: bool, older_than: timedelta, yes: bool) -> None:
    """Send a pending reader their confirmation mail again, or every pending reader with --all-pending.

    Like asking again on the form, a reader gets one at most every 10 minutes.
    A mail the provider refused is tried again for one address; --all-pending
    leaves those out and counts them. The mail backend is checked before
    anything is written. --all-pending mails many readers: in a terminal it
    asks first; without one it needs --yes.

    \b
    Example:
        digest subscribers resend-confirmation ada@example.com
        digest subscribers resend-confirmation --all-pending --older-than 1d --yes
    """
    if (email is None) == (not all_pending):
        raise click.UsageError("give one ADDRESS, or --all-pending (not both)")
    _check_before_mailing(app, "digest subscribers resend-confirmation")
    if not all_pending:
        done = resend_confirmation(app.engine, app.settings, email)
        mails = counted(done.sent, "confirmation mail")
        click.echo(
            f"Queued the confirmation mail again; sent {mails} ({app.settings.backend})."
            if done.queued
            else f"Its confirmation mail was still waiting to leave; sent {mails} ({app.settings.backend})."
        )
        return
    hours = older_than.total_seconds() / 3600
    confirm(
        yes,
        f"Send their confirmation mail again to every pending reader last mailed over {hours:g} hours ago?",
        "resending confirmation mails to every pending reader mails them all",
    )
    done = resend_confirmations(app.engine, app.settings, older_than)
    parts = [f"Queued {counted(done.queued, 'confirmation mail')} again; sent {done.sent:,} ({app.settings.backend})"]
    if done.refused:
        parts.append(
            f"{counted(done.refused, 'reader')} whose mail the provider refused left out "
            "(digest subscribers show ADDRESS says why; resend one by its address)"
        )
    click.echo("; ".join(parts) + ".")


@subscribers_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--confirmed",
    is_flag=True,
    help="Consent was given elsewhere (a list moved from another tool): "
    "readers are active at once and get no confirmation mail. The consent record says so.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good rows even if some are bad (each bad row "
    "is still reported). Without it, one bad row means nothing is imported.",
)
@click.option(
    "--source", help="Where the consent came from, kept in each reader's consent record. Default: the file's name."
)
@click.option("--allow-deleted", is_flag=True, help="Import addresses that were erased on request too.")
@click.option("--no-mail", is_flag=True, help="Queue the confirmation mails instead of sending them now.")
@pass_app
def import_command(
    app: App, path: Path, confirmed: bool, skip_invalid: bool, source: str | None, allow_deleted: bool, no_mail: bool
) -> None:
    """Import readers from a CSV file, checking every row first.

    The first line names the columns (email is required; topics, timezone,
    cadence (weekly, fortnightly, monthly) and status are optional; other columns, as in exports from other tools, are
    ignored), or the file holds one address per line. Several topics in a cell
    are separated by ";". Addresses already on the list are left as they are,
    except that a row saying the reader left (a status of unsubscribed,
    bounced, complained, blocklisted or cleaned; Mailchimp's unsubscribed and
    cleaned exports) stops their mail, with --confirmed or without; a row
    saying pending or unconfirmed stays pending, with --confirmed or without.
    digest's own export (`digest subscribers export`) is kept as it was:
    statuses, tokens, topics, zones and consent logs, whatever --confirmed
    says, and no reader already active is sent a confirmation. Bad rows are
    reported by line number.

    \b
    Example:
        digest subscribers import readers.csv
        digest subscribers import old-tool-export.csv --confirmed --skip-invalid
    """
    consent = Consent(at=utcnow(), source=f"import of {source or path.name}")
    check_size(path)
    _check_before_mailing(app, "digest subscribers import", not confirmed and not no_mail)
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream, session_scope(app.store(create=True)) as session:
            layout, rows = read_rows(stream)
            report = operators.import_readers(
                session,
                rows,
                topics_in_store(session),
                confirmed=confirmed,
                consent=consent,
                skip_invalid=skip_invalid,
                allow_deleted=allow_deleted,
            )
    except UnicodeDecodeError as exc:
        raise click.ClickException(
            f"{path}: is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save it as UTF-8 CSV"
        ) from None
    except InvalidInput as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    except ImportRejected as exc:
        for line, message in exc.report.errors:
            click.echo(f"{path}:{line}: {message}", err=True)
        raise click.ClickException(f"{path}: {exc}") from None
    for line, message in report.errors:
        click.echo(f"{path}:{line}: skipped: {message}", err=True)
    if layout.ignored:
        click.echo(f"Ignored column{'' if len(layout.ignored) == 1 else 's'}: {', '.join(layout.ignored)}", err=True)
    if layout.own_export:
        parts = [
            f"Imported {counted(report.created, 'reader')} from {path.name}, digest's own export: each kept as "
            "exported (status, topics, zone, token, consent log), so links in mail already sent work"
            + (" (--confirmed changes none of them)" if confirmed else "")
        ]
    else:
        state = ACTIVE if confirmed else PENDING
        parts = [f"Imported {counted(report.created, 'reader')} ({state}) from {path.name}"]
        if confirmed and report.pending:
            parts.append(
                f"{report.pending:,} left pending (pending or unconfirmed in the file): "
                "they confirm by the link in their mail, --confirmed or not"
            )
    if report.already_readers:
        parts.append(f"{report.already_readers:,} already on the list, left as they were")
    if report.opted_out:
        parts.append(
            f"{report.opted_out:,} opted out (unsubscribed, bounced, complained, blocklisted or cleaned "
            "in the file): stored as such, never mailed"
        )
    if report.duplicates:
        parts.append(f"{counted(report.duplicates, 'repeated row')} skipped")
    if report.errors:
        parts.append(f"{counted(len(report.errors), 'bad row')} skipped")
    click.echo("; ".join(parts) + ".")
    if report.pending:
        _send_confirmations(app, no_mail or confirmed)  # --confirmed checked no identity: queue them


def check_size(path: Path, limit: int = MAX_IMPORT_BYTES) -> None:
    """Refuse a file over `limit` bytes, or one that is not a regular file, before reading any of it."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise click.ClickException(f"{path}: is not a regular file; save the list as a CSV file and import that")
    if info.st_size > limit:
        raise click.ClickException(
            f"{path}: the file is {info.st_size:,} bytes; the limit is {limit:,} "
            "(split it and import the parts one after the other)"
        )


def _records(app: App, status: str | None = None) -> Iterator[dict]:
    with session_scope(app.engine) as session:
        for reader in operators.all_readers(session, status):
            yield operators.reader_record(reader)


def _exported(app: App) -> Iterator[dict]:
    with session_scope(app.engine) as session:
        yield from operators.export_records(session)


def _write_json_array(records: Iterator[dict], stream) -> None:
    stream.write("[")
    for index, record in enumerate(records):
        stream.write(("," if index else "") + "\n  " + json.dumps(record, ensure_ascii=False))
    stream.write("\n]\n")


@subscribers_group.command("export")
@click.option("--json", "as_json", is_flag=True, help="JSON (an array of objects) instead of CSV.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
@pass_app
def export_command(app: App, as_json: bool, output: Path | None) -> None:
    """Export every reader with everything stored about them (status, topics, consent record and log, token).

    The CSV imports again as it was (`digest subscribers import`): each reader
    keeps their status, token (links in mail already sent keep working),
    topics, zone and consent log. Readers are read in batches, so the list may
    be as long as you like.

    \b
    Example:
        digest subscribers export --output readers.csv
        digest subscribers export --json > readers.json
    """
    stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    records = _exported(app)
    try:
        if as_json:
            _write_json_array(records, stream)
        else:
            count = write_csv(records, stream)
            if output:
                click.echo(f"Exported {counted(count, 'reader')} to {output}.", err=True)
    finally:
        records.close()  # its transaction ends here, even when writing failed half-way (a full disk)
        if output:
            stream.close()


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only readers with this status.")
@click.option("--json", "as_json", is_flag=True, help="Every stored field, as JSON (an array of objects).")
@pass_app
def list_command(app: App, status: str | None, as_json: bool) -> None:
    """List readers: id, address, status, topics and when they joined.

    \b
    Example:
        digest subscribers list --status pending
        digest subscribers list --json
    """
    if as_json:
        _write_json_array(_records(app, status), sys.stdout)
        return
    count = 0
    for record in _records(app, status):
        topics = ", ".join(record["topics"]) or "all topics"
        click.echo(
            f"{record['id']:>6}  {record['email']:<40}  {record['status']:<12}  {record['created_at'][:10]}  {topics}"
        )
        count += 1
    click.echo(f"{counted(count, 'reader')}" + (f" ({status})" if status else "") + ".", err=True)


@subscribers_group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Everything stored, as JSON.")
@pass_app
def show_command(app: App, email: str, as_json: bool) -> None:
    """Show everything stored about one reader, including their delivery ledger.

    \b
    Example:
        digest subscribers show ada@example.com --json
    """
    with session_scope(app.engine) as session:
        reader = operators.find_reader(session, email)
        record = operators.reader_record(reader)
        record["consent_log"] = history(session.connection(), reader.id)
        rows = ledger.rows_of_reader(session.connection(), reader.id)
        editions = ledger.editions_of_reader(session.connection(), reader.id)
        record["clicks"] = clicks.clicks_of_reader(session.connection(), reader.id)
    record["editions"] = [{**line, "at": line["at"] and line["at"].isoformat()} for line in editions]
    record["deliveries"] = [
        {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in row.items()}
        for row in rows
    ]
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    for key, value in record.items():
        if key in ("deliveries", "consent_log", "editions"):
            continue
        shown = ", ".join(value) if isinstance(value, list) else value
        if key == "clicks":  # SendGrid's clicks: a link scanner's look like a person's
            click.echo(f"{clicks.LABEL}: {shown}")
            continue
        click.echo(f"{key + ':':<22}{'' if shown is None else shown}")
    click.echo(f"{'deliveries:':<22}{len(record['deliveries'])}")
    click.echo("editions:" if editions else "editions:             none yet")
    for line in editions:
        when = f"{line['at']:%Y-%m-%d %H:%M} UTC" if line["at"] else "-"
        variant = "every comparison" if line["variant"] is None else ", ".join(line["variant"])
        why = f" ({line['error']})" if line["error"] else ""
        click.echo(f"  #{line['edition']:<4} {line['week']}  {line['state']:<9}  {when}  {variant}{why}")
    click.echo("consent log:")
    for line in record["consent_log"]:
        click.echo(
            f"  {line['at'][:19]}  {line['kind']:<12}  {line['status']:<12}  {line['source']}"
            + (f" (from {line['ip']})" if line["ip"] else "")
        )


@subscribers_group.command("delete")
@click.argument("email")
@yes_option
@pass_app
def delete_command(app: App, email: str, yes: bool) -> None:
    """Erase a reader, their delivery ledger, votes and events; keep only a hash of the address.

    The hash (an HMAC under DIGEST_SECRET_KEY, so a list of guessed addresses
    cannot be checked against it) lets `add` and `import` recognise the
    address and refuse to bring the reader back by mistake; a fresh sign-up
    through the web form (with its double opt-in) still works. Events SendGrid
    sends about the address later are stored without it. Mail already written
    to the outbox folder is not touched. In a terminal it asks first; without one it
    needs --yes.

    \b
    Example:
        digest subscribers delete ada@example.com --yes
    """
    normalized = validation.normalize_email(email)
    confirm(
        yes,
        f"Erase {normalized} and everything stored about them?",
        f"erasing {normalized} and everything stored about them cannot be undone",
    )
    with session_scope(app.engine) as session:
        erased = operators.delete_reader(session, normalized, utcnow())
        forget_events(session, normalized)  # provider events name the address too; same transaction
    click.echo(f"Erased {erased}; kept only a hash of the address, so it is not added again by mistake.")
    if app.settings.backend == "outbox":
        click.echo(
            f"The outbox ({app.settings.outbox}) still holds any mail written to {erased}: delete those "
            ".eml files too (digest never reads them again).",
            err=True,
        )


@subscribers_group.command("unsubscribe")
@click.argument("email")
@pass_app
def unsubscribe_command(app: App, email: str) -> None:
    """Unsubscribe a reader who asked by other means (a reply, a call), keeping their record.

    The same as their own unsubscribe link: no mail from now on (a send in
    progress skips them), and a new sign-up with its double opt-in brings them
    back. Nothing is erased; `delete` erases.

    \b
    Example:
        digest subscribers unsubscribe ada@example.com
    """
    with session_scope(app.engine) as session:
        reader, changed = operators.unsubscribe_reader(session, email, utcnow())
        if changed:
            audit.record(session, shell_actor(), Action.READER_UNSUBSCRIBE, detail=f"reader #{reader.id}")
        address, state = reader.email, reader.status
    click.echo(
        f"Unsubscribed {address}; they get no more mail."
        if changed
        else f"{address} was already {state}; nothing changed."
    )


@subscribers_group.command("suppress")
@click.argument("email")
@pass_app
def suppress_command(app: App, email: str) -> None:
    """Stop all mail to an address for good, keeping the reader's record.

    Unlike an unsubscribe, a sign-up on the web form does not bring the address
    back: no edition and no confirmation mail goes there again. Nothing is
    erased; `delete` erases.

    \b
    Example:
        digest subscribers suppress role-account@example.com
    """
    with session_scope(app.engine) as session:
        reader, changed = operators.suppress_reader(session, email, utcnow())
        if changed:
            audit.record(session, shell_actor(), Action.READER_SUPPRESS, detail=f"reader #{reader.id}")
        address, state = reader.email, reader.status
    click.echo(
        f"Suppressed {address}: no mail of any kind goes there again."
        if changed
        else f"{address} was already {state}; nothing changed."
    )
