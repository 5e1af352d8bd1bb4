"""What a send reports: progress after every batch, a summary at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Progress:
    """After each batch: what this run has done so far."""

    sent: int
    failed: int
    uncertain: int
    skipped: int
    total: int | None  # readers this run expects to handle, when known
    elapsed: float  # seconds since the run began

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.uncertain + self.skipped

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class SendSummary:
    """The ledger's totals for the edition after a run, and what the run itself did.

    status: sent (every reader handled), sending (this worker is done, another
    is still finishing), paused (too many errors, the provider kept failing, or a
    limit: run again to resume), stopped (Ctrl-C or a stop request: run again
    to resume) or dry-run (nothing was sent).
    """

    edition: int
    status: str
    sent: int  # readers the provider accepted, over every run
    failed: int  # readers the provider refused
    uncertain: int  # readers whose request's outcome is unknown: not re-sent without --resend-uncertain
    skipped: int  # readers who left after the send began
    sent_now: int = 0  # of `sent`, by this run
    pending: int = 0  # active readers not yet mailed (for a dry run: who a send would mail)
    reason: str | None = None
    elapsed: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    def as_text(self) -> str:
        lines = [
            f"Edition {self.edition}: {self.status}.",
            f"  sent       {self.sent:>9,}" + (f"  ({self.sent_now:,} by this run)" if self.status != "dry-run" else ""),
            f"  failed     {self.failed:>9,}",
            f"  uncertain  {self.uncertain:>9,}",
            f"  skipped    {self.skipped:>9,}",
        ]
        if self.pending or self.status in ("dry-run", "paused", "stopped"):
            label = "would mail" if self.status == "dry-run" else "not yet"
            lines.append(f"  {label:<10} {self.pending:>9,}")
        if self.reason:
            lines.append(self.reason)
        if self.uncertain:
            lines.append(f"{self.uncertain:,} readers may or may not have been mailed (the outcome of their request "
                         "is unknown); they were not sent again. Check the provider's activity log, then "
                         "`digest send --resend-uncertain` to mail them.")
        return "\n".join(lines)
