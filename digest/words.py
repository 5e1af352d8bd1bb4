"""Counting things in sentences: "1 reader gets", "2 readers get", "1,204 readers get"."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`number` and `noun`, the noun in the plural unless there is exactly one (`plural` when adding
    an s will not do). Thousands are grouped with commas, as every count digest prints."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def agreeing(number: int, singular: str, plural: str) -> str:
    """The words that agree with `number` things: agreeing(1, "gets", "get") is "gets", for "1 reader gets"."""
    return singular if number == 1 else plural
