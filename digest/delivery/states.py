"""The send's two vocabularies, named once: a ledger row's state, and what a run of the send loop ends as.

A ledger row (digest.delivery.ledger.Delivery) is in one state:

    claimed    in a request about to go out (committed before the request leaves)
    sent       the provider accepted it (or, for a request claimed ahead, is about to be asked: the row is
               written `sent` before the request leaves while a ledger.DeliveryRequest row says it is in
               flight, and set right if it does not go out; see ledger.py)
    failed     the provider refused this reader (a bad address); not retried
    uncertain  the request's outcome is unknown (a crash or a timeout after the body
               left): never re-sent silently, only by `digest editions send --resend-uncertain`
    skipped    the reader unsubscribed, bounced or complained after the send began, or their
               topics match none of the edition's comparisons (`error` says which)

A run ends as one outcome (SendSummary.status):

    sent       every reader handled: the edition is sent
    sending    this worker is done, another is still finishing
    waiting    a wave is done and later ones follow
    paused     too many errors, the provider kept failing, or a limit: run again to resume
    stopped    Ctrl-C or a stop request: run again to resume
    dry-run    nothing was sent

Everything else reads these names from here, SQL text included (interpolate the name, or bind it):
tests/test_vocabulary.py fails on a bare state word anywhere else.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    SKIPPED = "skipped"


class SendOutcome(StrEnum):
    SENT = "sent"
    SENDING = "sending"
    WAITING = "waiting"
    PAUSED = "paused"
    STOPPED = "stopped"
    DRY_RUN = "dry-run"


HALTED = (SendOutcome.PAUSED, SendOutcome.STOPPED)  # a run that ended early: run again to resume
