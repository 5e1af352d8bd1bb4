"""The SMTP sender: one message per reader over one reused connection.

DIGEST_SMTP_URL is `smtp://user:pass@host:587` (STARTTLS when the server offers
it) or `smtps://user:pass@host:465` (TLS from the first byte); login only when
the URL has credentials. Each message is exactly what the outbox writes
(`to_mime`). The SMTP steps are driven one by one so that a failure is placed
precisely: before DATA nothing left (the reader is unsent and may be retried),
during DATA the message may have left (uncertain). A reader whose message
cannot be built (an address that cannot go into a To header as stored) is
rejected with the reason before anything is sent for them; the rest go on.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from digest.errors import ConfigError, RequestRefused, SenderRefused
from digest.mail.base import SendResult
from digest.mail.message import Letter, Recipient, addresses_of, to_mime


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    ssl: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str | None) -> SmtpTarget:
    if not url:
        raise ConfigError("DIGEST_SMTP_URL is not set: DIGEST_BACKEND=smtp needs smtp://user:pass@host:587")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"DIGEST_SMTP_URL is not a valid URL: {exc}") from exc
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(
            f"DIGEST_SMTP_URL must look like smtp://user:pass@host:587 or smtps://host:465, "
            f"got scheme {parts.scheme!r} and host {parts.hostname!r}"
        )
    secure = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if secure else 587),
        ssl=secure,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _refused(result: SendResult, address: str, code: int, reply: bytes) -> None:
    """One reader refused: for good (5xx) they are rejected, never retried; otherwise unsent, retried."""
    said = f"{code} {reply.decode(errors='replace')}"
    if _permanent(code):
        result.rejected[address] = said
    else:
        result.unsent.append(address)
        result.error = said


class SmtpSender:
    name = "smtp"
    max_batch = 100

    def __init__(self, url: str | None, *, timeout: float = 30.0, tls_context: ssl.SSLContext | None = None):
        self.target = parse_smtp_url(url)
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()
        self._connection: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings) -> SmtpSender:
        return cls(settings.smtp_url)

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        t = self.target
        if t.ssl:
            connection = smtplib.SMTP_SSL(t.host, t.port, timeout=self.timeout, context=self.tls_context)
        else:
            connection = smtplib.SMTP(t.host, t.port, timeout=self.timeout)
        try:
            connection.ehlo()
            if not t.ssl and connection.has_extn("starttls"):
                connection.starttls(context=self.tls_context)
                connection.ehlo()
            if t.username:
                connection.login(t.username, t.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            connection.close()
            raise SenderRefused(
                f"the SMTP server {t.host}:{t.port} refused the login in DIGEST_SMTP_URL: "
                f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
            ) from exc
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def check(self) -> None:
        """Connect, greet and log in as a send would, then hang up, sending nothing (`digest doctor`).
        SenderRefused for a refused login; OSError or smtplib.SMTPException when the server cannot be reached."""
        self._connect()
        self.close()

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def send(self, letter: Letter, recipients: Sequence[Recipient]) -> SendResult:
        result = SendResult()
        where = f"{self.target.host}:{self.target.port}"
        for index, recipient in enumerate(recipients):
            try:
                message = to_mime(letter, recipient)
                data = message.as_bytes()  # the message carries its wire policy (digest.mail.message.WIRE)
            except (ValueError, TypeError, LookupError) as exc:  # this reader's message: the others go on
                result.rejected[recipient.address] = f"the message cannot be built: {exc}"
                continue
            try:
                connection = self._connect()
            except SenderRefused:
                if result.accepted or result.rejected:
                    result.unsent += addresses_of(recipients[index:])
                    result.error = f"the SMTP server {where} refused the login"
                    return result
                raise
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                result.unsent += addresses_of(recipients[index:])
                result.error = f"could not reach the SMTP server {where}: {exc!r}"
                return result
            try:
                code, reply = connection.mail(letter.from_address)
                if code != 250:
                    connection.rset()
                    if _permanent(code):
                        raise RequestRefused(
                            f"the SMTP server {where} refused the From address "
                            f"{letter.from_address}: {code} {reply.decode(errors='replace')}"
                        )
                    result.unsent.append(recipient.address)
                    result.error = f"{code} {reply.decode(errors='replace')}"
                    continue
                code, reply = connection.rcpt(recipient.address)
                if code not in (250, 251):
                    connection.rset()
                    _refused(result, recipient.address, code, reply)
                    continue
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()  # nothing of this message was sent yet
                result.unsent += addresses_of(recipients[index:])
                result.error = f"the SMTP server {where} went away: {exc!r}"
                return result
            try:
                code, reply = connection.data(data)
            except smtplib.SMTPDataError as exc:  # DATA itself refused: the body never left
                connection.rset()
                _refused(result, recipient.address, exc.smtp_code, exc.smtp_error)
                continue
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()  # the body may have been taken: never re-send silently
                result.uncertain.append(recipient.address)
                result.unsent += addresses_of(recipients[index + 1 :])
                result.error = f"the SMTP server {where} went away during the message: {exc!r}"
                return result
            if code == 250:
                result.accepted.append(recipient.address)
                result.message_ids[recipient.address] = message["Message-ID"].strip("<>")
            elif _permanent(code):
                result.rejected[recipient.address] = f"{code} {reply.decode(errors='replace')}"
            else:
                result.unsent.append(recipient.address)
                result.error = f"{code} {reply.decode(errors='replace')}"
        return result

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()
