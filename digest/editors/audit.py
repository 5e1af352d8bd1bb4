"""The audit log: append an entry, read an edition's entries (oldest first)."""

from __future__ import annotations

import getpass

from sqlmodel import Session, select

from digest.editors.models import AuditEntry
from digest.editors.roles import Action

MAX_DETAIL = 2000


def shell_actor() -> str:
    """Who a command run without --as is: the account it runs under, as `shell:USER`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): still someone at a shell
        user = "unknown"
    return f"shell:{user}"[:80]


def record(session: Session, actor: str, action: Action, *, edition: int | None = None, detail: str = "") -> AuditEntry:
    entry = AuditEntry(actor=actor[:80], action=Action(action).value, edition=edition, detail=detail[:MAX_DETAIL])
    session.add(entry)
    session.flush()
    return entry


def edition_log(session: Session, number: int) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).where(AuditEntry.edition == number).order_by(AuditEntry.id)).all())


def as_line(entry: AuditEntry) -> str:
    detail = f": {entry.detail}" if entry.detail else ""
    return f"{entry.at:%Y-%m-%d %H:%M} UTC  {entry.actor}  {entry.action}{detail}"
