"""Errors of the send engine (the senders' own are in digest.mail.base)."""

from __future__ import annotations

from digest.errors import EditionError
from digest.mail.base import DeliveryError


class SenderBusy(DeliveryError):
    """Another process is already sending from this SQLite database."""


class NothingToSend(EditionError):
    """There is no edition to send."""
