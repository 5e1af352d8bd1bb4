"""Importing comparisons: read files (pure), then write them in one transaction.

`read_records` turns paths into ComparisonRecords and raises ImportFailed on the
first malformed file, before the store is touched; `write_records` upserts them
(tools by slug, comparisons by slug); `import_paths` does both. The caller owns
the transaction, so a failure anywhere leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from digest.content.importer.json_format import parse_json
from digest.content.importer.page_export import parse_page
from digest.content.importer.records import ComparisonRecord, ReviewRecord, ToolRecord, check_record
from digest.content.importer.writer import ImportReport, write_records
from digest.errors import ImportFailed

__all__ = [
    "ComparisonRecord",
    "ImportReport",
    "ReviewRecord",
    "ToolRecord",
    "import_paths",
    "parse_json",
    "parse_page",
    "read_records",
    "write_records",
]

MAX_FILE_BYTES = 5 * 1024 * 1024
SUFFIXES = (".txt", ".json")


def _files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise ImportFailed(str(path), None, "the folder holds no .txt or .json files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ImportFailed(str(path), None, "no such file or folder")
    return files


def _decode(path: Path) -> str:
    size = path.stat().st_size  # before reading: a file over the limit never reaches memory
    if size > MAX_FILE_BYTES:
        raise ImportFailed(str(path), None, f"the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
    with path.open("rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)  # and no more, should it grow meanwhile
    if len(data) > MAX_FILE_BYTES:
        raise ImportFailed(str(path), None, f"the file is over the limit of {MAX_FILE_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            str(path),
            line,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8",
        ) from None
    for number, line in enumerate(text.splitlines(), 1):
        bad = next((c for c in line if ord(c) < 32 and c != "\t" or 0x7F <= ord(c) < 0xA0), None)
        if bad is not None:
            raise ImportFailed(str(path), number, f"control character U+{ord(bad):04X} is not allowed in text")
    return text


def read_records(paths: Iterable[str | Path]) -> list[ComparisonRecord]:
    """Every comparison in `paths` (files or folders), or ImportFailed for the first bad one."""
    records: list[ComparisonRecord] = []
    for path in _files(paths):
        text = _decode(path)
        is_json = path.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "[")
        found = parse_json(text, str(path)) if is_json else [parse_page(text, str(path))]
        for record in found:
            check_record(record, record.source)
        records.extend(found)
    seen: dict[str, str] = {}
    for record in records:
        if record.slug in seen:
            raise ImportFailed(
                record.source,
                None,
                f"comparison {record.slug!r} is also in {seen[record.slug]}; import one or the other",
            )
        seen[record.slug] = record.source
    return records


def import_paths(
    session: Session, paths: Iterable[str | Path], *, site_url: str, published_at: datetime | None = None
) -> ImportReport:
    """Read and write in one go; the caller commits (or rolls back) the session."""
    return write_records(session, read_records(paths), site_url=site_url, published_at=published_at)
