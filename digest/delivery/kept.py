"""What is kept of a pruned edition: its figures, per edition and per variant, once its ledger rows and
raw events are gone (`digest db prune`, digest.stats.prune).

One row per (edition, variant): variant 0 is the whole edition, 1, 2, 3 ... its variants in the order
they were first sent. `figures` holds the counts `digest stats`, `stats --by-variant`, `editions show`
and the desk print (sent, failed, uncertain, skipped, delivered, opens, clicks, bounces, complaints,
unsubscribes, votes, readers per variant, unmatched), as they were when the edition was pruned; every
reader of those figures looks here first, so a pruned edition reads as it did before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from digest.timeutil import UTCDateTime, utcnow

WHOLE = 0  # the variant number of the row that holds the whole edition's figures


class EditionSummary(SQLModel, table=True):
    __tablename__ = "edition_summary"

    edition_id: int = Field(sa_column=sa.Column(sa.ForeignKey("edition.id"), primary_key=True))
    variant: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    figures: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    pruned_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


def kept(connection: Connection, edition_ids: Sequence[int]) -> dict[int, dict[int, dict]]:
    """edition id -> variant number (WHOLE for the edition) -> its kept figures, for the pruned ones."""
    table = EditionSummary.__table__
    out: dict[int, dict[int, dict]] = {}
    ids = sorted(set(edition_ids))
    for start in range(0, len(ids), 500):
        for edition_id, variant, figures in connection.execute(
            sa.select(table.c.edition_id, table.c.variant, table.c.figures).where(
                table.c.edition_id.in_(ids[start : start + 500])
            )
        ):
            out.setdefault(edition_id, {})[variant] = figures
    return out


def kept_one(connection: Connection, edition_id: int) -> dict[int, dict] | None:
    """One edition's kept figures (variant -> figures), or None when it was not pruned."""
    return kept(connection, [edition_id]).get(edition_id)


def write(connection: Connection, edition_id: int, rows: dict[int, dict]) -> None:
    """Keep an edition's figures (variant -> figures); the caller's transaction commits them."""
    now = utcnow()
    connection.execute(
        sa.insert(EditionSummary.__table__),
        [{"edition_id": edition_id, "variant": v, "figures": f, "pruned_at": now} for v, f in rows.items()],
    )
