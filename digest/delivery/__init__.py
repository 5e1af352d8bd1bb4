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

import importlib

# Each public name, and the module it lives in.
_HOMES = {
    "EDITION_ARG": "digest.delivery.readers",
    "READER_ARG": "digest.delivery.readers",
    "recipient_for": "digest.delivery.readers",
    "NothingToSend": "digest.errors",
    "SenderBusy": "digest.errors",
    "Progress": "digest.delivery.summary",
    "SendSummary": "digest.delivery.summary",
    "RetryPolicy": "digest.delivery.retry",
    "SendRun": "digest.delivery.engine",
    "render_letter": "digest.delivery.send",
    "send_edition": "digest.delivery.send",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        # The send loop loads on first use: reading the ledger must not load the engine.
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'digest.delivery' has no attribute {name!r}")
