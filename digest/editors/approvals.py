"""The approval rule: with DIGEST_APPROVALS=N an edition goes out only with N approvals from editors
other than the last person to change it, and any change after an approval withdraws it.

The audit log is the one record: an edition's approvals are the APPROVE entries after its last change
(BUILD or EDIT), by distinct editors who still have an account, not counting the one who changed it
last. Changes made through here (`build_as`, `edit_as`) append their entry, which is what withdraws.
Only a first send is held: an edition whose send has begun (frozen) was approved as it began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from digest.editions.models import Edition
from digest.editions.service import BuildResult, build_edition, edit_edition, get_edition
from digest.editions.status import EditionStatus
from digest.editors import audit
from digest.editors.models import Editor
from digest.editors.roles import CHANGES, Action
from digest.errors import AwaitingApproval, EditorError
from digest.settings import Settings
from digest.words import counted

WHERE = "on the desk (/desk) or with `digest editions approve {number} --as NAME`"


@dataclass(frozen=True)
class Approvals:
    number: int
    needed: int
    approvers: tuple[str, ...]  # who approved since the last change
    changed_by: str | None  # who changed it last (None: no recorded change)
    open: bool  # a draft not yet frozen: approvals still matter

    @property
    def missing(self) -> int:
        return max(0, self.needed - len(self.approvers)) if self.open else 0

    @property
    def met(self) -> bool:
        return self.missing == 0

    def wanting(self) -> str:
        """'it needs 2 approvals (has 1: grace) from editors other than ada, who changed it last'"""
        has = f"has {len(self.approvers)}: {', '.join(self.approvers)}" if self.approvers else "has none"
        other = f"editors other than {self.changed_by}, who changed it last" if self.changed_by else "editors"
        return f"it needs {counted(self.needed, 'approval')} ({has}) from {other}"

    def refusal(self) -> str:
        """One line: who must approve and where."""
        return (
            f"edition {self.number} waits for approval: {self.wanting()}; approve it {WHERE.format(number=self.number)}"
        )


def approvals_of(session: Session, settings: Settings, edition: Edition) -> Approvals:
    entries = audit.edition_log(session, edition.number)
    changed_by, since = None, 0
    for index, entry in enumerate(entries):
        if entry.action in CHANGES:
            changed_by, since = entry.actor, index + 1
    accounts = set(session.exec(select(Editor.name)).all())
    approvers: list[str] = []
    for entry in entries[since:]:
        if entry.action == Action.APPROVE and entry.actor in accounts:
            if entry.actor != changed_by and entry.actor not in approvers:
                approvers.append(entry.actor)
    is_open = edition.status == EditionStatus.DRAFT and edition.frozen_at is None
    return Approvals(edition.number, settings.approvals, tuple(approvers), changed_by, is_open)


def refuse_unapproved(session: Session, settings: Settings, edition: Edition) -> None:
    """AwaitingApproval (its message the one-line refusal) unless the edition may go out."""
    if settings.approvals <= 0:
        return
    state = approvals_of(session, settings, edition)
    if not state.met:
        raise AwaitingApproval(state.refusal())


def approve(session: Session, settings: Settings, number: int, name: str) -> Approvals:
    """Editor `name` approves edition `number` as it is now."""
    edition = get_edition(session, number=number)
    if session.exec(select(Editor).where(Editor.name == name)).first() is None:
        raise EditorError(f"there is no editor {name!r} to approve as (digest editors list names them)")
    state = approvals_of(session, settings, edition)
    if not state.open:
        raise EditorError(f"edition {number} is {edition.status} and its send has begun; there is nothing to approve")
    if name == state.changed_by:
        raise EditorError(
            f"{name} changed edition {number} last, so cannot approve it; another editor must "
            f"({WHERE.format(number=number)})"
        )
    if name in state.approvers:
        raise EditorError(f"{name} has approved edition {number} already, and it has not changed since")
    audit.record(session, name, Action.APPROVE, edition=number)
    return approvals_of(session, settings, edition)


def build_as(
    session: Session, settings: Settings, week: str, actor: str, *, rebuild: bool = False, now: datetime | None = None
) -> BuildResult:
    """build_edition, with the build (or rebuild) in the audit log: a change, which withdraws approvals."""
    result = build_edition(session, settings, week, rebuild=rebuild, now=now)
    if result.edition is not None and (result.created or rebuild):
        audit.record(
            session, actor, Action.BUILD, edition=result.edition.number, detail="rebuilt" if not result.created else ""
        )
    return result


def edit_as(
    session: Session,
    settings: Settings,
    number: int,
    actor: str,
    *,
    intro: str | None = None,
    subject: str | None = None,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    order: Sequence[str] | None = None,
) -> Edition:
    """edit_edition, with the change in the audit log; approvals given before it are withdrawn."""
    edition = edit_edition(
        session,
        number,
        intro=intro,
        subject=subject,
        exclude=exclude,
        include=include,
        order=order,
        timezone=settings.timezone,
    )
    before = approvals_of(session, settings, edition).approvers
    said = [
        *(["intro"] if intro is not None else []),
        *(["subject"] if subject is not None else []),
        *([f"left out {', '.join(exclude)}"] if exclude else []),
        *([f"brought back {', '.join(include)}"] if include else []),
        *([f"order {', '.join(order)}"] if order else []),
    ]
    withdrawn = f"; withdrew the approval of {', '.join(before)}" if before else ""
    audit.record(session, actor, Action.EDIT, edition=number, detail="; ".join(said) + withdrawn)
    return edition
