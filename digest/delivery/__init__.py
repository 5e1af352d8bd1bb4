"""Delivery: the per-reader ledger and the send loop.

    send_edition(engine, settings, number, ...) -> SendSummary
        renders the edition once, picks the sender DIGEST_BACKEND names, and runs
    SendRun                      the loop over keyset batches (engine.py)
    ledger                       Delivery rows: claimed, sent, failed, uncertain, skipped
    SendGuard                    one sender per SQLite file; worker liveness on PostgreSQL
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy.engine import Engine

from digest.delivery import ledger
from digest.delivery.brake import rate_guard
from digest.delivery.engine import SendRun
from digest.delivery.plan import too_early
from digest.delivery.readers import EDITION_ARG, READER_ARG, recipient_for
from digest.delivery.retry import RetryPolicy
from digest.delivery.summary import Progress, SendSummary
from digest.editions.models import Edition
from digest.editions.service import edition_comparisons, get_edition
from digest.errors import EditionError, NothingToSend, SenderBusy
from digest.mail import Letter, Sender, make_sender
from digest.render import render_edition
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import utcnow

__all__ = ["EDITION_ARG", "NothingToSend", "Progress", "READER_ARG", "RetryPolicy", "SendRun", "SendSummary",
           "SenderBusy", "recipient_for", "send_edition"]


def render_letter(engine: Engine, settings: Settings, edition: Edition) -> Letter:
    with session_scope(engine) as session:
        return render_edition(session, session.get(Edition, edition.id), settings).letter


def send_edition(engine: Engine, settings: Settings, edition_number: int, *, sender: Sender | None = None,
                 resend_uncertain: bool = False, dry_run: bool = False,
                 progress: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, letter: Letter | None = None,
                 batch_size: int | None = None, retry: RetryPolicy | None = None,
                 include_future: bool = False) -> SendSummary:
    """Send edition `edition_number` to every active reader who has not had it. Safe to run again.

    The edition is rendered once (unless `letter` is given). Its status moves
    draft -> sending -> sent, or paused when the run stops early; a paused or
    interrupted send resumes where the ledger says. Readers whose request's
    outcome is unknown are reported as uncertain and only mailed again with
    `resend_uncertain=True`. An edition carrying a comparison dated in the future
    is refused (EditionError) until that date, unless `include_future`; a dry
    run says so in its reason instead.
    """
    with session_scope(engine) as session:
        edition = get_edition(session, edition_number)
        early = None if include_future or edition.status == "sent" else \
            too_early(edition.number, edition_comparisons(session, edition), utcnow())
    if early is not None and not dry_run:
        raise EditionError(early)
    if dry_run:
        if letter is None:
            render_letter(engine, settings, edition)  # a dry run still proves the edition renders
        with engine.connect() as connection:
            counts = ledger.state_counts(connection, edition.id)
            pending = 0 if edition.status == "sent" else ledger.pending_count(connection, edition.id)
        return SendSummary(edition=edition.number, status="dry-run", sent=counts["sent"], failed=counts["failed"],
                           uncertain=counts["uncertain"], skipped=counts["skipped"],
                           pending=pending + (counts["uncertain"] if resend_uncertain else 0), reason=early)
    own_sender = sender is None
    sender = sender or make_sender(settings)  # before rendering: a missing API key fails fast
    try:
        if letter is None:
            letter = render_letter(engine, settings, edition)
        return SendRun(engine, edition_id=edition.id, edition_number=edition.number, letter=letter, sender=sender,
                       base_url=settings.base_url, max_errors=settings.max_errors, batch_size=batch_size,
                       retry=retry, resend_uncertain=resend_uncertain, progress=progress,
                       should_stop=should_stop, pause_check=rate_guard(settings)).run()
    finally:
        if own_sender:
            sender.close()
