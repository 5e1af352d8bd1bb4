"""Delivery: the per-reader ledger and the send loop.

send_edition(engine, settings, number, ...) -> SendSummary
    freezes the edition, holds its variants (each rendered once, when first needed),
    picks the sender DIGEST_BACKEND names, and runs (send.py)
SendRun                      the loop over keyset batches, readers queued by variant (engine.py)
ledger                       Delivery rows, one per (edition, reader)
states                       the names: DeliveryState (a row), SendOutcome (how a run ends)
hooks                        what SendRun is handed, as Protocols: Letters, PauseCheck, ProgressHook, StopRequested
SendGuard                    one sender per SQLite file; parts of a walk shared out on PostgreSQL
Presence                     whether the process behind a claim still runs (senders and confirmation mails)
confirmations                the confirmation mails' queue, sent by the scheduler and `digest serve`

The names below load the send loop on first use (PEP 562), not with the package: the web app and
the figures read the ledger and send confirmation mails without loading the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digest.delivery.send import (
        EDITION_ARG,
        READER_ARG,
        NothingToSend,
        Progress,
        RetryPolicy,
        SenderBusy,
        SendRun,
        SendSummary,
        recipient_for,
        render_letter,
        send_edition,
    )

__all__ = [
    "EDITION_ARG",
    "NothingToSend",
    "Progress",
    "READER_ARG",
    "RetryPolicy",
    "SendRun",
    "SendSummary",
    "SenderBusy",
    "recipient_for",
    "render_letter",
    "send_edition",
]


def __getattr__(name: str):
    if name in __all__:
        # The send loop loads on first use: reading the ledger must not load the engine.
        from digest.delivery import send

        return getattr(send, name)
    raise AttributeError(f"module 'digest.delivery' has no attribute {name!r}")
