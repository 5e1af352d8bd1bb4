"""How mail leaves: the Letter/Recipient values and the senders behind one seam."""

from __future__ import annotations

from digest.errors import ConfigError, DeliveryError, RateLimited, RequestRefused, SenderRefused
from digest.mail.base import Sender, SendResult
from digest.mail.message import Letter, Recipient, to_mime
from digest.settings import Settings

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
    """The sender DIGEST_BACKEND names: outbox (default), sendgrid or smtp.

    Each sender is imported here, when chosen: the SendGrid one pulls in its HTTP
    client, and a command that sends nothing should not pay for it.
    """
    if settings.backend == "outbox":
        from digest.mail.outbox import OutboxSender  # imported when chosen: see above

        return OutboxSender(settings.outbox)
    if settings.backend == "sendgrid":
        from digest.mail.sendgrid import SendGridSender  # imported when chosen: see above

        return SendGridSender(settings.sendgrid_api_key, settings.sendgrid_api_url)
    if settings.backend == "smtp":
        from digest.mail.smtp import SmtpSender  # imported when chosen: see above

        return SmtpSender(settings.smtp_url)
    raise ConfigError(f"DIGEST_BACKEND must be outbox, sendgrid or smtp, got {settings.backend!r}")
