"""Building, finding and editing editions in the store.

The pure core (digest.editions.selection: `select_for_week`, `arrange`; digest.editions.variants)
decides; the functions here read and write the store around it. An edition for ISO week W holds
the comparisons published up to the end of W that no other edition carried (looking back to the
newest earlier edition's week), newest first. Building a week twice returns the same edition; a
draft may be rebuilt. When its send begins (the first wave, or `digest editions send`) the edition
is frozen: comparisons imported since it was built join it, and from then on nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from digest.content.models import Comparison, Entry, Tool
from digest.content.versions import changes, versions_since
from digest.content.votes import as_shown
from digest.editions.models import CHANGED, RESULTS, SHOWN, Edition, EditionItem, EditionVariant, FrozenComparison
from digest.editions.selection import (
    arrange,
    backlog,
    carried_over,
    normalize_week,
    select_for_week,
    shortfall_reason,
    window_start,
)
from digest.editions.status import EditionStatus, may_become
from digest.editions.variants import Offered
from digest.errors import EditionError, NotFound
from digest.settings import Settings
from digest.store import insert_into, take_write_lock
from digest.timeutil import utcnow
from digest.weeks import parse_week, week_bounds, week_label

MAX_SUBJECT = 200
UTC_ZONE = ZoneInfo("UTC")
MAX_INTRO = 4000


@dataclass
class BuildResult:
    edition: Edition | None
    created: bool
    reason: str
    carried_over: tuple[str, ...] = ()  # slugs of comparisons from earlier weeks that it picked up


@dataclass(frozen=True)
class AtHand:
    """The edition an editor's command means when it names none: `edition` is None when the week has none yet."""

    edition: Edition | None
    week: str

    def which(self) -> dict:
        """As the keyword arguments of get_edition, preview and the like: a number, or the week."""
        return {"number": self.edition.number} if self.edition is not None else {"week": self.week}


def get_edition(session: Session, number: int | None = None, week: str | None = None) -> Edition:
    """The edition with that number, or for that week, or else the latest one."""
    query = select(Edition)
    if number is not None:
        query = query.where(Edition.number == number)
        missing = f"there is no edition {number}"
    elif week is not None:
        week = week_label(*parse_week(week))
        query = query.where(Edition.week == week)
        missing = f"there is no edition for {week} yet (build it with: digest editions build --week {week})"
    else:
        query = query.order_by(Edition.number.desc()).limit(1)
        missing = "there are no editions yet (build one with: digest editions build)"
    edition = session.exec(query).first()
    if edition is None:
        raise NotFound(missing)
    return edition


def edition_at_hand(session: Session, settings: Settings, now: datetime | None = None) -> AtHand:
    """The edition `build`, `preview`, `send-test` and `send` mean without --edition or --week.

    The edition of the earliest week not yet sent (a draft, or a send that paused
    or is under way): the next to go out. When every edition is sent, the current week's,
    which may not be built yet.
    """
    unsent = session.exec(
        select(Edition).where(Edition.status != EditionStatus.SENT).order_by(Edition.week, Edition.number).limit(1)
    ).first()  # '2026-W09' sorts
    if unsent is not None:
        return AtHand(unsent, unsent.week)
    week = normalize_week(None, settings, now)
    return AtHand(session.exec(select(Edition).where(Edition.week == week)).first(), week)


def edition_items(session: Session, edition: Edition, *, included_only: bool = True) -> list[EditionItem]:
    query = select(EditionItem).where(EditionItem.edition_id == edition.id)
    if included_only:
        query = query.where(EditionItem.included == sa.true())
    return list(session.exec(query.order_by(EditionItem.position)).all())


def edition_comparisons(session: Session, edition: Edition) -> list[Comparison]:
    """The comparisons an edition shows, in the edition's order."""
    items = edition_items(session, edition)
    if not items:
        return []
    by_id = {
        c.id: c
        for c in session.exec(select(Comparison).where(Comparison.id.in_([i.comparison_id for i in items]))).all()
    }
    return [by_id[i.comparison_id] for i in items if i.comparison_id in by_id]


def left_out(session: Session, edition: Edition) -> list[Comparison]:
    """The comparisons frozen into an edition that the editor left out, in the edition's order."""
    items = [item for item in edition_items(session, edition, included_only=False) if not item.included]
    if not items:
        return []
    by_id = {
        c.id: c
        for c in session.exec(select(Comparison).where(Comparison.id.in_([i.comparison_id for i in items]))).all()
    }
    return [by_id[i.comparison_id] for i in items if i.comparison_id in by_id]


def dated_after(comparisons: Sequence[Comparison], now: datetime) -> list[Comparison]:
    """Those of `comparisons` published after `now`: not to be sent before their date."""
    return [c for c in comparisons if c.published_at > now]


def previous_week(session: Session, week: str, exclude_edition_id: int | None = None) -> str | None:
    """The week of the newest edition before `week` (other than the one excluded), if any."""
    query = select(sa.func.max(Edition.week)).where(Edition.week < week)
    if exclude_edition_id is not None:
        query = query.where(Edition.id != exclude_edition_id)
    return session.exec(query).one()


def candidates_for_week(
    session: Session, settings: Settings, week: str, exclude_edition_id: int | None = None
) -> list[Comparison]:
    """What an edition for `week` would hold now: the selection, read from the store."""
    week_start, end = week_bounds(week, settings.timezone)
    previous = previous_week(session, week, exclude_edition_id)
    start = window_start(week_start, week_bounds(previous, settings.timezone)[0] if previous else None)
    published = session.exec(
        select(Comparison).where(Comparison.published_at >= start, Comparison.published_at < end)
    ).all()
    carried_query = select(EditionItem.comparison_id)
    if exclude_edition_id is not None:
        carried_query = carried_query.where(EditionItem.edition_id != exclude_edition_id)
    if published:
        carried_query = carried_query.where(EditionItem.comparison_id.in_([c.id for c in published]))
    carried = set(session.exec(carried_query).all())
    return select_for_week(published, carried, start, end)


def left_behind(session: Session, settings: Settings, week: str) -> list[Comparison]:
    """The backlog a build of `week` leaves out (digest.editions.selection.backlog): comparisons no
    edition carried, dated before the newest earlier edition's week and not before the first edition's."""
    previous = previous_week(session, week)
    first = session.exec(select(sa.func.min(Edition.week))).one()
    if previous is None or first is None:
        return []
    start = window_start(week_bounds(week, settings.timezone)[0], week_bounds(previous, settings.timezone)[0])
    floor = week_bounds(first, settings.timezone)[0]
    if floor >= start:
        return []
    published = session.exec(
        select(Comparison).where(Comparison.published_at >= floor, Comparison.published_at < start)
    ).all()
    if not published:
        return []
    carried = set(
        session.exec(
            select(EditionItem.comparison_id).where(EditionItem.comparison_id.in_([c.id for c in published]))
        ).all()
    )
    return backlog(published, carried, floor, start)


def carried_slugs(picked: Sequence[Comparison], week: str, settings: Settings) -> tuple[str, ...]:
    return tuple(c.slug for c in carried_over(picked, week_bounds(week, settings.timezone)[0]))


def _carried_note(carried: Sequence[str]) -> str:
    if not carried:
        return ""
    return f" ({len(carried)} carried over from earlier weeks: {', '.join(carried)})"


def next_number(session: Session) -> int:
    return (session.exec(select(sa.func.max(Edition.number))).one() or 0) + 1


def _freeze(
    session: Session, edition: Edition, picked: Sequence[Comparison], excluded: set[int], *, first_position: int = 1
) -> None:
    for position, comparison in enumerate(picked, start=first_position):
        session.add(
            EditionItem(
                edition_id=edition.id,
                comparison_id=comparison.id,
                position=position,
                included=comparison.id not in excluded,
            )
        )


def build_edition(
    session: Session, settings: Settings, week: str | None = None, *, rebuild: bool = False, now: datetime | None = None
) -> BuildResult:
    """Freeze the edition for `week` (default: the current week), or return the one already built."""
    week = normalize_week(week, settings, now)
    existing = session.exec(select(Edition).where(Edition.week == week)).first()
    if existing is not None and not rebuild:
        return BuildResult(existing, False, f"edition {existing.number} for {week} was already built")
    if existing is not None and (existing.status != EditionStatus.DRAFT or existing.frozen_at is not None):
        raise EditionError(f"edition {existing.number} for {week} is {_state(existing)}; only a draft can be rebuilt")

    picked = candidates_for_week(session, settings, week, existing.id if existing else None)
    carried = carried_slugs(picked, week, settings)
    reason = shortfall_reason(len(picked), week, settings.min_items)
    if reason is not None:
        if existing is not None:
            return BuildResult(existing, False, f"{reason}; edition {existing.number} was left as it was")
        return BuildResult(None, False, reason)

    if existing is not None:
        old = edition_items(session, existing, included_only=False)
        excluded = {item.comparison_id for item in old if not item.included}  # the editor's choice stands
        for item in old:
            session.delete(item)
        session.flush()
        _freeze(session, existing, picked, excluded)
        session.flush()
        return BuildResult(
            existing,
            False,
            f"edition {existing.number} for {week} was rebuilt with {len(picked)} comparisons{_carried_note(carried)}",
            carried,
        )

    take_write_lock(session)  # the number is read, then written: no other writer in between
    for _attempt in range(5):
        savepoint = session.begin_nested()
        try:
            edition = Edition(number=next_number(session), week=week, status=EditionStatus.DRAFT)
            session.add(edition)
            session.flush()
            _freeze(session, edition, picked, set())
            session.flush()
        except IntegrityError:
            # Someone else built an edition at the same moment: theirs for this week wins,
            # or they took our number for another week and we try the next one.
            savepoint.rollback()
            same_week = session.exec(select(Edition).where(Edition.week == week)).first()
            if same_week is not None:
                return BuildResult(same_week, False, f"edition {same_week.number} for {week} was already built")
            continue
        savepoint.commit()
        plural = "comparison" if len(picked) == 1 else "comparisons"
        return BuildResult(
            edition,
            True,
            f"edition {edition.number} for {week} built with {len(picked)} {plural}{_carried_note(carried)}",
            carried,
        )
    raise EditionError(f"could not number the edition for {week}; other builds kept taking the number, try again")


def _one_line(text: str, what: str, limit: int) -> str:
    value = " ".join(text.split())
    if len(value) > limit:
        raise EditionError(f"{what} is {len(value)} characters; at most {limit} are allowed")
    return value


def refuse_unless_draft(edition: Edition) -> None:
    """EditionError unless `edition` may be edited: a draft whose send has not begun."""
    if edition.status != EditionStatus.DRAFT or edition.frozen_at is not None:
        raise EditionError(f"edition {edition.number} is {_state(edition)}; only a draft can be edited")


def clean_subject(subject: str) -> str:
    """The subject as stored (one line; '' for the one built from the content); EditionError when too long."""
    return _one_line(subject, "the subject", MAX_SUBJECT)


def clean_intro(intro: str) -> str:
    """The intro as stored ('' for none); EditionError when too long."""
    text = intro.replace("\r\n", "\n").strip()
    if len(text) > MAX_INTRO:
        raise EditionError(f"the intro is {len(text)} characters; at most {MAX_INTRO} are allowed")
    return text


def edit_edition(
    session: Session,
    number: int,
    *,
    intro: str | None = None,
    subject: str | None = None,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    order: Sequence[str] | None = None,
    timezone: ZoneInfo = UTC_ZONE,
) -> Edition:
    """Change a draft: its intro, subject, which comparisons it leaves out and their order.

    An empty intro or subject clears the editor's text (the subject is then built
    from the content again). Excluded comparisons stay frozen in the edition, so
    no later edition picks them up. `include` puts an excluded comparison back, or
    adds one no edition carries that is dated before the end of the edition's week
    (in `timezone`, the newsletter's): the backlog `build` names.
    """
    edition = get_edition(session, number=number)
    refuse_unless_draft(edition)
    if subject is not None:
        edition.subject = clean_subject(subject) or None
    if intro is not None:
        edition.intro = clean_intro(intro) or None

    items = edition_items(session, edition, included_only=False)
    slugs = (
        dict(
            session.exec(
                select(Comparison.id, Comparison.slug).where(Comparison.id.in_([i.comparison_id for i in items]))
            ).all()
        )
        if items
        else {}
    )
    by_slug = {slugs[item.comparison_id]: item for item in items}
    for slug in include:
        if slug not in by_slug:  # the backlog: a comparison no edition carried joins this draft at the end
            item = _take_in(session, edition, slug, max((i.position for i in items), default=0) + 1, timezone)
            items.append(item)
            slugs[item.comparison_id] = slug
            by_slug[slug] = item
    for slug in exclude:
        if slug not in by_slug:
            raise EditionError(f"{slug!r} is not in edition {number} (it holds: {', '.join(by_slug) or 'nothing'})")
    both = set(exclude) & set(include)
    if both:
        raise EditionError(f"{', '.join(sorted(both))} cannot be both excluded and included")
    for slug in exclude:
        by_slug[slug].included = False
    for slug in include:
        by_slug[slug].included = True
    if not any(item.included for item in items):
        raise EditionError(f"edition {number} would have no comparisons left; keep at least one")

    if order:
        hidden = [slug for slug in order if slug in by_slug and not by_slug[slug].included]
        if hidden:
            raise EditionError(
                f"--order names {', '.join(hidden)}, left out of edition {number}; put "
                f"{'it' if len(hidden) == 1 else 'them'} back with --include first "
                "(in the same command is fine), or leave it out of --order"
            )
        current = [slugs[item.comparison_id] for item in items]
        for position, slug in enumerate(arrange(current, order), start=1):
            by_slug[slug].position = position
    session.add(edition)
    session.flush()
    return edition


def _take_in(session: Session, edition: Edition, slug: str, position: int, timezone: ZoneInfo) -> EditionItem:
    """An EditionItem adding comparison `slug` to the draft `edition`: one no edition carries, dated
    before the end of the edition's week (so a backlog comparison, or one left out of a deleted draft)."""
    comparison = session.exec(select(Comparison).where(Comparison.slug == slug)).first()
    if comparison is None:
        raise EditionError(f"there is no comparison {slug!r} (digest comparisons list names them)")
    holder = session.exec(
        select(Edition.number)
        .join(EditionItem, EditionItem.edition_id == Edition.id)
        .where(EditionItem.comparison_id == comparison.id)
    ).first()
    if holder is not None:
        raise EditionError(f"{slug!r} is in edition {holder} already; a comparison goes out in one edition")
    if comparison.published_at >= week_bounds(edition.week, timezone)[1]:
        raise EditionError(
            f"{slug!r} is dated {comparison.published_at:%Y-%m-%d}, after edition {edition.number}'s week "
            f"({edition.week}); the edition of its own week carries it"
        )
    item = EditionItem(edition_id=edition.id, comparison_id=comparison.id, position=position, included=True)
    session.add(item)
    session.flush()
    return item


def change_status(
    connection: Connection | Session, edition_id: int, to: EditionStatus, *, now: datetime | None = None
) -> bool:
    """Move an edition to status `to`: the one write of `Edition.status` (see digest.editions.status).

    One UPDATE, made conditional on the statuses `to` may be reached from (`status.TRANSITIONS`), so a
    change another worker made first is never undone (a paused run does not unsend an edition that
    another worker has just finished). Becoming sent stamps `sent_at`. Returns whether it changed a row;
    the caller's transaction commits it.
    """
    to = EditionStatus(to)
    table = Edition.__table__
    values = {"status": to.value, **({"sent_at": now or utcnow()} if to is EditionStatus.SENT else {})}
    statement = (
        sa.update(table)
        .where(table.c.id == edition_id, table.c.status.in_([s.value for s in may_become(to)]))
        .values(**values)
    )
    return connection.execute(statement).rowcount > 0


def _state(edition: Edition) -> str:
    if edition.status == EditionStatus.DRAFT and edition.frozen_at is not None:
        return f"frozen (its send began at {edition.frozen_at:%Y-%m-%d %H:%M} UTC)"
    return edition.status


# --- freezing, and the edition as variants see it ---------------------------------------------------


@dataclass(frozen=True)
class Frozen:
    """What freezing an edition did: nothing (it was frozen already), or these additions."""

    now: bool  # this call froze it
    added: tuple[str, ...] = ()  # comparisons imported since it was built, added at the end
    carried_over: tuple[str, ...] = ()  # of everything it holds, the comparisons from earlier weeks
    carried_on: tuple[str, ...] = ()  # dated after its first wave: left for the next edition

    def describe(self, edition: Edition) -> str:
        if not self.now:
            return f"edition {edition.number} for {edition.week} was frozen already"
        parts = [f"edition {edition.number} for {edition.week} frozen"]
        if self.added:
            parts.append(f"added since it was built: {', '.join(self.added)}")
        if self.carried_on:
            parts.append(f"dated after its first wave, so carried to the next edition: {', '.join(self.carried_on)}")
        parts.append(
            f"carried over from earlier weeks: {', '.join(self.carried_over)}"
            if self.carried_over
            else "nothing carried over from earlier weeks"
        )
        return "; ".join(parts)


def freeze_edition(
    session: Session,
    settings: Settings,
    edition: Edition,
    now: datetime | None = None,
    *,
    carry_after: datetime | None = None,
) -> Frozen:
    """Fix the edition's comparisons as its send begins. Those published up to the end of its week and
    imported since it was built join it (after the ones it holds, so the editor's order stands).
    With `carry_after` (the moment of its first wave), a comparison dated after it is not sent now:
    it leaves the edition (no item holds it) and the next edition carries it.
    One conditional UPDATE decides who freezes it, so two senders starting at once freeze it once.
    Each comparison it shows is kept as mailed (FrozenComparison)."""
    table = Edition.__table__
    claimed = (
        session.connection()
        .execute(
            sa.update(table)
            .where(table.c.id == edition.id, table.c.frozen_at.is_(None))
            .values(frozen_at=now or utcnow())
        )
        .rowcount
    )
    session.refresh(edition)
    if not claimed:
        return Frozen(now=False)
    carried_on: list[str] = []
    if carry_after is not None:
        for comparison in dated_after(edition_comparisons(session, edition), carry_after):
            session.execute(
                sa.delete(EditionItem).where(
                    EditionItem.edition_id == edition.id, EditionItem.comparison_id == comparison.id
                )
            )
            carried_on.append(comparison.slug)
        session.flush()
    items = edition_items(session, edition, included_only=False)
    late = late_comparisons(session, settings, edition)
    if carry_after is not None:
        carried_on += [c.slug for c in dated_after(late, carry_after)]
        late = [c for c in late if c.published_at <= carry_after]
    _freeze(session, edition, late, set(), first_position=max((i.position for i in items), default=0) + 1)
    session.flush()
    shown = edition_comparisons(session, edition)
    keep_as_mailed(session, edition, shown)
    return Frozen(
        now=True,
        added=tuple(c.slug for c in late),
        carried_over=carried_slugs(shown, edition.week, settings),
        carried_on=tuple(carried_on),
    )


def _keep(session: Session, edition: Edition, role: str, facts: dict[int, dict]) -> None:
    for comparison_id, value in facts.items():
        session.add(
            FrozenComparison(
                edition_id=edition.id,
                comparison_id=comparison_id,
                role=role,
                facts=json.dumps(value, ensure_ascii=False, sort_keys=True),
            )
        )
    session.flush()


def keep_as_mailed(session: Session, edition: Edition, comparisons: Sequence[Comparison]) -> None:
    """Keep each comparison as the edition shows it now, community figure included (FrozenComparison):
    what its mail, web version and archive show from then on. And the verdict loop, frozen with it:
    the votes on the previous edition's comparisons (RESULTS) and the comparisons earlier editions
    mailed that changed in a way that matters since the previous edition froze (CHANGED)."""
    _keep(session, edition, SHOWN, as_shown(session, comparisons))
    previous = session.exec(
        select(Edition)
        .where(Edition.number < edition.number, Edition.frozen_at.is_not(None))
        .order_by(Edition.number.desc())
        .limit(1)
    ).first()
    if previous is not None:
        _keep(session, edition, RESULTS, as_shown(session, edition_comparisons(session, previous)))
    _keep(session, edition, CHANGED, changed_since(session, edition, previous.frozen_at if previous else None))


def changed_since(session: Session, edition: Edition, since: datetime | None) -> dict[int, dict]:
    """comparison id -> {"old": as an earlier edition mailed it, "new": as it is now, "edition": that
    edition's number}, for the comparisons earlier editions mailed that a re-import changed (a version
    recorded after `since`) in a way that matters (digest.content.versions.changes)."""
    item = EditionItem.__table__
    carried = session.exec(
        sa.select(item.c.comparison_id, Edition.id, Edition.number)
        .join(Edition, Edition.id == item.c.edition_id)
        .where(item.c.included == sa.true(), Edition.frozen_at.is_not(None), Edition.id != edition.id)
    ).all()
    where = {comparison_id: (edition_id, number) for comparison_id, edition_id, number in carried}
    moved = versions_since(session, list(where), since or datetime.min.replace(tzinfo=UTC_ZONE))
    if not moved:
        return {}
    mailed = as_mailed(session, sorted({where[c][0] for c in moved}))
    comparisons = list(session.exec(select(Comparison).where(Comparison.id.in_(sorted(moved)))).all())
    now = as_shown(session, comparisons)
    found = {}
    for comparison in comparisons:
        edition_id, number = where[comparison.id]
        old = mailed.get((edition_id, comparison.id))
        if old is not None and changes(old, now[comparison.id]):
            found[comparison.id] = {"old": old, "new": now[comparison.id], "edition": number}
    return found


def as_mailed(session: Session, edition_ids: Sequence[int], role: str = SHOWN) -> dict[tuple[int, int], dict]:
    """(edition id, comparison id) -> the comparison as that edition froze it in `role`, for frozen editions."""
    if not edition_ids:
        return {}
    rows = session.exec(
        select(FrozenComparison).where(
            FrozenComparison.edition_id.in_(list(edition_ids)), FrozenComparison.role == role
        )
    ).all()
    return {(row.edition_id, row.comparison_id): json.loads(row.facts) for row in rows}


def after_first_wave(session: Session, settings: Settings, edition: Edition, first_wave: datetime) -> list[Comparison]:
    """The comparisons an edition holds, or would take in as it freezes, dated after its first wave: the
    scheduled send carries them to the next edition (the send plan says so before the first wave)."""
    if edition.frozen_at is not None:
        return []
    return dated_after(edition_comparisons(session, edition) + late_comparisons(session, settings, edition), first_wave)


def late_comparisons(session: Session, settings: Settings, edition: Edition) -> list[Comparison]:
    """Comparisons its week's selection holds now that the edition does not: imported since it was built."""
    held = {item.comparison_id for item in edition_items(session, edition, included_only=False)}
    picked = candidates_for_week(session, settings, edition.week, exclude_edition_id=edition.id)
    return [c for c in picked if c.id not in held]


def offered(session: Session, edition: Edition, comparisons: Sequence[Comparison] | None = None) -> list[Offered]:
    """The edition's comparisons in its order (or those given), each with its tools' categories: what
    variants choose from."""
    comparisons = edition_comparisons(session, edition) if comparisons is None else comparisons
    if not comparisons:
        return []
    categories: dict[int, set[str]] = {c.id: set() for c in comparisons}
    for comparison_id, category in session.exec(
        sa.select(Entry.comparison_id, Tool.category)
        .join(Tool, Tool.id == Entry.tool_id)
        .where(Entry.comparison_id.in_(list(categories)))
    ).all():
        categories[comparison_id].add(category)
    return [Offered(c.id, c.slug, frozenset(categories[c.id])) for c in comparisons]


def variant_id(connection, edition_id: int, key: str) -> int:
    """The id of the edition's variant `key`, registered on first use (safe when two senders race)."""
    table = EditionVariant.__table__
    connection.execute(
        insert_into(connection, table)
        .values(edition_id=edition_id, comparisons=key)
        .on_conflict_do_nothing(index_elements=["edition_id", "comparisons"])
    )
    return connection.execute(
        sa.select(table.c.id).where(table.c.edition_id == edition_id, table.c.comparisons == key)
    ).scalar_one()


def variant_keys(connection, edition_id: int) -> dict[int, str]:
    """variant id -> key, for one edition."""
    table = EditionVariant.__table__
    return dict(
        connection.execute(
            sa.select(table.c.id, table.c.comparisons).where(table.c.edition_id == edition_id).order_by(table.c.id)
        ).all()
    )
