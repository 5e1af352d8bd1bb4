"""`digest comparisons import|list|show|remove`: the comparison store from the command line."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime

import click

from digest.cli.app import App, confirm, pass_app, yes_option
from digest.content.catalog import get_comparison, list_comparisons
from digest.content.importer import read_records, write_records
from digest.content.versions import history as comparison_history
from digest.editions.undo import remove_comparison
from digest.store import session_scope
from digest.weeks import parse_week


def _parse_when(_ctx, _param, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"expected an ISO date or datetime such as 2026-11-16 or 2026-11-16T09:00:00+01:00, got {value!r}"
        ) from None
    return moment


def _check_week(_ctx, _param, value: str | None) -> str | None:
    if value is not None:
        parse_week(value)  # raises BadWeek with the expected form
    return value


@click.group()
def comparisons() -> None:
    """Import, list, read and remove the comparisons.

    \b
    Example:
        digest comparisons import exports/
        digest comparisons list --week 2026-W47
    """


@comparisons.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--published-at",
    callback=_parse_when,
    metavar="WHEN",
    help="Publication date for page exports (ISO date or datetime; a bare date or time "
    "is read in DIGEST_TIMEZONE). Default: now for new comparisons; "
    "re-imported ones keep their date.",
)
@pass_app
def import_command(app: App, paths: tuple[str, ...], published_at: datetime | None) -> None:
    """Import comparison page exports (.txt) and JSON files, or folders of them.

    All files are checked before anything is written (the first import creates
    the store, and says so), and the whole run is one transaction: one bad file
    means nothing from this run is stored. A tool that appears in several
    comparisons is stored once; a comparison imported again is updated, and each
    change is kept as a version (see `show --history`). An import whose slug is
    a stored comparison of other tools is refused, naming both.

    A page export (.txt) is one field per line, as the site exports a
    comparison page: an optional `AI tool comparison` banner, the title
    `Tool A vs Tool B`, a summary line, then a block per tool (category, name,
    tagline, `75%` + `Panel ship`, the community vote or `—` + `Community`, the
    entry price + `Entry`, a description of one or more lines), then `Reviewer
    scorecard` and eight quotes in curly quotes: builder A, builder B,
    competition A, competition B, thesis A, thesis B, buyer A, buyer B. Lines
    after the scorecard are ignored. The JSON form is in README.md.

    \b
    Example:
        digest comparisons import exports/ --published-at 2026-11-16
    """
    if published_at is not None and published_at.tzinfo is None:
        published_at = published_at.replace(tzinfo=app.settings.timezone).astimezone(UTC)
    records = read_records(paths)  # every file checked before the store is opened (or created)
    with session_scope(app.store(create=True)) as session:
        report = write_records(session, records, site_url=app.settings.site_url, published_at=published_at)
    click.echo(f"Imported {report.summary()}")


@comparisons.command("list")
@click.option("--week", callback=_check_week, metavar="YYYY-Www", help="Only this ISO week (in DIGEST_TIMEZONE).")
@click.option("--json", "as_json", is_flag=True, help="Every stored field, as JSON.")
@pass_app
def comparisons_list(app: App, week: str | None, as_json: bool) -> None:
    """List comparisons, newest first.

    \b
    Example:
        digest comparisons list --week 2026-W47 --json
    """
    with session_scope(app.engine) as session:
        rows = list_comparisons(session, app.settings.timezone, week)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No comparisons" + (f" in {week}." if week else " yet. Try: digest comparisons import FILE"))
        return
    click.echo(f"{'published':<11} {'week':<9} {'panel':>11}  title")
    for row in rows:
        local = datetime.fromisoformat(row["published_at"].replace("Z", "+00:00")).astimezone(app.settings.timezone)
        panel = " / ".join(f"{t['panel_ship']:g}%" for t in row["tools"])
        click.echo(f"{local:%Y-%m-%d}  {row['week']:<9} {panel:>11}  {row['title']}")
        click.echo(f"{'':>34}{row['slug']}")


def _format_share(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"


def _show_history(lines, slug: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([line.as_dict() for line in lines], indent=2, ensure_ascii=False))
        return
    if not lines:
        click.echo(f"{slug} has no recorded versions (it was stored before versions were kept, or not imported).")
        return
    for line in lines:
        when = f"{line.recorded_at:%Y-%m-%d %H:%M} UTC"
        if line.number == 1:
            click.echo(f"version 1  {when}  first imported")
        elif line.changes:
            click.echo(f"version {line.number}  {when}  changed:")
            for change in line.changes:
                what = f"{change.what} of {change.tool}" if change.tool else change.what
                click.echo(f"    {what}: {change.old} -> {change.new}")
        else:
            click.echo(f"version {line.number}  {when}  updated (nothing readers are told about: text or a date)")


@comparisons.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Every stored field, as JSON.")
@click.option(
    "--history", is_flag=True, help="Its versions instead: each import that changed it, dated, and what changed."
)
@pass_app
def comparisons_show(app: App, slug: str, as_json: bool, history: bool) -> None:
    """Show one comparison: both tools, their figures and the reviewer scorecard.

    With --history, its versions: each import that created or changed it, with its
    date and the changes readers are told about (the panel's pick, a ship share,
    an entry price, a tool's verdict).

    \b
    Example:
        digest comparisons show heygen-interactive-avatar-sdk-v3-vs-smolvlm2-turbo --history
    """
    if history:
        with session_scope(app.engine) as session:
            lines = comparison_history(session, slug)
        _show_history(lines, slug, as_json)
        return
    with session_scope(app.engine) as session:
        row = get_comparison(session, slug, app.settings.timezone)
    if as_json:
        click.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    click.secho(row["title"], bold=True)
    click.echo(f"{row['summary']}\n{row['url']}\npublished {row['published_at']} ({row['week']})\n")
    names = {t["slug"]: t["name"] for t in row["tools"]}
    width = max(len(t["name"]) for t in row["tools"]) + 2
    source = "readers' votes" if row["community_source"] == "readers" else "the site's figure"
    click.echo(f"{'':<{width}}{'panel ship':>11}{'community':>11}{'votes':>7}  entry  (community: {source})")
    for tool in row["tools"]:
        # The community figure editions show now (one definition: digest.content.votes.community).
        community = tool.get("community_now")
        click.echo(
            f"{tool['name']:<{width}}{tool['panel_ship']:>10g}%{_format_share(community):>11}"
            f"{tool.get('votes', 0):>7}  {tool['entry_price']}"
        )
    for tool in row["tools"]:
        click.echo(f"\n{tool['name']} ({tool['category']}): {tool['tagline']}")
        click.echo(textwrap.fill(tool["description"], 88, initial_indent="  ", subsequent_indent="  "))
    click.echo("\nReviewer scorecard")
    for review in row["reviews"]:
        click.echo(f"\n  [{review['lens']}] {names[review['tool']]} ({review['verdict']})")
        click.echo(textwrap.fill(f"“{review['quote']}”", 88, initial_indent="    ", subsequent_indent="    "))


@comparisons.command("remove")
@click.argument("slug")
@yes_option
@pass_app
def comparisons_remove(app: App, slug: str, yes: bool) -> None:
    """Remove a comparison imported by mistake, with its reviews and readers' votes.

    Refused, saying why, once an edition that has begun going out shows it. A
    draft edition that holds it lets it go; a tool no other comparison has goes
    with it. In a terminal it asks first, unless --yes.

    \b
    Example:
        digest comparisons remove a-vs-b --yes
    """
    confirm(yes, f"Remove the comparison {slug}?", f"removing the comparison {slug} cannot be undone")
    app.name_store = True  # it changes draft editions: say whose
    with session_scope(app.engine) as session:
        removed = remove_comparison(session, slug)
    click.echo(f"Removed {removed.slug} ({removed.title}).")
    if removed.drafts:
        click.echo(f"Taken out of draft edition {', '.join(str(n) for n in removed.drafts)}.")
    for number in removed.emptied:
        click.echo(f"Draft edition {number} now holds no comparison: delete it with digest editions delete {number}.")
    if removed.tools:
        click.echo(f"Removed the tools no other comparison has: {', '.join(removed.tools)}.")
