"""Reader lists as CSV: reading an import, writing an export. Pure: streams in, values out.

An import file either names its columns on the first line (`email` is required,
`topics` and `timezone` are optional, anything else is ignored, so exports from
other tools work as they are) or holds one address per line. Several topics in
one cell are separated by `;` or `|`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, TextIO

from subscribers.errors import InvalidInput, Problem

EMAIL_HEADERS = ("email", "email address", "e-mail", "e-mail address", "mail")
TOPIC_HEADERS = ("topics", "topic")
TIMEZONE_HEADERS = ("timezone", "time zone", "tz")
EXPORT_FIELDS = ("id", "email", "status", "topics", "timezone", "token", "created_at", "updated_at",
                 "consent_at", "consent_ip", "consent_source", "confirmed_at", "confirmed_ip",
                 "confirmation_sent_at", "unsubscribed_at")
_TOPIC_SPLIT = re.compile(r"[;|]")


@dataclass(frozen=True)
class Row:
    line: int  # the line the row starts on, for error reports
    values: dict[str, Any]  # email, topics (a list), timezone


@dataclass
class Layout:
    email: int
    topics: int | None = None
    timezone: int | None = None
    has_header: bool = True
    ignored: list[str] = field(default_factory=list)


def _layout(first: list[str]) -> Layout:
    names = [cell.strip().lower() for cell in first]
    if any(name in EMAIL_HEADERS for name in names):
        layout = Layout(email=next(i for i, n in enumerate(names) if n in EMAIL_HEADERS))
        for index, name in enumerate(names):
            if index == layout.email:
                continue
            if name in TOPIC_HEADERS and layout.topics is None:
                layout.topics = index
            elif name in TIMEZONE_HEADERS and layout.timezone is None:
                layout.timezone = index
            else:
                layout.ignored.append(first[index].strip())
        return layout
    if first and "@" in first[0]:
        return Layout(email=0, topics=1 if len(first) > 1 else None, timezone=2 if len(first) > 2 else None,
                      has_header=False)
    raise InvalidInput([Problem("line 1", "there is no email column: name the columns on the first line "
                                          "(email, topics, timezone) or put one address on each line")])


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
        return cells[index] if index is not None and index < len(cells) else ""

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
        return Row(line, {"email": cell(cells, layout.email), "topics": topics,
                          "timezone": cell(cells, layout.timezone)})

    return layout, rows()


def write_csv(records: Iterable[dict[str, Any]], stream: TextIO) -> int:
    writer = csv.DictWriter(stream, fieldnames=EXPORT_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow({**record, "topics": ";".join(record.get("topics") or ())})
        count += 1
    return count
