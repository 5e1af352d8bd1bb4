"""How mail leaves: the Letter/Recipient values and the senders behind one seam."""

from __future__ import annotations

from importlib import import_module

from digest.errors import DeliveryError, RateLimited, RequestRefused, SenderRefused
from digest.mail.base import Sender, SendResult
from digest.mail.message import Letter, Recipient, to_mime
from digest.settings import Settings, sender_path

__all__ = [
    "DeliveryError",
    "Letter",
    "RateLimited",
    "Recipient",
    "RequestRefused",
    "SendResult",
    "Sender",
    "SenderRefused",
    "make_sender",
    "to_mime",
]


def make_sender(settings: Settings) -> Sender:
    """The sender DIGEST_BACKEND names, from the one registry of them (digest.settings.SENDERS:
    outbox, sendgrid, smtp, memory), built by its class's `from_settings(settings)`.

    Each sender is imported here, when chosen: the SendGrid one pulls in its HTTP
    client, and a command that sends nothing should not pay for it.
    """
    module, _, name = sender_path(settings.backend).partition(":")
    return getattr(import_module(module), name).from_settings(settings)
