"""What a run of a weekly job comes to, named once (pure).

A slot's run record (schedules.runs) holds a RunOutcome:

    running   started and not finished (or its job reported it unfinished): the next look resumes it
    failed    the job raised: tried again after a while, within the catch-up window
    done      the job did its work
    skipped   the job had nothing to do
    paused    the job stopped itself for a person to look at: not retried on its own
    missed    older than the catch-up window before any instance ran it: recorded, not run late (or
              its job reports it so: it held the slot open, unfinished, until the window had passed)

The settled ones close a slot for good. A job reports (runner.Outcome) done, skipped, paused, missed or
unfinished; unfinished is recorded as running.
"""

from __future__ import annotations

from enum import StrEnum


class RunOutcome(StrEnum):
    RUNNING = "running"
    FAILED = "failed"
    DONE = "done"
    SKIPPED = "skipped"
    PAUSED = "paused"
    MISSED = "missed"


UNFINISHED = "unfinished"  # a job's own report: stopped before the end, the slot stays open (recorded as running)

SETTLED = (RunOutcome.DONE, RunOutcome.SKIPPED, RunOutcome.PAUSED, RunOutcome.MISSED)
OUTCOMES = tuple(RunOutcome)
REPORTS = (RunOutcome.DONE, RunOutcome.SKIPPED, RunOutcome.PAUSED, RunOutcome.MISSED, UNFINISHED)  # a job's reports
