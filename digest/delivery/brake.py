"""Whether a send in progress must pause itself: too many complaints or bounces for this edition.

Mailbox providers judge a sender by its spam-complaint rate (Gmail and Yahoo
draw the line at 0.3%) and its bounce rate. The send loop asks a RateGuard
(`rate_guard(settings)`, one per run) before each batch; the answer comes from
the ledger (how many readers this edition went to) and the events SendGrid has
posted back for it so far.
Rates over fewer than MIN_SENT messages say little (one complaint in ten is
10%), so a send is judged only once it has reached that many readers.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from digest.delivery.ledger import Delivery, in_flight
from digest.delivery.states import DeliveryState
from digest.editions.models import Edition
from digest.events.models import Event

MIN_SENT = 100


@dataclass(frozen=True)
class SendHealth:
    sent: int  # readers the provider accepted this edition for
    complaints: int  # readers who reported it as spam
    bounces: int  # readers whose mailbox refused it for good (hard bounces)

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sent if self.sent else 0.0


def _pct(rate: float) -> str:
    return f"{rate * 100:.2f}".rstrip("0").rstrip(".") + "%"


def judge(
    health: SendHealth, max_complaint_rate: float, max_bounce_rate: float, min_sent: int = MIN_SENT
) -> str | None:
    """Why the send must pause, or None to go on. Pure."""
    if health.sent < max(1, min_sent):
        return None
    if health.complaint_rate > max_complaint_rate:
        return (
            f"the complaint rate is {_pct(health.complaint_rate)} ({health.complaints} of {health.sent} "
            f"readers reported it as spam), above DIGEST_MAX_COMPLAINT_RATE {_pct(max_complaint_rate)}"
        )
    if health.bounce_rate > max_bounce_rate:
        return (
            f"the bounce rate is {_pct(health.bounce_rate)} ({health.bounces} of {health.sent} readers), "
            f"above DIGEST_MAX_BOUNCE_RATE {_pct(max_bounce_rate)}"
        )
    return None


def sent_count(connection: Connection, edition_id: int) -> int:
    """Readers the ledger says this edition went to (reads the edition's part of the ledger's index),
    not counting the readers of requests claimed ahead and still in flight (ledger.in_flight)."""

    delivery = Delivery.__table__
    sent = (
        connection.execute(
            sa.select(sa.func.count())
            .select_from(delivery)
            .where(delivery.c.edition_id == edition_id, delivery.c.state == DeliveryState.SENT)
        ).scalar()
        or 0
    )
    return sent - in_flight(connection, edition_id)


def edition_number(connection: Connection, edition_id: int) -> int | None:
    edition = Edition.__table__
    return connection.execute(sa.select(edition.c.number).where(edition.c.id == edition_id)).scalar()


def feedback_counts(connection: Connection, number: int | None) -> tuple[int, int]:
    """(readers who complained, readers who hard-bounced) about edition `number`: a small indexed read."""
    if number is None:
        return 0, 0
    event = Event.__table__
    hard_bounce = sa.and_(
        event.c.event == "bounce", sa.or_(event.c.bounce_type.is_(None), event.c.bounce_type != "blocked")
    )
    query = sa.select(
        sa.func.count(sa.distinct(event.c.email)).filter(event.c.event == "spamreport"),
        sa.func.count(sa.distinct(event.c.email)).filter(hard_bounce),
    ).where(event.c.edition_number == number, event.c.event.in_(("spamreport", "bounce")))
    complaints, bounces = connection.execute(query).one()
    return complaints or 0, bounces or 0


class RateGuard:
    """The send loop's check for one run: `guard(connection, edition_id)` before each batch.

    A run is judged on what happened since it began: the first call takes the
    edition's figures so far as the baseline. So a send paused for its complaint
    rate goes on when the operator runs `digest editions send` again (having looked into
    it), and pauses again only if the rate passes the limit once more.

    Counting the ledger's sent rows grows with the edition, so it is done only
    when it could change the answer: complaints and bounces are counted every
    time (few rows), and judged against the last sent count first. The real
    count is only higher, so a rate under the limit then stays under it.

    A weekly send's waves are judged as one send (`whole_edition`): complaints about the
    readers of an early wave pause the later ones. Then, as long as nobody complained or
    bounced, there is no rate to judge and the ledger is not counted at all.
    """

    def __init__(
        self,
        max_complaint_rate: float,
        max_bounce_rate: float,
        min_sent: int = MIN_SENT,
        *,
        whole_edition: bool = False,
    ):
        self.max_complaint_rate, self.max_bounce_rate, self.min_sent = max_complaint_rate, max_bounce_rate, min_sent
        self.whole_edition = whole_edition
        self.baseline: SendHealth | None = SendHealth(0, 0, 0) if whole_edition else None
        self.number: int | None = None
        self.known_sent = 0
        self.sent_counts = 0  # how many times the ledger was counted (for tests and curiosity)

    def _count_sent(self, connection: Connection, edition_id: int) -> int:
        self.sent_counts += 1
        self.known_sent = sent_count(connection, edition_id)
        return self.known_sent

    def _judge(self, sent: int, complaints: int, bounces: int) -> str | None:
        base = self.baseline
        since = SendHealth(sent - base.sent, max(0, complaints - base.complaints), max(0, bounces - base.bounces))
        return judge(since, self.max_complaint_rate, self.max_bounce_rate, self.min_sent)

    def __call__(self, connection: Connection, edition_id: int) -> str | None:
        if self.baseline is None:
            self.number = edition_number(connection, edition_id)
            self.baseline = SendHealth(
                self._count_sent(connection, edition_id), *feedback_counts(connection, self.number)
            )
            return None
        if self.number is None:
            self.number = edition_number(connection, edition_id)
        complaints, bounces = feedback_counts(connection, self.number)
        if self.whole_edition and complaints == 0 and bounces == 0:
            return None  # nothing to judge
        if (
            self.known_sent - self.baseline.sent >= self.min_sent
            and self._judge(self.known_sent, complaints, bounces) is None
        ):
            return None
        return self._judge(self._count_sent(connection, edition_id), complaints, bounces)


def rate_guard(settings, *, whole_edition: bool = False) -> RateGuard:
    """A RateGuard with DIGEST_MAX_COMPLAINT_RATE and DIGEST_MAX_BOUNCE_RATE."""
    return RateGuard(settings.max_complaint_rate, settings.max_bounce_rate, whole_edition=whole_edition)
