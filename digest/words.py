"""Counting things in sentences: "1 reader", "2 readers", "1,204 readers"."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`number` and `noun`, the noun in the plural unless there is exactly one (`plural` when adding
    an s will not do). Thousands are grouped with commas, as every count digest prints."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"
