"""Run records: the database's memory of each slot, which the catch-up rule reads.

Writers hold the job's lease, so read-then-write here never races another
instance; the unique (job, slot) constraint is the backstop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from schedules.clock import system_now
from schedules.models import JobRun
from schedules.outcomes import OUTCOMES, RunOutcome

_run = JobRun.__table__


@dataclass(frozen=True)
class RunRecord:
    job: str
    slot: datetime
    outcome: str
    detail: str | None
    holder: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None


def _record(row) -> RunRecord:
    return RunRecord(
        row.job, row.slot, row.outcome, row.detail, row.holder, row.attempts, row.started_at, row.finished_at
    )


def find(engine: Engine, job: str, slot: datetime) -> RunRecord | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(_run).where(_run.c.job == job, _run.c.slot == slot)).first()
    return None if row is None else _record(row)


def latest(engine: Engine, job: str) -> RunRecord | None:
    """The record of the most recent slot of `job`."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(_run).where(_run.c.job == job).order_by(_run.c.slot.desc()).limit(1)).first()
    return None if row is None else _record(row)


def history(engine: Engine, job: str, limit: int = 10) -> list[RunRecord]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(_run).where(_run.c.job == job).order_by(_run.c.slot.desc()).limit(limit)
        ).all()
    return [_record(row) for row in rows]


def write(
    engine: Engine,
    job: str,
    slot: datetime,
    outcome: str,
    *,
    detail: str | None = None,
    holder: str | None = None,
    starting: bool = False,
    now: datetime | None = None,
) -> None:
    """Create or update the record of (job, slot). `starting` counts an attempt and stamps its start."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown run outcome {outcome!r}")
    now = now or system_now()
    values = {
        "outcome": outcome,
        "detail": detail,
        "holder": holder,
        "finished_at": None if outcome == RunOutcome.RUNNING else now,
    }
    if starting:
        values["started_at"] = now
    with engine.begin() as connection:
        where = (_run.c.job == job, _run.c.slot == slot)
        exists = connection.execute(sa.select(_run.c.id).where(*where)).first()
        if exists is None:
            connection.execute(sa.insert(_run).values(job=job, slot=slot, attempts=1 if starting else 0, **values))
        else:
            if starting:
                values["attempts"] = _run.c.attempts + 1
            connection.execute(sa.update(_run).where(*where).values(**values))
