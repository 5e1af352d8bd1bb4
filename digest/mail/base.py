"""The seam every way of sending shares (Django's mail backends, listmonk's messengers).

A Sender takes one Letter and up to `max_batch` Recipients and reports, per
address, what happened. It raises DeliveryError subclasses for failures that
concern the whole request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from digest.errors import DigestError
from digest.mail.message import Letter, Recipient


class DeliveryError(DigestError):
    """Sending failed for a whole request."""


@dataclass
class SendResult:
    accepted: list[str] = field(default_factory=list)  # addresses the provider took
    rejected: dict[str, str] = field(default_factory=dict)  # address -> reason
    message_id: str | None = None  # provider's id for the request, if any


class Sender(Protocol):
    name: str
    max_batch: int

    def send(self, letter: Letter, recipients: Sequence[Recipient]) -> SendResult: ...

    def close(self) -> None: ...
