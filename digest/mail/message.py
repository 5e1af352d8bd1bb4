"""What a sender is given: one rendered Letter and the Recipients it goes to.

A Letter is rendered once (per edition, or per confirmation mail) and holds
placeholders; each Recipient carries the values that fill them. SendGrid fills
them itself (substitutions); SMTP and the outbox fill them with `personalize`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, getaddresses, make_msgid
from types import MappingProxyType
from typing import NamedTuple, overload

from digest.mail.placeholders import READER_TOKEN

# Headers and bodies each keep their own RFC's line limit, so each gets its own policy.
# Headers: CRLF line ends as SMTP carries them, and no folding below RFC 5322's 998-character
# limit: folding a long List-Unsubscribe URL turns it into an RFC 2047 encoded-word that
# mailbox providers do not read as a link, and one-click unsubscribe breaks.
WIRE = policy.SMTP.clone(max_line_length=998)
# Bodies: quoted-printable lines of at most 76 characters (RFC 2045, 6.7). Lines of 998 are
# legal SMTP but not legal quoted-printable, and spam filters score them (MIME_QP_LONG_LINE).
BODY = policy.SMTP.clone(max_line_length=76)


class HeaderInjection(ValueError):
    """A header value carries a line break."""


def _check_header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"the {name} header may not contain a line break")
    return value


class UnsendableAddress(ValueError):
    """A reader's address cannot be written into a header exactly as it is stored."""


class _Verbatim(str):
    """A header written exactly as given. The email package's header registry reads RFC 2047
    encoded words even inside an address, so `=?utf-8?q?=0d=0a?=@example.com` (which
    email-validator accepts: `=` and `?` are plain atext) would become a line break, and
    another address a comma and a second recipient. A value with `name` and `fold` is
    stored and written by the policy as it is (email.policy.EmailPolicy.header_store_parse)."""

    name: str

    def __new__(cls, name: str, value: str) -> _Verbatim:
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def check_address(address: str) -> str:
    """The address as stored, if it can go into a To header as it is; else UnsendableAddress.

    One plain addr-spec: printable ASCII without spaces (addresses are stored with the domain in
    its ASCII spelling), which a parser that decodes nothing reads back as this same address."""
    if not address or not address.isascii() or not address.isprintable() or " " in address:
        raise UnsendableAddress(
            f"the address {address!r} is not printable ASCII without spaces; "
            "it cannot be written into a To header as stored"
        )
    if getaddresses([address]) != [("", address)] or address.count("@") != 1:
        raise UnsendableAddress(f"the address {address!r} does not read back as one address")
    return address


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
    # Names this content in the process: letters with the same serial are the same, so a sender may keep
    # what it makes of one (SendGrid's request JSON) by it (VariantLetters sets it; None: keep nothing by it).
    serial: str | None = field(default=None, compare=False, repr=False)


_NOTHING: Mapping[str, str] = MappingProxyType({})


class Recipient(NamedTuple):
    """One reader's values. A NamedTuple, not a dataclass: a send makes a million of them, and
    a tuple is built several times faster. Immutable either way."""

    address: str
    substitutions: Mapping[str, str] = _NOTHING  # placeholder -> value
    headers: Mapping[str, str] = _NOTHING  # per reader (List-Unsubscribe)
    custom_args: Mapping[str, str] = _NOTHING  # come back on provider events


# RFC 3834: mail a program sends on its own accord (a confirmation), so that autoresponders
# (vacation replies, out-of-office) do not answer it.
AUTOMATIC: Mapping[str, str] = MappingProxyType({"Auto-Submitted": "auto-generated"})

# The shape of one reader's copy of an edition. Custom args come back on every provider event
# (delivered, open, bounce...) as top-level keys.
EDITION_ARG = "edition"
READER_ARG = "reader_id"
ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058


class ReaderBatch(Sequence[Recipient]):
    """The readers one request of an edition send carries, as Recipients made only when asked for.

    Readers of a send differ only in id, address and token. A batch keeps those rows and what
    every reader shares (the edition number, the unsubscribe URL up to the token); `batch[i]`
    is reader i's Recipient: the token fills the placeholders, the one-click unsubscribe
    headers carry it, the custom args name the edition and the reader. A million readers
    would otherwise be a million Recipients of three dicts each: the SendGrid sender writes
    its request straight from `rows` instead (sendgrid.batch_personalizations).
    """

    __slots__ = ("rows", "edition", "unsubscribe_prefix")

    def __init__(self, rows: Sequence[tuple[int, str, str]], edition: str, unsubscribe_prefix: str):
        self.rows = rows  # (reader id, address, token)
        self.edition = edition
        self.unsubscribe_prefix = unsubscribe_prefix  # the unsubscribe URL without the token

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> Recipient: ...

    @overload
    def __getitem__(self, index: slice) -> ReaderBatch: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ReaderBatch(self.rows[index], self.edition, self.unsubscribe_prefix)
        reader_id, address, token = self.rows[index]
        return Recipient(
            address,
            {READER_TOKEN: token},
            {"List-Unsubscribe": f"<{self.unsubscribe_prefix}{token}>", "List-Unsubscribe-Post": ONE_CLICK},
            {EDITION_ARG: self.edition, READER_ARG: str(reader_id)},
        )

    def __repr__(self) -> str:
        return f"ReaderBatch({len(self.rows)} readers of edition {self.edition})"

    @property
    def addresses(self) -> list[str]:
        return [row[1] for row in self.rows]

    @property
    def reader_ids(self) -> list[int]:
        return [row[0] for row in self.rows]

    def only(self, addresses: Collection[str]) -> ReaderBatch:
        """The readers among these whose address is in `addresses`, in the same order."""
        return ReaderBatch([row for row in self.rows if row[1] in addresses], self.edition, self.unsubscribe_prefix)


def addresses_of(recipients: Sequence[Recipient]) -> list[str]:
    """Every recipient's address, without making a ReaderBatch's Recipients."""
    if isinstance(recipients, ReaderBatch):
        return recipients.addresses
    return [r.address for r in recipients]


def fill(text: str, substitutions: Mapping[str, str]) -> str:
    for placeholder, value in substitutions.items():
        text = text.replace(placeholder, value)
    return text


def _body_part(content: str, subtype: str) -> MIMEPart:
    """One alternative, encoded under BODY's 76-character limit (the message's WIRE policy
    then writes it as it is: a generator re-folds headers, never an encoded body)."""
    part = MIMEPart(policy=BODY)
    part.set_content(content, subtype=subtype, charset="utf-8", cte="quoted-printable")
    return part


def wire_bytes(content: str) -> int:
    """The bytes of `content`'s body part on the wire: quoted-printable as `_body_part` writes it,
    each line ended by CRLF. (Counted without building the part: the email package's encoder maps
    every character through a table, most of the time a render spends measuring its letter; the
    tests hold this to `_body_part`'s payload.)"""
    data = b"\n".join(content.encode("utf-8").splitlines()) + b"\n"  # what set_content encodes
    return sum(_qp_line_bytes(line) for line in _qp_quoted(data).split("\n")[:-1])


# The bytes quoted-printable leaves as they are in a body (RFC 2045, 6.7): printable ASCII but "=",
# space and tab (line ends are split on before quoting); every other byte is written "=XX".
_QP_LITERAL = bytes([9, 32, *range(33, 61), *range(62, 127)])
_QP_WIDTH = 76  # BODY's max_line_length


def _qp_quoted(data: bytes) -> str:
    """`data` (lines ended by LF) with every byte but the literal ones and LF written "=XX", as
    email.quoprimime.body_encode quotes it before wrapping, in a few str.replace over the whole text."""
    text = data.decode("latin-1")
    others = set(data.translate(None, _QP_LITERAL + b"\n"))
    if others:
        text = text.replace("=", "=3D")  # first: the other escapes hold "="
        for byte in sorted(others - {0x3D}):
            text = text.replace(chr(byte), f"={byte:02X}")
    return text


def _qp_line_bytes(line: str) -> int:
    """The wire bytes of one quoted line as email.quoprimime.body_encode wraps it (soft breaks "=" at
    most _QP_WIDTH characters apart, never inside an escape; a last space or tab quoted), each line
    of it ended by CRLF."""
    size, start = 0, 0
    last_start = len(line) - 1 - _QP_WIDTH
    while start <= last_start:
        stop = start + _QP_WIDTH - 1
        if line[stop - 2] == "=":
            size, start = size + (stop - 1 - start) + 2, stop - 2
        elif line[stop - 1] == "=":
            size, start = size + (stop - start) + 2, stop - 1
        else:
            size, start = size + (stop - start) + 3, stop
    if line and line[-1] in " \t":
        room = start - last_start
        rest = len(line) - 1 - start
        # quoted ("=20"); or itself, a soft break; or a soft break, then quoted alone on a line
        return size + rest + (3 if room >= 3 else 4 if room == 2 else 6) + 2
    return size + len(line) - start + 2


def to_mime(letter: Letter, recipient: Recipient) -> EmailMessage:
    """The exact message SMTP would carry for this recipient: multipart/alternative."""
    message = EmailMessage(policy=WIRE)
    domain = letter.from_address.rpartition("@")[2] or "localhost"
    message["Subject"] = _check_header("Subject", fill(letter.subject, recipient.substitutions))
    message["From"] = Address(display_name=letter.from_name or "", addr_spec=letter.from_address)
    message["To"] = _Verbatim("To", check_address(recipient.address))  # never decoded: see _Verbatim
    if letter.reply_to:
        message["Reply-To"] = _check_header("Reply-To", letter.reply_to)
    message["Date"] = format_datetime(datetime.now(UTC))  # "+0000": UTC, said as a zone
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in {**letter.headers, **recipient.headers}.items():
        message[name] = _check_header(name, fill(value, recipient.substitutions))
    message["MIME-Version"] = "1.0"
    message.make_alternative()
    message.attach(_body_part(fill(letter.text, recipient.substitutions), "plain"))
    message.attach(_body_part(fill(letter.html, recipient.substitutions), "html"))
    return message
