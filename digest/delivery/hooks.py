"""What the send loop (digest.delivery.engine.SendRun) is handed, declared once.

    Letters        which letter each reader gets: VariantLetters (an edition's variants) or OneLetter
    PauseCheck     whether the send must pause itself: brake.RateGuard (complaint and bounce rates)
    ProgressHook   told after every request: the CLI's progress line, tests
    StopRequested  asked before every request: a scheduler's shutdown, Ctrl-C

Plain functions satisfy the last three; a PauseCheck may also say `whole_edition = True` (a wave's
guard, which judges the edition as a whole: the engine then checks on its timer from the first batch).
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.engine import Connection

from digest.delivery.summary import Progress
from digest.mail.message import Letter


class Letters(Protocol):
    """The letters of one send. A key names a variant (the list of comparisons a reader gets)."""

    def choose(
        self, topics_text: str | None, reader_id: int | None = None, cadence: str | None = None, since=None, /
    ) -> str | None:
        """The key of the variant a reader's stored topics (and what earlier editions mailed them, and
        their cadence's window) pick; None when their topics pick nothing; letters.NOT_DUE when their
        cadence skips this send day."""

    def why(self, topics_text: str | None, /) -> str:
        """Why those topics pick nothing: the `error` of the reader's skipped row."""

    def letter(self, key: str, /) -> Letter:
        """The variant's Letter (rendered on first use)."""

    def variant_id(self, connection: Connection, key: str, /) -> int | None:
        """The variant's id in the store, for the ledger's rows (None: no variants)."""

    def due_key(self, connection: Connection, variant: int | None, topics_text: str | None, /) -> str | None:
        """The key of the variant the ledger says a reader was due (a resend of uncertain readers)."""


class PauseCheck(Protocol):
    def __call__(self, connection: Connection, edition_id: int, /) -> str | None:
        """Why the send must pause (said to the operator), or None to go on."""


class ProgressHook(Protocol):
    def __call__(self, progress: Progress, /) -> None: ...


class StopRequested(Protocol):
    def __call__(self) -> bool: ...
