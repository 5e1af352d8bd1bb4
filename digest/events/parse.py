"""A webhook body in, rows to store out: the pure core of the event webhook.

SendGrid posts a JSON array of events. Each carries its own `sg_event_id`, the
event name, the address, a Unix `timestamp`, and the custom args the message was
sent with as top-level keys (`edition`, `reader_id`: digest.delivery.readers).
A body that is not a JSON array is refused as a whole (MalformedBatch); inside
a good array, an event we cannot use (unknown type, a required field missing)
is left out and named in `ignored`, so one odd event never costs the rest. So is
an event holding a value no database can store as sent: a NUL character or a
lone surrogate in any text, a number that is not finite (`NaN`, `Infinity`,
which Python's JSON reader accepts). SQLite would keep them and PostgreSQL
would refuse the whole batch; both now store the rest and log the one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from digest.errors import MalformedBatch
from digest.mail.message import EDITION_ARG, READER_ARG

# The events SendGrid's Event Webhook sends (delivery and engagement).
KNOWN_EVENTS = frozenset(
    {
        "processed",
        "dropped",
        "delivered",
        "deferred",
        "bounce",
        "open",
        "click",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
    }
)
MAX_ID = 100
MAX_EMAIL = 320
_LATEST = datetime(9999, 1, 1, tzinfo=UTC).timestamp()


@dataclass
class Batch:
    rows: list[dict] = field(default_factory=list)  # Event column values, one per usable event
    ignored: list[str] = field(default_factory=list)  # "event 3: unknown event type 'foo'"


def _int_arg(value) -> int | None:
    """A custom arg comes back as a string; anything but a whole number is treated as absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 2**31 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value.strip())
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unstorable(item) -> str | None:
    """Why an event's values cannot be stored as they are, or None. Walked without recursion: an
    event may be nested as deep as the JSON reader allowed."""
    stack = [("", item)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return f"a NUL character in {where or 'a key'}"
            if not value.isascii() and _SURROGATE.search(value):  # one regex pass, not a loop per character
                return f"a lone surrogate (invalid Unicode) in {where or 'a key'}"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"a number that is not finite ({value}) in {where}"
        elif isinstance(value, dict):
            stack.extend((repr(key)[:40], key) for key in value)
            stack.extend((repr(key)[:40], child) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{index}]", child) for index, child in enumerate(value))
    return None


def _problem(item) -> str | None:
    if not isinstance(item, dict):
        return f"expected an object, got {type(item).__name__}"
    unstorable = _unstorable(item)
    if unstorable is not None:
        return f"it cannot be stored: {unstorable}"
    sg_id = item.get("sg_event_id")
    if not isinstance(sg_id, str) or not sg_id.strip() or len(sg_id) > MAX_ID:
        return f"sg_event_id must be a string of 1 to {MAX_ID} characters"
    kind = item.get("event")
    if not isinstance(kind, str):
        return "event must be a string"
    if kind not in KNOWN_EVENTS:
        return f"unknown event type {kind[:40]!r}"
    email = item.get("email")
    if not isinstance(email, str) or not email.strip() or len(email) > MAX_EMAIL:
        return "email must be an address"
    stamp = item.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not 0 < stamp < _LATEST:
        return "timestamp must be Unix seconds"
    return None


def parse_batch(body: bytes | str, received_at: datetime) -> Batch:
    """The rows to store from one webhook body (duplicates within the body kept once)."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedBatch(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise MalformedBatch("the body is not UTF-8 JSON") from None
    except RecursionError:
        raise MalformedBatch("the body is JSON nested too deeply to be a batch of events") from None
    if not isinstance(data, list):
        raise MalformedBatch(f"expected a JSON array of events, got a JSON {type(data).__name__}")
    batch, seen = Batch(), set()
    for index, item in enumerate(data):
        problem = _problem(item)
        if problem is not None:
            batch.ignored.append(f"event {index}: {problem}")
            continue
        sg_id = item["sg_event_id"].strip()
        if sg_id in seen:
            continue
        seen.add(sg_id)
        bounce_type = item.get("type") if item["event"] == "bounce" else None
        batch.rows.append(
            {
                "sg_event_id": sg_id,
                "event": item["event"],
                "bounce_type": bounce_type[:40] if isinstance(bounce_type, str) else None,
                "email": item["email"].strip().lower(),
                "reader_id": _int_arg(item.get(READER_ARG)),
                "edition_number": _int_arg(item.get(EDITION_ARG)),
                "occurred_at": datetime.fromtimestamp(item["timestamp"], UTC),
                "received_at": received_at,
                "raw": item,
            }
        )
    return batch
