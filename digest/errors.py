"""The one exception tree of the application. Every error here is meant for a person to act on.

    DigestError                   anything a user can act on; the CLI prints its message
    ├── ConfigError               a setting is missing or malformed (names the variable)
    ├── StoreError                the database cannot be reached, opened or migrated
    │   ├── StoreMissing          no store where DIGEST_DATABASE_URL points, and the command creates none
    │   ├── StoreGone             the SQLite file a running process opened was deleted or replaced under it
    │   ├── StoreFull             the disk holding the database is full (SQLite's "database or disk is full")
    │   └── StoreDisconnected     the connection to the database server was lost mid-way (a restart, a drop)
    ├── DiskFull                  a file digest writes (the outbox, an export) is on a full disk
    ├── ImportFailed              an input file is malformed (names file, line, expectation)
    ├── NotFound                  a comparison, edition or reader does not exist
    │   └── UnknownVoteLink       a vote link whose reader, comparison or tool we do not have
    ├── EditionError              an edition cannot be built, edited or sent as asked
    │   ├── NothingToSend         there is no edition to send
    │   └── AwaitingApproval      DIGEST_APPROVALS asks for approvals the edition lacks
    ├── EditorError               an editor account or an approval cannot be as asked
    ├── DeliveryError             sending failed for a whole request
    │   ├── SenderBusy            another process is sending from this SQLite file
    │   ├── RateLimited           the provider asked us to wait (429); nothing was sent
    │   ├── SenderRefused         the provider refused our credentials; nothing was sent
    │   └── RequestRefused        the provider refused the request as a whole; nothing was sent
    ├── VoteNotCounted            a real vote link from a reader who may not vote (unconfirmed, left)
    ├── WebhookRefused            a provider's event batch we will not store
    │   ├── BadSignature          unsigned, badly signed, or timestamped too far from now
    │   └── MalformedBatch        not a JSON array of events
    ├── BadWeek                   a week that is not written as 2026-W47
    ├── ServeError                the web server cannot listen where asked (a port in use)
    └── ChartError                a chart cannot be drawn as asked

The two libraries beside the application keep trees of their own, since they
import nothing from digest: `subscribers.errors.SubscribersError` (invalid input,
unknown reader, bad links...) and `schedules.errors.ScheduleError`.

Domain errors carry no HTTP status: the web app's one handler
(digest.web.errors) decides how each kind is answered, and the CLI turns any of
them into one `Error:` line. Third-party exceptions are translated at the
boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class DigestError(Exception):
    """An error whose message is meant for the person running digest."""


class ConfigError(DigestError):
    """A setting (environment variable or option) is missing or malformed."""


class StoreError(DigestError):
    """The database cannot be reached, opened or migrated."""


class StoreMissing(StoreError):
    """There is no store where DIGEST_DATABASE_URL points, and the command only reads (it creates none)."""


class StoreGone(StoreError):
    """The SQLite file a running process opened is no longer at its path (deleted, or replaced): SQLite
    would go on writing into the deleted file, and every write would be lost."""


class StoreFull(StoreError):
    """The disk holding the database is full: SQLite's "database or disk is full", PostgreSQL's
    "could not extend file" (SQLSTATE 53100). The statement was rolled back."""


class StoreDisconnected(StoreError):
    """The connection to the database server was lost mid-way (the server restarted or was stopped, the
    network dropped): the transaction in flight was rolled back by the server."""


class DiskFull(DigestError):
    """A file digest writes (the outbox, an export, a chart) is on a disk with no space left (ENOSPC)."""


class ImportFailed(DigestError):
    """An input file is malformed. The message names the file, the line and what was expected."""

    def __init__(self, path: str, line: int | None, reason: str):
        self.path, self.line, self.reason = path, line, reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")


class NotFound(DigestError):
    """A named thing (comparison, edition, reader) does not exist."""


class EditionError(DigestError):
    """An edition cannot be built, edited or sent as asked."""


class NothingToSend(EditionError):
    """There is no edition to send."""


class DeliveryError(DigestError):
    """Sending failed for a whole request."""


class SenderBusy(DeliveryError):
    """Another process is already sending from this SQLite database."""


class RateLimited(DeliveryError):
    """The provider asked us to wait (HTTP 429). Nothing in the request was sent."""

    def __init__(self, message: str, retry_at: float):
        super().__init__(message)
        self.retry_at = retry_at  # a time.time() value


class SenderRefused(DeliveryError):
    """The provider refused our credentials (HTTP 401/403). Nothing was sent; stop sending."""


class RequestRefused(DeliveryError):
    """The provider refused the request as a whole, naming no reader. Nothing was sent."""


class UnknownVoteLink(NotFound):
    """A vote link that names a reader, comparison or tool we do not have (cut short or altered)."""


class VoteNotCounted(DigestError):
    """A genuine vote link from a reader who may not vote: not confirmed yet, or gone."""


VoteRefused = (UnknownVoteLink, VoteNotCounted)  # what record_vote may raise


class WebhookRefused(DigestError):
    """A provider's batch of events that is not stored."""


class BadSignature(WebhookRefused):
    """The batch is unsigned, wrongly signed, or its timestamp is too far from now."""


class MalformedBatch(WebhookRefused):
    """The body is not a JSON array of events."""


class BadWeek(DigestError):
    """A week is not written as an ISO week such as 2026-W47."""


class ServeError(DigestError):
    """The web server cannot start as asked: its port is in use, or needs privileges."""


class ChartError(DigestError):
    """A chart cannot be drawn as asked (say, an unknown file type)."""


class EditorError(DigestError):
    """An editor account cannot be added, changed or used as asked, or an approval cannot be given."""


class AwaitingApproval(EditionError):
    """An edition lacks the approvals DIGEST_APPROVALS asks for; the message says who must approve and where."""
