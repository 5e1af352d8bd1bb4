"""A claimed reader as a Recipient: the values that make one copy of the edition theirs."""

from __future__ import annotations

from collections.abc import Sequence

from digest.mail.message import EDITION_ARG, ONE_CLICK, READER_ARG, ReaderBatch, Recipient
from subscribers.audience import Reader
from subscribers.links import unsubscribe_url

__all__ = ["EDITION_ARG", "ONE_CLICK", "READER_ARG", "recipient_for", "recipients_for"]


def recipients_for(readers: Sequence[Reader], edition_number: int, base_url: str) -> ReaderBatch:
    """A batch of claimed readers as Recipients of one edition (made lazily: the hot path)."""
    return ReaderBatch(readers, str(edition_number), unsubscribe_url(base_url, ""))


def recipient_for(reader: Reader, edition_number: int, base_url: str) -> Recipient:
    return recipients_for([reader], edition_number, base_url)[0]
