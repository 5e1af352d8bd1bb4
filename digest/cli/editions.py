"""`digest editions build|edit|show|list|preview|send|send-test|delete`: an editor's week, one noun."""

from __future__ import annotations

import json
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email

from digest.cli.app import App, confirm, names_store, pass_app, yes_option
from digest.cli.send import send
from digest.delivery.states import DeliveryState
from digest.delivery.summary import describe_edition, describe_not_due, edition_rows
from digest.editions.service import (
    after_first_wave,
    edition_at_hand,
    edition_items,
    get_edition,
    left_behind,
)
from digest.editions.status import EditionStatus
from digest.editions.undo import delete_draft
from digest.editors.approvals import approvals_of, approve, build_as, edit_as
from digest.editors.audit import as_line, edition_log, shell_actor
from digest.errors import DeliveryError
from digest.mail import make_sender
from digest.render import render_edition
from digest.render.clip import size_report
from digest.render.preview import preview, preview_server, send_test, write_preview
from digest.send_days import first_wave
from digest.store import session_scope
from digest.weeks import parse_week, week_label
from digest.words import counted

SENT, FAILED, UNCERTAIN, SKIPPED = (
    DeliveryState.SENT,
    DeliveryState.FAILED,
    DeliveryState.UNCERTAIN,
    DeliveryState.SKIPPED,
)


def _week(_ctx, _param, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return week_label(*parse_week(value))
    except Exception as exc:  # BadWeek: its message says what a week looks like
        raise click.BadParameter(str(exc)) from None


def _slugs(_ctx, _param, value: str | None) -> list[str] | None:
    if value is None:
        return None
    slugs = [s.strip() for s in value.split(",") if s.strip()]
    if not slugs:
        raise click.BadParameter("give comparison slugs separated by commas, such as a-vs-b,c-vs-d")
    return slugs


def _topics(_ctx, _param, value: str | None) -> list[str] | None:
    if value is None:
        return None
    topics = [t.strip() for t in value.split(",") if t.strip()]
    if not topics:
        raise click.BadParameter("give topics separated by commas, such as Voice,Evaluation")
    return topics


week_option = click.option(
    "--week",
    callback=_week,
    metavar="YYYY-Www",
    help="An ISO week such as 2026-W47, in DIGEST_TIMEZONE. Default: the edition at hand "
    "(the earliest not yet sent, else the current week's).",
)
as_option = click.option(
    "--as",
    "actor",
    metavar="NAME",
    help="Who is doing this, for the audit log (an editor's name; default: shell:USER, the account running it).",
)
topics_option = click.option(
    "--topics",
    callback=_topics,
    metavar="T,T",
    help="The variant readers with these topics get (default: the whole edition, as readers with no topics get it).",
)


def _which(app: App, week: str | None, edition: int | None) -> dict:
    """The edition asked for; without --week or --edition, the one at hand (the next to go out)."""
    if week is not None and edition is not None:
        raise click.UsageError("give --week or --edition, not both")
    if edition is not None:
        return {"number": edition}
    if week is not None:
        return {"week": week}
    with session_scope(app.engine) as session:
        return edition_at_hand(session, app.settings).which()


@click.group("editions")
@click.pass_context
def editions(ctx: click.Context) -> None:
    """Build, adjust, preview and send the weekly editions.

    \b
    Example:
        digest editions build --week 2026-W47
        digest editions preview --week 2026-W47
        digest editions send --week 2026-W47
    """
    names_store(ctx)


@editions.command("build")
@week_option
@click.option("--rebuild", is_flag=True, help="Select the week's comparisons again (a draft only).")
@as_option
@pass_app
def build(app: App, week: str | None, rebuild: bool, actor: str | None) -> None:
    """Freeze a week's edition: the comparisons published that week that no edition carried.

    Without --week it means the edition at hand, like preview and send: the
    earliest edition not yet sent, or else the current week's. It carries every
    comparison published up to the end of the week that no edition carried yet
    (looking back to the newest earlier edition's week), so one imported after
    its own week's edition went out is carried over, and the command names
    those. Building a week that already has an edition shows that edition;
    --rebuild selects again (keeping the editor's intro, subject and
    exclusions) as long as its send has not begun. With no new comparison (or
    fewer than DIGEST_MIN_ITEMS) nothing is built, and the command says why.
    Comparisons dated before the newest earlier edition's week that no edition
    carried (imported late, with an old date) are not picked up: the command
    names them and the `digest editions edit N --include SLUG` that adds them.
    Prints the email's HTML size and its margin under Gmail's clipping point.

    \b
    Example:
        digest editions build
        digest editions build --week 2026-W47 --rebuild
    """
    with session_scope(app.engine) as session:
        week = week or edition_at_hand(session, app.settings).week
        result = build_as(session, app.settings, week, actor or shell_actor(), rebuild=rebuild)
        click.echo(result.reason[:1].upper() + result.reason[1:] + ".")
        if result.edition is not None:
            first = first_wave(app.engine, app.settings, week)
            late = after_first_wave(session, app.settings, result.edition, first)
            if late:
                click.echo(
                    f"Dated after its first wave ({first:%a %d %b %H:%M} UTC), so carried to the next edition "
                    f"by the scheduled send: {', '.join(c.slug for c in late)}."
                )
            items = edition_items(session, result.edition)
            if items:
                rendered = render_edition(session, result.edition, app.settings)
                click.echo(size_report(rendered.view, rendered.letter.html, click_tracking=app.settings.click_tracking))
            click.echo(
                f"Preview it with: digest editions preview --edition {result.edition.number}"
                if items
                else "It shows no comparisons."
            )
        behind = left_behind(session, app.settings, week)
        if behind:
            click.echo(_backlog_note(behind, result.edition))


def _backlog_note(behind, edition) -> str:
    """What `build` says about the comparisons it leaves out for being dated before its look back."""
    count = len(behind)
    slugs = ", ".join(f"{c.slug} ({c.published_at:%Y-%m-%d})" for c in behind)
    includes = " ".join(f"--include {c.slug}" for c in behind)
    said = (
        f"Left out: {counted(count, 'comparison')} dated before the newest earlier edition's week, "
        f"which no edition carried: {slugs}."
    )
    them = "it" if count == 1 else "them"
    if edition is not None and edition.status == EditionStatus.DRAFT and edition.frozen_at is None:
        return f"{said} To send {them} in this edition: digest editions edit {edition.number} {includes}"
    return f"{said} To send {them}, add {them} to a draft edition: digest editions edit N {includes}"


@editions.command("edit")
@click.argument("number", type=click.IntRange(min=1), metavar="N")
@click.option("--intro", help="The editor's note at the top (blank lines start paragraphs; '' removes it).")
@click.option("--subject", help="The subject line ('' goes back to the one built from the content).")
@click.option("--exclude", multiple=True, metavar="SLUG", help="Leave this comparison out (repeatable).")
@click.option(
    "--include",
    multiple=True,
    metavar="SLUG",
    help="Put an excluded comparison back, or add one no edition carried (the backlog `build` names); repeatable.",
)
@click.option("--order", callback=_slugs, metavar="SLUG,SLUG", help="Lead with these comparisons, in this order.")
@as_option
@pass_app
def edit(
    app: App,
    number: int,
    intro: str | None,
    subject: str | None,
    exclude: tuple[str, ...],
    include: tuple[str, ...],
    order: list[str] | None,
    actor: str | None,
) -> None:
    """Adjust a draft edition: intro, subject, what it leaves out and in which order.

    The change goes in the audit log, and withdraws any approval given before it.

    \b
    Example:
        digest editions edit 3 --intro "Agents everywhere this week." \\
            --exclude a-vs-b --order c-vs-d,e-vs-f
    """
    if intro is None and subject is None and not exclude and not include and not order:
        raise click.UsageError("say what to change: --intro, --subject, --exclude, --include or --order")
    with session_scope(app.engine) as session:
        changed = edit_as(
            session,
            app.settings,
            number,
            actor or shell_actor(),
            intro=intro,
            subject=subject,
            exclude=exclude,
            include=include,
            order=order,
        )
        shown = len(edition_items(session, changed))
    click.echo(f"Edition {number} updated; it shows {counted(shown, 'comparison')}.")


@editions.command("preview")
@week_option
@click.option("--edition", type=click.IntRange(min=1), metavar="N", help="An edition by number.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("preview"),
    show_default=True,
    help="The folder for edition.html and edition.txt.",
)
@click.option("--serve", is_flag=True, help="Serve a page on 127.0.0.1 instead: phone and desktop side by side.")
@click.option("--port", type=click.IntRange(0, 65535), default=8025, show_default=True, help="The port for --serve.")
@topics_option
@pass_app
def preview_command(
    app: App, week: str | None, edition: int | None, out: Path, serve: bool, port: int, topics: list[str] | None
) -> None:
    """Render an edition exactly as readers get it, with a sample reader's links.

    Without --week or --edition it shows the edition at hand: the earliest one
    not yet sent, or else the current week's (the one `send` would send).
    Writes edition.html and edition.txt, or with --serve shows them on a local
    page, with the edition's state (draft or sent, what is left out), that
    reloads by itself when a template or the edition changes, and lists the
    edition's variants (the comparisons readers with some topics get) with
    their reader counts, each one a click away. A week not built yet is
    previewed as the draft it would become. Prints the HTML's size and how far
    it stays under Gmail's clipping point. --topics shows the variant readers
    with those topics get.

    \b
    Example:
        digest editions preview --week 2026-W47 --out /tmp/preview
        digest editions preview --edition 3 --topics Voice,Evaluation
        digest editions preview --edition 3 --serve
    """
    which = _which(app, week, edition)
    if topics:
        which["topics"] = topics
    if serve:
        server = preview_server(app.engine, app.settings, port=port, **which)
        click.echo(f"Previewing at {server.url} (Ctrl+C stops).")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return
    with session_scope(app.engine) as session:
        result = preview(session, app.settings, **which)
    html_path, text_path = write_preview(result, out)
    click.echo(f"Edition {result.rendered.view.number} for {result.rendered.view.week} ({result.state.status})")
    if topics:
        click.echo(
            f"Variant for {', '.join(topics)}: {len(result.rendered.view.comparisons)} of the edition's comparisons"
        )
    click.echo(f"Subject: {result.subject}")
    click.echo(
        size_report(result.rendered.view, result.rendered.letter.html, click_tracking=app.settings.click_tracking)
    )
    click.echo(str(html_path))
    click.echo(str(text_path))


@editions.command("send-test")
@click.option("--to", "address", required=True, metavar="ADDR", help="Where the test goes.")
@week_option
@click.option("--edition", type=click.IntRange(min=1), metavar="N", help="An edition by number.")
@topics_option
@pass_app
def send_test_command(app: App, address: str, week: str | None, edition: int | None, topics: list[str] | None) -> None:
    """Send an edition to one address through the configured sender (the outbox by default).

    The subject starts with [Test] and a line opening the mail says it is a
    test; a reader's links (unsubscribe, preferences, votes) and, before the
    edition is sent, the web version's open the subscribe page, so nothing
    changes for anyone; no List-Unsubscribe header (the address is no reader).
    Without --week or --edition it sends the edition at hand, as preview does.
    --topics sends the variant readers with those topics get.

    \b
    Example:
        digest editions send-test --to editor@example.com --edition 3
        digest editions send-test --to editor@example.com --edition 3 --topics Voice
    """
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    which = _which(app, week, edition)
    if topics:
        which["topics"] = topics
    with session_scope(app.engine) as session:
        result = preview(session, app.settings, **which)
    sender = make_sender(app.settings)
    outcome = send_test(result, sender, address, app.settings.base_url)
    if address not in outcome.accepted:
        reason = outcome.rejected.get(address, "no reason given")
        raise DeliveryError(f"the {sender.name} sender did not take {address}: {reason}")
    where = f" ({app.settings.outbox})" if sender.name == "outbox" else ""
    click.echo(f"Sent a test of edition {result.rendered.view.number} to {address} through {sender.name}{where}.")


@editions.command("list")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="How many editions to show, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (an array, newest first).")
@pass_app
def editions_list(app: App, limit: int, as_json: bool) -> None:
    """Show each edition's week, status and ledger counts (sent, failed, uncertain, skipped).

    \b
    Example:
        digest editions list --limit 5
        digest editions list --json
    """
    rows = edition_rows(app.engine, limit)
    if as_json:
        records = [
            {
                "number": row.number,
                "week": row.week,
                "status": str(row.status),
                "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                "readers": {str(state): n for state, n in row.counts.items()},
            }
            for row in rows
        ]
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No editions yet (build one with: digest editions build).")
        return
    click.echo(f"{'#':>4}  {'week':<8}  {'status':<8}  {SENT:>7}  {FAILED:>6}  {UNCERTAIN:>9}  {SKIPPED:>7}  sent at")
    for row in rows:
        c = row.counts
        sent_at = f"{row.sent_at:%Y-%m-%d %H:%M} UTC" if row.sent_at else "-"
        click.echo(
            f"{row.number:>4}  {row.week:<8}  {row.status:<8}  {c[SENT]:>7,}  {c[FAILED]:>6,}  "
            f"{c[UNCERTAIN]:>9,}  {c[SKIPPED]:>7,}  {sent_at}"
        )


@editions.command("show")
@click.argument("number", type=click.IntRange(min=1))
@click.option(
    "--readers",
    "reader_limit",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Also list up to N readers from the ledger: address, state and when.",
)
@click.option("--log", "with_log", is_flag=True, help="Also print its audit log: who did what to it, and when.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@pass_app
def show(app: App, number: int, reader_limit: int, with_log: bool, as_json: bool) -> None:
    """Show one edition: its status, its comparisons in order (and those left out), who got it, and
    the approvals it has and needs (DIGEST_APPROVALS).

    \b
    Example:
        digest editions show 3
        digest editions show 3 --readers 50
        digest editions show 3 --log
    """
    with session_scope(app.engine) as session:
        info = describe_edition(session, number, readers=reader_limit, settings=app.settings)
        approvals = approvals_of(session, app.settings, get_edition(session, number=number))
        log = [as_line(entry) for entry in edition_log(session, number)] if with_log else []
    info["approvals"] = {
        "needed": approvals.needed,
        "by": list(approvals.approvers),
        "changed_by": approvals.changed_by,
    }
    if with_log:
        info["log"] = log
    if as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    click.echo(f"Edition {info['number']} ({info['week']}): {info['status']}")
    if info["sent_at"]:
        click.echo(f"Sent:     {info['sent_at'][:16].replace('T', ' ')} UTC")
    if info["subject"]:
        click.echo(f"Subject:  {info['subject']}")
    if info["intro"]:
        click.echo(f"Intro:    {info['intro']}")
    click.echo("Comparisons:")
    for item in info["comparisons"]:
        click.echo(f"  {item['position']:>2}. {item['slug']}" + ("" if item["included"] else "   (left out)"))
    if not info["comparisons"]:
        click.echo("  none")
    readers = info["readers"]
    click.echo("Readers:  " + ", ".join(f"{n:,} {state}" for state, n in readers.items()))
    for row in info.get("ledger", []):
        when = f"  {row['at'][:16].replace('T', ' ')} UTC" if row["at"] else ""
        why = f"  ({row['error']})" if row["error"] else ""
        click.echo(f"  {row['email']:<40}  {row['state']:<9}{when}{why}")
    shown, total = len(info.get("ledger", [])), sum(readers.values())
    if reader_limit and shown < total:
        click.echo(f"  ... {total - shown:,} more (--readers {total} lists them all)")
    if info["variants"]:
        click.echo("Variants (the comparisons each group of readers got):")
        for line in info["variants"]:
            plural = "comparison" if len(line["comparisons"]) == 1 else "comparisons"
            click.echo(
                f"  variant {line['variant']:<3} {line['readers']:>9,} "
                f"{'reader ' if line['readers'] == 1 else 'readers'}  {len(line['comparisons'])} "
                f"{plural}: {', '.join(line['comparisons'])}"
            )
    if info["unmatched"]:
        unmatched = info["unmatched"]
        click.echo(f"  {counted(unmatched, 'reader')} skipped: their topics match none of its comparisons")
    if info["not_due"]:
        click.echo(f"  {describe_not_due(info['not_due'])}: not mailed, not an error")
    if approvals.open and approvals.needed:
        by = ", ".join(approvals.approvers) or "nobody yet"
        click.echo(f"Approvals: {len(approvals.approvers)} of {approvals.needed} ({by})")
        if not approvals.met:
            click.echo("  " + approvals.refusal())
    if with_log:
        click.echo("Log:")
        for line in log or ["nothing recorded"]:
            click.echo(f"  {line}")


@editions.command("approve")
@click.argument("number", type=click.IntRange(min=1), metavar="N")
@click.option("--as", "name", required=True, metavar="NAME", help="The editor approving it (an account's name).")
@pass_app
def approve_command(app: App, number: int, name: str) -> None:
    """Approve a draft edition as it is now, as editor NAME (for scripts; the desk has a button).

    With DIGEST_APPROVALS=N an edition goes out only with N approvals from
    editors other than the last to change it; a change withdraws them.

    \b
    Example:
        digest editions approve 3 --as grace
    """
    with session_scope(app.engine) as session:
        state = approve(session, app.settings, number, name)
    needed = f"{len(state.approvers)} of {state.needed}" if state.needed else f"{len(state.approvers)}; none needed"
    click.echo(f"{name} approved edition {number} (approvals: {needed}).")


@editions.command("delete")
@click.argument("number", type=click.IntRange(min=1), metavar="N")
@yes_option
@pass_app
def delete(app: App, number: int, yes: bool) -> None:
    """Delete a draft edition: its comparisons are free for the next build of their week.

    Only a draft: an edition that has begun going out stays. In a terminal it
    asks first; without one it needs --yes.

    \b
    Example:
        digest editions delete 4 --yes
    """
    confirm(yes, f"Delete draft edition {number}?", f"deleting draft edition {number} cannot be undone")
    with session_scope(app.engine) as session:
        deleted = delete_draft(session, number)
    plural = "comparison" if deleted.freed == 1 else "comparisons"
    click.echo(
        f"Deleted draft edition {deleted.number} for {deleted.week}; its {deleted.freed} {plural} "
        f"can be built again (digest editions build --week {deleted.week})."
    )


editions.add_command(send)
