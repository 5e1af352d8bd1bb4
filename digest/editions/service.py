"""Building, finding and editing editions in the store.

The pure core (digest.editions.selection: `select_for_week`, `arrange`) decides;
the functions here read and write the store around it. An edition for ISO week W holds the
comparisons published in W (on the newsletter's calendar) that no other edition
carried, newest first. Building a week twice returns the same edition; a draft
may be rebuilt, a sent one may not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from digest.content.models import Comparison
from digest.editions.models import Edition, EditionItem
from digest.editions.selection import arrange, normalize_week, select_for_week, shortfall_reason
from digest.errors import EditionError, NotFound
from digest.settings import Settings
from digest.weeks import parse_week, week_bounds, week_label

MAX_SUBJECT = 200
MAX_INTRO = 4000


@dataclass
class BuildResult:
    edition: Edition | None
    created: bool
    reason: str


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
    unsent = session.exec(select(Edition).where(Edition.status != "sent")
                          .order_by(Edition.week, Edition.number).limit(1)).first()  # '2026-W09' sorts
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
    by_id = {c.id: c for c in session.exec(
        select(Comparison).where(Comparison.id.in_([i.comparison_id for i in items]))).all()}
    return [by_id[i.comparison_id] for i in items if i.comparison_id in by_id]


def left_out(session: Session, edition: Edition) -> list[Comparison]:
    """The comparisons frozen into an edition that the editor left out, in the edition's order."""
    items = [item for item in edition_items(session, edition, included_only=False) if not item.included]
    if not items:
        return []
    by_id = {c.id: c for c in session.exec(
        select(Comparison).where(Comparison.id.in_([i.comparison_id for i in items]))).all()}
    return [by_id[i.comparison_id] for i in items if i.comparison_id in by_id]


def dated_after(comparisons: Sequence[Comparison], now: datetime) -> list[Comparison]:
    """Those of `comparisons` published after `now`: not to be sent before their date."""
    return [c for c in comparisons if c.published_at > now]


def candidates_for_week(session: Session, settings: Settings, week: str,
                        exclude_edition_id: int | None = None) -> list[Comparison]:
    """What an edition for `week` would hold now: the selection, read from the store."""
    start, end = week_bounds(week, settings.timezone)
    published = session.exec(select(Comparison).where(
        Comparison.published_at >= start, Comparison.published_at < end)).all()
    carried_query = select(EditionItem.comparison_id)
    if exclude_edition_id is not None:
        carried_query = carried_query.where(EditionItem.edition_id != exclude_edition_id)
    if published:
        carried_query = carried_query.where(EditionItem.comparison_id.in_([c.id for c in published]))
    carried = set(session.exec(carried_query).all())
    return select_for_week(published, carried, start, end)


def next_number(session: Session) -> int:
    return (session.exec(select(sa.func.max(Edition.number))).one() or 0) + 1


def _freeze(session: Session, edition: Edition, picked: Sequence[Comparison], excluded: set[int]) -> None:
    for position, comparison in enumerate(picked, start=1):
        session.add(EditionItem(edition_id=edition.id, comparison_id=comparison.id, position=position,
                                included=comparison.id not in excluded))


def build_edition(session: Session, settings: Settings, week: str | None = None, *,
                  rebuild: bool = False, now: datetime | None = None) -> BuildResult:
    """Freeze the edition for `week` (default: the current week), or return the one already built."""
    week = normalize_week(week, settings, now)
    existing = session.exec(select(Edition).where(Edition.week == week)).first()
    if existing is not None and not rebuild:
        return BuildResult(existing, False, f"edition {existing.number} for {week} was already built")
    if existing is not None and existing.status != "draft":
        raise EditionError(f"edition {existing.number} for {week} is {existing.status}; "
                           "only a draft can be rebuilt")

    picked = candidates_for_week(session, settings, week, existing.id if existing else None)
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
        return BuildResult(existing, False, f"edition {existing.number} for {week} was rebuilt "
                                            f"with {len(picked)} comparisons")

    for _attempt in range(5):
        savepoint = session.begin_nested()
        try:
            edition = Edition(number=next_number(session), week=week, status="draft")
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
        return BuildResult(edition, True, f"edition {edition.number} for {week} built "
                                          f"with {len(picked)} {plural}")
    raise EditionError(f"could not number the edition for {week}; other builds kept taking the number, try again")


def _one_line(text: str, what: str, limit: int) -> str:
    value = " ".join(text.split())
    if len(value) > limit:
        raise EditionError(f"{what} is {len(value)} characters; at most {limit} are allowed")
    return value


def edit_edition(session: Session, number: int, *, intro: str | None = None, subject: str | None = None,
                 exclude: Sequence[str] = (), include: Sequence[str] = (),
                 order: Sequence[str] | None = None) -> Edition:
    """Change a draft: its intro, subject, which comparisons it leaves out and their order.

    An empty intro or subject clears the editor's text (the subject is then built
    from the content again). Excluded comparisons stay frozen in the edition, so
    no later edition picks them up.
    """
    edition = get_edition(session, number=number)
    if edition.status != "draft":
        raise EditionError(f"edition {number} is {edition.status}; only a draft can be edited")
    if subject is not None:
        edition.subject = _one_line(subject, "the subject", MAX_SUBJECT) or None
    if intro is not None:
        text = intro.replace("\r\n", "\n").strip()
        if len(text) > MAX_INTRO:
            raise EditionError(f"the intro is {len(text)} characters; at most {MAX_INTRO} are allowed")
        edition.intro = text or None

    items = edition_items(session, edition, included_only=False)
    slugs = dict(session.exec(select(Comparison.id, Comparison.slug).where(
        Comparison.id.in_([i.comparison_id for i in items]))).all()) if items else {}
    by_slug = {slugs[item.comparison_id]: item for item in items}
    for slug in [*exclude, *include]:
        if slug not in by_slug:
            raise EditionError(f"{slug!r} is not in edition {number} "
                               f"(it holds: {', '.join(by_slug) or 'nothing'})")
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
            raise EditionError(f"--order names {', '.join(hidden)}, left out of edition {number}; put "
                               f"{'it' if len(hidden) == 1 else 'them'} back with --include first "
                               "(in the same command is fine), or leave it out of --order")
        current = [slugs[item.comparison_id] for item in items]
        for position, slug in enumerate(arrange(current, order), start=1):
            by_slug[slug].position = position
    session.add(edition)
    session.flush()
    return edition
