"""The memory sender: letters kept in a list, for tests and benchmarks (Django's locmem backend).

It sits behind the same seam as the SendGrid, SMTP and outbox senders, so the send
loop cannot tell it from them, and it can be told to fail the way they fail,
for the next requests or for chosen readers, so that a fault test needs no
server and (with a ManualClock) no real waiting:

    sender = MemorySender(clock=clock)
    sender.fail(times=2)               certainly not sent (a 5xx, no connection): retried with backoff
    sender.drop(times=1)               may have left (a timeout, a dropped connection): uncertain
    sender.rate_limit(reset_in=30.0)   RateLimited, to be retried `reset_in` seconds later on its clock
    sender.refuse()                    SenderRefused (credentials refused): the send stops
    sender.refuse_request("too big")   RequestRefused (the request refused as a whole): the send pauses
    sender.reject({"a@example.com"})   those readers rejected in every request (the rest go)

    sender.sent          one Sent per request that reached it: the letter and its recipients
    sender.addresses()   every address a letter went to, in order (a reader twice is a bug)
    sender.attempts      the clock's `monotonic()` at every request, failed ones included

Chosen by DIGEST_BACKEND=memory, it keeps letters in the module's `outbox` list (as
Django's mail.outbox), which a test in the same process reads and clears.
Recording a request costs one list append: a benchmark of a million readers
measures the send loop, not the sender.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Sequence
from typing import NamedTuple

from digest.errors import RateLimited, RequestRefused, SenderRefused
from digest.mail.base import SendResult
from digest.mail.message import Letter, ReaderBatch, Recipient, addresses_of
from digest.timeutil import REAL_CLOCK, Clock


class Sent(NamedTuple):
    letter: Letter
    recipients: Sequence[Recipient]
    message_id: str


outbox: list[Sent] = []  # what senders made by DIGEST_BACKEND=memory keep
_ids = itertools.count(1)


class MemorySender:
    name = "memory"

    def __init__(self, max_batch: int = 1000, *, clock: Clock = REAL_CLOCK, sent: list[Sent] | None = None):
        self.max_batch = max_batch
        self.clock = clock
        self.sent: list[Sent] = [] if sent is None else sent
        self.attempts: list[float] = []
        self._faults: list[tuple[str, object]] = []  # for the next requests, in order
        self._rejected: dict[str, str] = {}
        self.closed = False

    @classmethod
    def from_settings(cls, settings) -> MemorySender:
        return cls(sent=outbox)

    # -- faults ------------------------------------------------------------------------------------

    def fail(self, times: int = 1, error: str = "the provider answered 503") -> None:
        self._faults += [("unsent", error)] * times

    def drop(self, times: int = 1, *, delivered: bool = True) -> None:
        """The next requests' outcome is unknown; with `delivered` the letters did arrive (are in `sent`)."""
        self._faults += [("drop", delivered)] * times

    def rate_limit(self, times: int = 1, reset_in: float = 1.0) -> None:
        self._faults += [("rate", reset_in)] * times

    def refuse(self, times: int = 1, why: str = "the provider refused the credentials (401)") -> None:
        self._faults += [("refuse", why)] * times

    def refuse_request(self, why: str = "the provider refused the request (413)", times: int = 1) -> None:
        self._faults += [("refuse_request", why)] * times

    def reject(self, addresses: Collection[str], why: str = "the provider refused this address") -> None:
        self._rejected.update(dict.fromkeys(addresses, why))

    # -- the seam ----------------------------------------------------------------------------------

    def send(self, letter: Letter, recipients: Sequence[Recipient]) -> SendResult:
        if len(recipients) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} readers per request, got {len(recipients)}")
        self.attempts.append(self.clock.monotonic())
        if self._faults:
            kind, arg = self._faults.pop(0)
            if kind == "unsent":
                return SendResult.all_unsent(recipients, str(arg))
            if kind == "drop":
                if arg:
                    self.sent.append(Sent(letter, recipients, f"memory-{next(_ids)}"))
                return SendResult.all_uncertain(recipients, "no answer from the memory sender (told to drop)")
            if kind == "rate":
                raise RateLimited("the memory sender is rate limited (429)", self.clock.now().timestamp() + arg)
            if kind == "refuse":
                raise SenderRefused(str(arg))
            raise RequestRefused(str(arg))
        accepted = addresses_of(recipients)
        rejected = {}
        if self._rejected:
            rejected = {a: self._rejected[a] for a in accepted if a in self._rejected}
            if rejected:
                accepted = [a for a in accepted if a not in rejected]
                kept = set(accepted)
                recipients = (
                    recipients.only(kept)
                    if isinstance(recipients, ReaderBatch)
                    else [r for r in recipients if r.address in kept]
                )
        message_id = f"memory-{next(_ids)}"
        if accepted:
            self.sent.append(Sent(letter, recipients, message_id))
        return SendResult(accepted=accepted, rejected=rejected, message_id=message_id)

    def close(self) -> None:
        self.closed = True

    # -- what tests read ---------------------------------------------------------------------------

    def addresses(self) -> list[str]:
        return [a for sent in self.sent for a in addresses_of(sent.recipients)]

    def counts(self) -> Counter:
        return Counter(self.addresses())
