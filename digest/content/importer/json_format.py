"""Parser for digest's JSON import format (documented in README.md, "Importing comparisons").

    {"comparisons": [{"title": "A vs B", "summary": "...", "published_at": "2026-11-16T09:00:00Z",
                      "url": "https://...", "slug": "...", "lang": "fr",
                      "tools": [{"name", "category", "tagline", "description",
                                 "panel_ship": 75, "community": null, "entry_price": "Paid"}, {...}],
                      "reviews": [{"tool": "A", "lens": "builder", "quote": "...", "verdict": "ship"}]}]}

A bare list of comparisons, or a single comparison object, is accepted too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from digest.content.importer.records import ComparisonRecord, ReviewRecord, ToolRecord, one_text
from digest.content.models import LENSES
from digest.errors import ImportFailed
from digest.language import standard_tag


class _Strict(BaseModel):
    """Every text field is checked after JSON decoding (`\\u0000` is a NUL like any other):
    control characters and lengths, by digest.content.importer.records.one_text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _text(cls, value, info: ValidationInfo):
        return one_text(value, info.field_name) if isinstance(value, str) else value


class _Tool(_Strict):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=200)
    category: str = Field(min_length=1, max_length=200)
    tagline: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=10_000)
    panel_ship: float = Field(ge=0, le=100)
    community: float | None = Field(default=None, ge=0, le=100)
    entry_price: str = Field(min_length=1, max_length=200)


class _Review(_Strict):
    tool: str = Field(min_length=1, max_length=200)
    lens: Literal["builder", "competition", "thesis", "buyer"]
    quote: str = Field(min_length=1, max_length=5000)
    verdict: Literal["ship", "skip", "unknown"] = "unknown"


class _Comparison(_Strict):
    title: str = Field(min_length=1, max_length=300)
    summary: str = Field(min_length=1, max_length=2000)
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=400)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2000)
    published_at: datetime | None = None
    lang: str | None = Field(default=None, max_length=35)  # BCP 47; None: the newsletter's language
    tools: list[_Tool] = Field(min_length=2, max_length=2)
    reviews: list[_Review] = Field(default_factory=list)

    @field_validator("lang")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        return None if value is None else standard_tag(value)

    @field_validator("published_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("published_at needs a time zone, such as 2026-11-16T09:00:00Z")
        return value


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_json(text: str, path: str) -> list[ComparisonRecord]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed(path, exc.lineno, f"broken JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise ImportFailed(path, None, "the JSON is nested too deeply to be comparisons") from None
    if isinstance(data, dict) and "comparisons" in data:
        if set(data) != {"comparisons"}:
            extra = ", ".join(sorted(set(data) - {"comparisons"}))
            raise ImportFailed(path, None, f"unexpected top-level keys: {extra} (expected only 'comparisons')")
        items, prefix = data["comparisons"], "comparisons"
    elif isinstance(data, dict):
        items, prefix = [data], ""
    else:
        items, prefix = data, ""
    if not isinstance(items, list):
        raise ImportFailed(path, None, "expected a list of comparisons under 'comparisons'")
    records = []
    for index, item in enumerate(items):
        here = f"{prefix}[{index}]"
        try:
            parsed = _Comparison.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            message = first["msg"].removeprefix("Value error, ")
            raise ImportFailed(
                path, None, f"{here}.{_where(first['loc'])}: {message}".replace("..", ".").replace(".[", "[")
            ) from None
        records.append(_record(parsed, path, here))
    return records


def _record(item: _Comparison, path: str, here: str) -> ComparisonRecord:
    tools = tuple(ToolRecord(**t.model_dump(exclude={"slug"}), slug=t.slug or "") for t in item.tools)
    if tools[0].slug == tools[1].slug:
        raise ImportFailed(path, None, f"{here}.tools: both tools are {tools[0].name!r}")
    reviews, seen = [], set()
    for index, review in enumerate(item.reviews):
        matches = [i for i, t in enumerate(tools) if review.tool in (t.name, t.slug)]
        if not matches:
            raise ImportFailed(
                path,
                None,
                f"{here}.reviews[{index}].tool: {review.tool!r} is neither {tools[0].name!r} nor {tools[1].name!r}",
            )
        key = (matches[0], review.lens)
        if key in seen:
            raise ImportFailed(path, None, f"{here}.reviews[{index}]: a second {review.lens} review of {review.tool!r}")
        seen.add(key)
        reviews.append(
            ReviewRecord(tool_index=matches[0], lens=review.lens, quote=review.quote, verdict=review.verdict)
        )
    reviews.sort(key=lambda r: (LENSES.index(r.lens), r.tool_index))
    return ComparisonRecord(
        source=f"{path} {here}",
        title=item.title,
        summary=item.summary,
        tools=tools,
        reviews=tuple(reviews),
        published_at=item.published_at,
        url=item.url,
        slug=item.slug or "",
        lang=item.lang,
    )
