"""An edition's status: the names, and which changes are allowed (pure).

    draft    built, not going out yet: editors may rebuild, edit or delete it
    sending  its send has begun (frozen): a run, a wave or another worker is mailing it
    paused   a run stopped half way (errors, a limit, the complaint brake, a stop request): a send resumes it
    sent     every reader due was handled: for good

`digest.editions.service.change_status` is the one function that writes it (listmonk's
`UpdateCampaignStatus`); the send engine and everyone else call it, and read these names from here.
"""

from __future__ import annotations

from enum import StrEnum


class EditionStatus(StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"


# status -> the statuses it may change to. Staying where it is is allowed (a resumed send marks an
# edition sending again), except for sent, which is for good (its `sent_at` stays); a paused edition
# may become sent when another worker finishes its readers.
TRANSITIONS: dict[EditionStatus, frozenset[EditionStatus]] = {
    EditionStatus.DRAFT: frozenset({EditionStatus.DRAFT, EditionStatus.SENDING}),
    EditionStatus.SENDING: frozenset({EditionStatus.SENDING, EditionStatus.PAUSED, EditionStatus.SENT}),
    EditionStatus.PAUSED: frozenset({EditionStatus.PAUSED, EditionStatus.SENDING, EditionStatus.SENT}),
    EditionStatus.SENT: frozenset(),
}


def may_become(to: EditionStatus) -> tuple[EditionStatus, ...]:
    """The statuses an edition may be in for a change to `to`."""
    return tuple(status for status, targets in TRANSITIONS.items() if to in targets)
