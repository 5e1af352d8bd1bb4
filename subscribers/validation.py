"""Checking what a reader or an operator typed: pure functions, values in, values out.

Every check names the field it is about, so a form can show the message beside
the input and a JSON client can point at the key. Email syntax is checked by
email-validator without DNS look-ups; an address is stored in one canonical
form (trimmed, lower case, the domain in its ASCII/IDNA spelling), so
``Ana@Bücher.DE`` and ``ana@xn--bcher-kva.de`` are the same reader.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email

from subscribers import cadence as cadences
from subscribers.errors import InvalidInput, Problem

MAX_EMAIL = 254  # RFC 5321's limit on a forward path
MAX_TOPIC = 200
MAX_TOPICS = 50
MAX_TIMEZONE = 64
SUBSCRIBE_FIELDS = ("email", "topics", "timezone", "cadence")
PREFERENCE_FIELDS = ("topics", "timezone", "cadence")


@dataclass(frozen=True)
class SubscribeRequest:
    email: str  # normalized
    topics: tuple[str, ...] = ()  # empty: every topic
    timezone: str | None = None
    cadence: str = cadences.DEFAULT


@dataclass(frozen=True)
class Preferences:
    topics: tuple[str, ...] = ()
    timezone: str | None = None
    cadence: str | None = None  # None: left as it is


def _geographic(name: str) -> bool:
    """An IANA name of a place (Region/City), or UTC: not the tz database's non-geographic aliases a
    reader could not mean (localtime, Factory, EST5EDT, GMT+0, Etc/GMT-3, posixrules...)."""
    if name == "UTC":
        return True
    return "/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(name for name in available_timezones() if _geographic(name))


@lru_cache(maxsize=1)
def zones() -> tuple[str, ...]:
    """The time zones a reader may choose, sorted: what the preferences page offers and `timezone` accepts."""
    return tuple(sorted(_zones()))


def shown(value: str, limit: int = 40) -> str:
    """A value quoted for a message: cut short, control characters made visible."""
    text = value if len(value) <= limit else value[:limit] + "…"
    return ascii(text) if any(unicodedata.category(ch)[0] == "C" for ch in text) else repr(text)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # Unicode categories Cc and Cs


def _bad_character(value: str) -> str | None:
    """Why `value` cannot be stored or put into a mail header, or None."""
    found = _CONTROL.search(value)
    if found is None:
        return None
    ch = found.group()
    if ch in "\r\n":
        return "contains a line break; it must be a single line"
    if "\ud800" <= ch <= "\udfff":
        return f"contains an invalid character (a lone surrogate U+{ord(ch):04X})"
    return f"contains the control character U+{ord(ch):04X}"


def text(field: str, value: Any, *, max_length: int, required: bool = False) -> str | None:
    """One line of text: a string, no control characters, NFC, trimmed. Empty becomes None."""
    if isinstance(value, list):
        if len(value) != 1:
            raise InvalidInput([Problem(field, f"give one value, not {len(value)}")])
        value = value[0]
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput([Problem(field, f"must be text, not {type(value).__name__}")])
    reason = _bad_character(value)
    if reason:
        raise InvalidInput([Problem(field, reason)])
    value = unicodedata.normalize("NFC", value).strip()
    if len(value) > max_length:
        raise InvalidInput([Problem(field, f"is {len(value)} characters long; at most {max_length} are allowed")])
    if not value:
        if required:
            raise InvalidInput([Problem(field, "is required")])
        return None
    return value


def normalize_email(value: Any, field: str = "email") -> str:
    """The canonical form of an address, or InvalidInput naming `field`."""
    raw = text(field, value, max_length=MAX_EMAIL, required=True)
    for ch in raw:
        if unicodedata.category(ch) == "Cf":
            raise InvalidInput([Problem(field, f"contains an invisible character (U+{ord(ch):04X})")])
    try:
        checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidInput([Problem(field, f"{shown(raw)} is not a valid email address: {exc}")]) from None
    local, _, _ = checked.ascii_email.rpartition("@")
    return f"{local.lower()}@{checked.ascii_domain.lower()}"


def topics(value: Any, known: Collection[str], field: str = "topics") -> tuple[str, ...]:
    """Known topic names, deduplicated and sorted. None or [] means every topic."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InvalidInput([Problem(field, f"must be a list of topic names, not {type(value).__name__}")])
    if len(value) > MAX_TOPICS:
        raise InvalidInput([Problem(field, f"has {len(value)} entries; at most {MAX_TOPICS} are allowed")])
    chosen: set[str] = set()
    problems = []
    for item in value:
        try:
            name = text(field, item, max_length=MAX_TOPIC)
        except InvalidInput as exc:
            problems.extend(exc.problems)
            continue
        if name is None:
            continue
        if name not in known:
            offer = ", ".join(sorted(known)[:12]) or "none yet"
            problems.append(Problem(field, f"{shown(name)} is not a topic of this newsletter (topics: {offer})"))
            continue
        chosen.add(name)
    if problems:
        raise InvalidInput(problems)
    return tuple(sorted(chosen))


def timezone(value: Any, field: str = "timezone") -> str | None:
    """An IANA time zone name, or None when left empty."""
    name = text(field, value, max_length=MAX_TIMEZONE)
    if name is None:
        return None
    if name not in _zones():
        raise InvalidInput([Problem(field, f"{shown(name)} is not an IANA time zone such as Europe/Paris")])
    return name


def cadence(value: Any, field: str = "cadence") -> str:
    """weekly, fortnightly or monthly (empty: weekly)."""
    word = text(field, value, max_length=40)
    try:
        return cadences.parse(word)
    except ValueError as exc:
        raise InvalidInput([Problem(field, str(exc))]) from None


def _only(data: Mapping[str, Any], allowed: Collection[str]) -> list[Problem]:
    unknown = [key for key in data if key not in allowed]
    if not unknown:
        return []
    names = ", ".join(shown(str(key)) for key in unknown[:5])
    return [Problem("body", f"unknown field(s) {names}; expected {', '.join(allowed)}")]


def _collect(problems: list[Problem], check, *args):
    try:
        return check(*args)
    except InvalidInput as exc:
        problems.extend(exc.problems)
        return None


def subscribe_request(
    data: Mapping[str, Any], known_topics: Collection[str], extra_fields: Collection[str] = ()
) -> SubscribeRequest:
    """Check a subscription (JSON object or form fields); every problem is reported at once."""
    problems = _only(data, (*SUBSCRIBE_FIELDS, *extra_fields))
    email = _collect(problems, normalize_email, data.get("email"))
    chosen = _collect(problems, topics, data.get("topics"), known_topics)
    zone = _collect(problems, timezone, data.get("timezone"))
    every = _collect(problems, cadence, data.get("cadence"))
    if problems:
        raise InvalidInput(problems)
    return SubscribeRequest(email=email, topics=chosen, timezone=zone, cadence=every)


def preferences(data: Mapping[str, Any], known_topics: Collection[str]) -> Preferences:
    problems = _only(data, PREFERENCE_FIELDS)
    chosen = _collect(problems, topics, data.get("topics"), known_topics)
    zone = _collect(problems, timezone, data.get("timezone"))
    every = _collect(problems, cadence, data.get("cadence")) if "cadence" in data else None
    if problems:
        raise InvalidInput(problems)
    return Preferences(topics=chosen, timezone=zone, cadence=every)
