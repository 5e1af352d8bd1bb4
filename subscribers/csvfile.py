"""Reader lists as CSV: reading an import, writing an export. Pure: streams in, values out.

An import file either names its columns on the first line (`email` is required,
`topics`, `timezone`, `cadence` and `status` are optional, anything else is ignored, so
exports from other tools work as they are) or holds one address per line.
Several topics in one cell are separated by `;` or `|`. A reader's status comes
from a `status` column (digest's own export, listmonk's), or from Mailchimp's
unsubscribed and cleaned exports, whose rows carry an `UNSUB_TIME` or
`CLEAN_TIME`; the caller decides what each status means (subscribers.status.imported).

digest's own export (`digest subscribers export`) is recognised by its columns
(OWN_EXPORT_MARKS): each row then carries every exported cell (`Row.kept`), so an
import keeps the reader as they were, token, status and consent log included.

A cell that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`,
`@`, a tab or a carriage return) is written with a `'` in front, as OWASP
recommends, and so is a cell starting with `'`; reading drops that one `'`
again, so an export imports back exactly as it was.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from subscribers import status
from subscribers.errors import InvalidInput, Problem

MAX_IMPORT_BYTES = 256 * 1024 * 1024  # an import file over this is refused before it is read
EMAIL_HEADERS = ("email", "email address", "e-mail", "e-mail address", "mail")
TOPIC_HEADERS = ("topics", "topic")
TIMEZONE_HEADERS = ("timezone", "time zone", "tz")
CADENCE_HEADERS = ("cadence", "frequency")
STATUS_HEADERS = ("status", "subscription status", "subscriber status")
# Mailchimp exports its unsubscribed and cleaned readers in files of their own, with no status
# column: a time in one of these columns says which the row is (words status.imported reads).
IMPLIED_STATUS = {"unsub_time": status.UNSUBSCRIBED, "clean_time": "cleaned"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so (OWASP: CSV injection)
_QUOTED = (*FORMULA_START, "'")
EXPORT_FIELDS = (  # digest's own export: every stored field, then the consent log (a JSON array)
    "id",
    "email",
    "status",
    "topics",
    "timezone",
    "token",
    "created_at",
    "updated_at",
    "consent_at",
    "consent_ip",
    "consent_source",
    "confirmed_at",
    "confirmed_ip",
    "confirmation_sent_at",
    "unsubscribed_at",
    "confirmation_claim",
    "confirmation_error",
    "welcome_due_at",
    "welcome_claim",
    "engaged_at",
    "sunset_asked_at",
    "cadence",
    "cadence_since",
    "consent_log",
)
# A file with these columns is digest's own export: its rows are kept as they were (status, token,
# consent record and log), not taken as new sign-ups (subscribers.operators.import_readers).
OWN_EXPORT_MARKS = ("token", "status", "consent_at", "confirmed_at")
_TOPIC_SPLIT = re.compile(r"[;|]")


@dataclass(frozen=True)
class Row:
    line: int  # the line the row starts on, for error reports
    values: dict[str, Any]  # email, topics (a list), timezone, cadence (when the file has the column)
    status: str = ""  # what the file says about the reader: a word such as "unsubscribed", or ""
    kept: dict[str, str] | None = None  # digest's own export: every exported column's text, as written


@dataclass
class Layout:
    email: int
    topics: int | None = None
    timezone: int | None = None
    status: int | None = None
    cadence: int | None = None
    implied: dict[int, str] = field(default_factory=dict)  # column -> the status a value in it means
    has_header: bool = True
    ignored: list[str] = field(default_factory=list)
    own: dict[str, int] | None = None  # digest's own export: column name -> index

    @property
    def own_export(self) -> bool:
        return self.own is not None


def _layout(first: list[str]) -> Layout:
    names = [cell.strip().lower() for cell in first]
    if any(name in EMAIL_HEADERS for name in names):
        layout = Layout(email=next(i for i, n in enumerate(names) if n in EMAIL_HEADERS))
        if all(mark in names for mark in OWN_EXPORT_MARKS):
            layout.own = {name: index for index, name in enumerate(names) if name in EXPORT_FIELDS}
        for index, name in enumerate(names):
            if index == layout.email:
                continue
            if (
                layout.own is not None
                and name in layout.own
                and name not in ("id", "confirmation_claim", "welcome_claim")
            ):
                if name == "topics":
                    layout.topics = index
                elif name == "timezone":
                    layout.timezone = index
                elif name == "status":
                    layout.status = index
                elif name == "cadence":
                    layout.cadence = index
                continue
            if name in TOPIC_HEADERS and layout.topics is None:
                layout.topics = index
            elif name in TIMEZONE_HEADERS and layout.timezone is None:
                layout.timezone = index
            elif name in STATUS_HEADERS and layout.status is None:
                layout.status = index
            elif name in CADENCE_HEADERS and layout.cadence is None:
                layout.cadence = index
            elif name in IMPLIED_STATUS:
                layout.implied[index] = IMPLIED_STATUS[name]
                layout.ignored.append(first[index].strip())
            else:
                layout.ignored.append(first[index].strip())
        return layout
    if first and "@" in first[0]:
        return Layout(
            email=0, topics=1 if len(first) > 1 else None, timezone=2 if len(first) > 2 else None, has_header=False
        )
    raise InvalidInput(
        [
            Problem(
                "line 1",
                "there is no email column: name the columns on the first line "
                "(email, topics, timezone) or put one address on each line",
            )
        ]
    )


def read_rows(stream: TextIO) -> tuple[Layout, Iterator[Row]]:
    """The file's layout and its rows. A malformed file raises InvalidInput naming the line."""
    reader = csv.reader(stream)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise InvalidInput([Problem("line 1", f"is not CSV: {exc}")]) from None
    if first is None:
        raise InvalidInput([Problem("line 1", "the file is empty")])
    layout = _layout(first)

    def cell(cells: list[str], index: int | None) -> str:
        return restore(cells[index]) if index is not None and index < len(cells) else ""

    def rows() -> Iterator[Row]:
        pending = [] if layout.has_header else [(1, first)]
        yield from (_row(line, cells) for line, cells in pending)
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InvalidInput([Problem(f"line {line}", f"is not CSV: {exc}")]) from None
            if not any(c.strip() for c in cells):
                continue  # blank line
            yield _row(line, cells)

    def _row(line: int, cells: list[str]) -> Row:
        topics = [t for t in (p.strip() for p in _TOPIC_SPLIT.split(cell(cells, layout.topics))) if t]
        said = cell(cells, layout.status).strip()
        if not said:
            said = next((word for index, word in layout.implied.items() if cell(cells, index).strip()), "")
        kept = None if layout.own is None else {name: cell(cells, index) for name, index in layout.own.items()}
        values = {"email": cell(cells, layout.email), "topics": topics, "timezone": cell(cells, layout.timezone)}
        if layout.cadence is not None:
            values["cadence"] = cell(cells, layout.cadence)
        return Row(line, values, said, kept)

    return layout, rows()


def neutralise(value: Any) -> Any:
    """A cell as written: text a spreadsheet would run as a formula gets a `'` in front."""
    return "'" + value if isinstance(value, str) and value.startswith(_QUOTED) else value


def restore(cell: str) -> str:
    """A cell as read: the `'` that `neutralise` put in front is dropped."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_QUOTED) else cell


def write_csv(records: Iterable[dict[str, Any]], stream: TextIO) -> int:
    writer = csv.DictWriter(stream, fieldnames=EXPORT_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in records:
        row = {**record, "topics": ";".join(record.get("topics") or ())}
        if "consent_log" in record:
            row["consent_log"] = json.dumps(record["consent_log"], ensure_ascii=False)
        writer.writerow({name: neutralise(value) for name, value in row.items()})
        count += 1
    return count
