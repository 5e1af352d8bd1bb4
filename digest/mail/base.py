"""The seam every way of sending shares (Django's mail backends, listmonk's messengers).

A Sender takes one Letter and up to `max_batch` Recipients and reports, per
address, what happened (a SendResult). What concerns the whole request and
must change what the caller does next is raised instead (the classes live in
digest.errors, with the rest of the tree):

    DeliveryError               sending failed for a whole request
    ├── RateLimited             the provider said "slow down" (429): wait until `retry_at`, then retry
    ├── SenderRefused           the credentials were refused (401/403): stop, the operator must act
    └── RequestRefused          the provider refused the request itself (a 400 naming no reader, 413):
                                sending the same request again cannot help

Everything else is a per-address outcome. The difference between `unsent` and
`uncertain` is the heart of exactly-once delivery: an unsent address certainly
did not leave (the connection failed before the body was sent, or the provider
answered 5xx), so it may be retried; an uncertain one may have left (a timeout
after the body was sent, a connection dropped before the answer), so it is
never retried without an operator's say-so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from digest.mail.message import Letter, Recipient, addresses_of


@dataclass
class SendResult:
    accepted: list[str] = field(default_factory=list)  # addresses the provider took
    rejected: dict[str, str] = field(default_factory=dict)  # address -> reason; never retried
    unsent: list[str] = field(default_factory=list)  # certainly not sent; safe to retry
    uncertain: list[str] = field(default_factory=list)  # may have been sent; never retried silently
    message_id: str | None = None  # the provider's id for the request, if any
    message_ids: dict[str, str] = field(default_factory=dict)  # per address, when each has its own
    error: str | None = None  # why addresses are unsent or uncertain

    @classmethod
    def all_unsent(cls, recipients: Sequence[Recipient], error: str) -> SendResult:
        return cls(unsent=addresses_of(recipients), error=error)

    @classmethod
    def all_uncertain(cls, recipients: Sequence[Recipient], error: str) -> SendResult:
        return cls(uncertain=addresses_of(recipients), error=error)


class Sender(Protocol):
    """A way of sending. Each is registered by name in digest.settings.SENDERS (the names DIGEST_BACKEND
    takes), and digest.mail.make_sender builds the chosen one with its class's `from_settings(settings)`."""

    name: str
    max_batch: int

    def send(self, letter: Letter, recipients: Sequence[Recipient]) -> SendResult: ...

    def close(self) -> None: ...
