"""How mail leaves: the Letter/Recipient values and the senders behind one seam."""

from __future__ import annotations

from digest.errors import ConfigError
from digest.mail.base import DeliveryError, Sender, SendResult
from digest.mail.message import Letter, Recipient, to_mime
from digest.settings import Settings

__all__ = ["DeliveryError", "Letter", "Recipient", "SendResult", "Sender", "make_sender", "to_mime"]


def make_sender(settings: Settings) -> Sender:
    """The sender DIGEST_BACKEND names."""
    if settings.backend == "outbox":
        from digest.mail.outbox import OutboxSender

        return OutboxSender(settings.outbox)
    raise ConfigError(f"DIGEST_BACKEND={settings.backend} is not available yet")
