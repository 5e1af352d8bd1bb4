"""The send of one edition: `send_edition` freezes it, holds its variants (each rendered once, when
first needed), picks the sender DIGEST_BACKEND names, and runs the send loop (engine.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.engine import Engine

from digest.delivery import kept, ledger
from digest.delivery.brake import rate_guard
from digest.delivery.engine import SendRun
from digest.delivery.letters import OneLetter, VariantLetters
from digest.delivery.plan import too_early
from digest.delivery.retry import RetryPolicy
from digest.delivery.states import DeliveryState, SendOutcome
from digest.delivery.summary import Progress, SendSummary, not_due, planned_variants, send_day_for, sent_variants
from digest.editions.models import Edition
from digest.editions.service import Frozen, edition_comparisons, freeze_edition, get_edition, late_comparisons, offered
from digest.editions.status import EditionStatus
from digest.editions.variants import Offered
from digest.editors.approvals import refuse_unapproved
from digest.errors import EditionError, NothingToSend
from digest.mail import Letter, Sender, make_sender
from digest.render import render_edition
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import REAL_CLOCK, Clock, utcnow
from digest.words import counted
from subscribers import audience, status
from subscribers.audience import Zone


def render_letter(engine: Engine, settings: Settings, edition: Edition) -> Letter:
    with session_scope(engine) as session:
        return render_edition(session, session.get(Edition, edition.id), settings).letter


def offer_of(engine: Engine, settings: Settings, edition: Edition, *, as_if_frozen: bool = False) -> list[Offered]:
    """The edition's comparisons as variants choose from them; `as_if_frozen` adds, for an edition not
    frozen yet, those that would join it if its send began now (what a dry run shows)."""
    with session_scope(engine) as session:
        current = session.get(Edition, edition.id)
        shown = offered(session, current)
        if as_if_frozen and current.frozen_at is None:
            shown += offered(session, current, late_comparisons(session, settings, current))
        return shown


# A weekly send is many runs (one per wave) over one frozen edition: each variant is rendered once per
# process, not once per wave. Keyed by the store, the edition and when it froze; the last few are kept.
_LETTERS: dict[tuple, VariantLetters] = {}
_LETTERS_KEPT = 8


def letters_for(
    engine: Engine, settings: Settings, edition: Edition, shown: list[Offered], welcome: str | None = None
) -> VariantLetters:
    key = (str(engine.url), edition.id, edition.frozen_at, settings, welcome)
    found = _LETTERS.get(key)
    if found is None or edition.frozen_at is None:
        if len(_LETTERS) >= _LETTERS_KEPT:
            _LETTERS.pop(next(iter(_LETTERS)))
        found = _LETTERS[key] = VariantLetters(engine, settings, edition, shown, welcome)
    return found


def send_edition(
    engine: Engine,
    settings: Settings,
    edition_number: int,
    *,
    sender: Sender | None = None,
    resend_uncertain: bool = False,
    dry_run: bool = False,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    letter: Letter | None = None,
    batch_size: int | None = None,
    retry: RetryPolicy | None = None,
    zones: Sequence[Zone] | None = None,
    final: bool = True,
    include_future: bool = False,
    clock: Clock = REAL_CLOCK,
    refuse_nobody: bool = False,
    carry_after: datetime | None = None,
    readers: Sequence[int] | None = None,
    welcome: str | None = None,
) -> SendSummary:
    """Send edition `edition_number` to every active reader who has not had it, each in their variant.
    Safe to run again.

    The edition is frozen first (comparisons imported since it was built join it; nothing changes
    after). Each variant is rendered once, when its first reader comes up (unless `letter` is
    given: then every reader gets that one, topics unread). `zones` keeps the run to the readers
    whose stored zone is one of them (a wave; None is every reader), and `final` says whether the
    edition is sent once they are done. Its status moves draft -> sending -> sent, or paused when
    the run stops early; `readers` (ids) keeps the run to those readers, even for an edition already
    sent (late readers, who joined or moved after their wave: pass `final=False`); `welcome` opens
    each of their variants with that paragraph (a first edition carrying the welcome). A paused or
    interrupted send resumes where the ledger says. Readers whose
    request's outcome is unknown are reported as uncertain and only mailed again with
    `resend_uncertain=True`, in the variant they were due. An edition carrying a comparison dated
    in the future is refused (EditionError) until that date, unless `include_future`; a dry run
    says so in its reason instead. `clock` is what the run waits on and stamps the ledger with.
    `refuse_nobody` (a person's send: `digest editions send`) refuses a first send that would reach
    no reader (NothingToSend) before anything is frozen; the scheduler's sends leave it off.
    `carry_after` (the scheduler's: the moment of the send day's first wave) carries a comparison dated
    after it to the next edition as the edition freezes, instead of refusing the send.
    """
    with session_scope(engine) as session:
        edition = get_edition(session, edition_number)
        early = (
            None
            if include_future or carry_after is not None or edition.status == EditionStatus.SENT
            else too_early(edition.number, edition_comparisons(session, edition), utcnow())
        )
        if kept.kept_one(session.connection(), edition.id) is not None:
            # Its ledger rows are gone: a send would mail every reader again.
            raise EditionError(
                f"edition {edition.number} was pruned (`digest db prune`): its ledger is gone, so it is never "
                "sent again; its figures are kept"
            )
    if early is not None and not dry_run:
        raise EditionError(early)
    if not dry_run and edition.status == EditionStatus.DRAFT and edition.frozen_at is None:
        with session_scope(engine) as session:  # DIGEST_APPROVALS: a first send waits for its approvals
            refuse_unapproved(session, settings, edition)
    if dry_run:
        return replace(_dry_run(engine, settings, edition, letter, resend_uncertain), reason=early)
    if refuse_nobody and letter is None and edition.status == EditionStatus.DRAFT and edition.frozen_at is None:
        refuse_if_nobody(engine, settings, edition)
    own_sender = sender is None
    sender = sender or make_sender(settings)  # before rendering: a missing API key fails fast
    try:
        frozen = Frozen(now=False)
        with session_scope(engine) as session:
            current = session.get(Edition, edition.id)
            if current.status != EditionStatus.SENT:
                frozen = freeze_edition(session, settings, current, carry_after=carry_after)
            shown = offered(session, current)
            edition = current
        if letter is None and not shown:
            raise NothingToSend(
                f"edition {edition.number} shows no comparisons (all are left out); "
                "put one back with: digest editions edit "
                f"{edition.number} --include SLUG"
            )
        letters = OneLetter(letter) if letter is not None else letters_for(engine, settings, edition, shown, welcome)
        summary = SendRun(
            engine,
            edition_id=edition.id,
            edition_number=edition.number,
            letters=letters,
            sender=sender,
            base_url=settings.base_url,
            max_errors=settings.max_errors,
            batch_size=batch_size,
            retry=retry,
            resend_uncertain=resend_uncertain,
            progress=progress,
            should_stop=should_stop,
            zones=zones,
            final=final,
            clock=clock,
            pause_check=rate_guard(settings, whole_edition=zones is not None),
            readers=readers,
        ).run()
        summary = replace(summary, frozen=frozen.describe(edition) if frozen.now else None)
        if zones is None and readers is None and letter is None:
            # a whole send: say who got which variant (one pass over the ledger)
            with engine.connect() as connection:
                lines, unmatched = sent_variants(connection, edition.id, shown)
                skips = not_due(connection, edition.id, send_day_for(settings, edition.week))
            summary = replace(summary, variants=lines, unmatched=unmatched, not_due=sum(skips.values()))
        return summary
    finally:
        if own_sender:
            sender.close()


def nobody_reason(engine: Engine, settings: Settings, edition: Edition) -> str | None:
    """Why a first send of `edition` now would mail nobody (no active reader, or none whose topics match
    its comparisons), naming how many readers are pending or stopped; None when it would reach someone."""
    shown = offer_of(engine, settings, edition, as_if_frozen=True)
    with engine.connect() as connection:
        _, unmatched = planned_variants(connection, edition.id, shown)
        reach = ledger.pending_count(connection, edition.id) - unmatched
        if reach > 0:
            return None
        counts = audience.status_counts(connection)
    pending, stopped = counts[status.PENDING], sum(counts[name] for name in status.STOPPED)
    plural = "reader" if pending == 1 else "readers"
    why = (
        f"the {counted(unmatched, 'active reader')} chose topics matching none of its comparisons"
        if unmatched
        else "no reader is active"
    )
    return (
        f"edition {edition.number} would reach no reader: {why} ({pending:,} {plural} pending confirmation, "
        f"{stopped:,} stopped: unsubscribed, bounced, complained or suppressed). It stays a draft and nothing was "
        f"frozen; send it once readers have confirmed (digest subscribers list --status {status.PENDING})"
    )


def refuse_if_nobody(engine: Engine, settings: Settings, edition: Edition) -> None:
    """A first send that would reach no reader is refused before anything is frozen or sealed: a reader
    who confirms later would otherwise never get the edition."""
    reason = nobody_reason(engine, settings, edition)
    if reason is not None:
        raise NothingToSend(reason)


def _dry_run(
    engine: Engine, settings: Settings, edition: Edition, letter: Letter | None, resend_uncertain: bool
) -> SendSummary:
    """Render the edition (a dry run still proves it renders) and count who would get which variant."""
    if letter is None:
        render_letter(engine, settings, edition)
    shown = offer_of(engine, settings, edition, as_if_frozen=True)
    day = send_day_for(settings, edition.week)
    with engine.connect() as connection:
        counts = ledger.state_counts(connection, edition.id)
        pending = 0 if edition.status == EditionStatus.SENT else ledger.pending_count(connection, edition.id)
        lines, unmatched = (
            planned_variants(connection, edition.id, shown, day)
            if edition.status != EditionStatus.SENT and letter is None
            else ((), 0)
        )
        skipped_now = sum(not_due(connection, edition.id, day).values()) if pending and letter is None else 0
    return SendSummary(
        edition=edition.number,
        status=SendOutcome.DRY_RUN,
        sent=counts[DeliveryState.SENT],
        failed=counts[DeliveryState.FAILED],
        uncertain=counts[DeliveryState.UNCERTAIN],
        skipped=counts[DeliveryState.SKIPPED],
        pending=pending - unmatched - skipped_now + (counts[DeliveryState.UNCERTAIN] if resend_uncertain else 0),
        variants=lines,
        unmatched=unmatched,
        not_due=skipped_now,
    )
