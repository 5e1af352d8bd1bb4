"""What a sender is given: one rendered Letter and the Recipients it goes to.

A Letter is rendered once (per edition, or per confirmation mail) and holds
placeholders; each Recipient carries the values that fill them. SendGrid fills
them itself (substitutions); SMTP and the outbox fill them with `personalize`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.headerregistry import Address
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from types import MappingProxyType
from typing import Mapping, NamedTuple


# CRLF line ends as SMTP carries them, and no folding below RFC 5322's 998-character
# limit: folding a long List-Unsubscribe URL turns it into an RFC 2047 encoded-word
# that mailbox providers do not read as a link, and one-click unsubscribe breaks.
WIRE = policy.SMTP.clone(max_line_length=998)

class HeaderInjection(ValueError):
    """A header value carries a line break."""


def _check_header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"the {name} header may not contain a line break")
    return value


@dataclass(frozen=True)
class Letter:
    subject: str
    html: str
    text: str
    from_address: str
    from_name: str | None = None
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # the same for every recipient (List-Id)
    categories: tuple[str, ...] = ()


_NOTHING: Mapping[str, str] = MappingProxyType({})


class Recipient(NamedTuple):
    """One reader's values. A NamedTuple, not a dataclass: a send makes a million of them, and
    a tuple is built several times faster. Immutable either way."""

    address: str
    substitutions: Mapping[str, str] = _NOTHING  # placeholder -> value
    headers: Mapping[str, str] = _NOTHING  # per reader (List-Unsubscribe)
    custom_args: Mapping[str, str] = _NOTHING  # come back on provider events


def fill(text: str, substitutions: Mapping[str, str]) -> str:
    for placeholder, value in substitutions.items():
        text = text.replace(placeholder, value)
    return text


def to_mime(letter: Letter, recipient: Recipient) -> EmailMessage:
    """The exact message SMTP would carry for this recipient: multipart/alternative."""
    message = EmailMessage(policy=WIRE)
    domain = letter.from_address.rpartition("@")[2] or "localhost"
    message["Subject"] = _check_header("Subject", fill(letter.subject, recipient.substitutions))
    message["From"] = Address(display_name=letter.from_name or "", addr_spec=letter.from_address)
    message["To"] = _check_header("To", recipient.address)
    if letter.reply_to:
        message["Reply-To"] = _check_header("Reply-To", letter.reply_to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in {**letter.headers, **recipient.headers}.items():
        message[name] = _check_header(name, fill(value, recipient.substitutions))
    message.set_content(fill(letter.text, recipient.substitutions), cte="quoted-printable")
    message.add_alternative(fill(letter.html, recipient.substitutions), subtype="html", cte="quoted-printable")
    return message
