"""What can go wrong with a reader, in words the person at the other end can act on.

    SubscribersError          anything the caller should show to a person
    ├── InvalidInput          one or more fields are wrong (each Problem names its field)
    ├── ImportRejected        a CSV import found bad rows and was not told to skip them
    ├── UnknownReader         no reader has this address or token
    ├── AlreadyReader         `add` was asked for an address that is already stored
    ├── Suppressed            the address was deleted on request; it is not brought back silently
    ├── NotResent             a confirmation mail asked for again that may not go (not pending, too soon)
    └── BadLink               a link's token is malformed, tampered with or for another purpose
        ├── ExpiredLink       ... or it is genuine but too old
        └── StaleLink         ... or it is genuine but the reader has moved on (unsubscribed since)

The library does not import `digest`; the CLI and the web app translate these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class SubscribersError(Exception):
    """An error whose message is meant for a person (a reader or an operator)."""


@dataclass(frozen=True)
class Problem:
    field: str  # the input field, e.g. "email", "topics", or "body"
    message: str  # what is wrong with it, as a sentence

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidInput(SubscribersError):
    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))

    def by_field(self) -> dict[str, str]:
        messages: dict[str, str] = {}
        for problem in self.problems:
            messages[problem.field] = (
                messages[problem.field] + " " if problem.field in messages else ""
            ) + problem.message
        return messages


class ImportRejected(SubscribersError):
    """Carries the whole report, so the caller can list every bad line."""

    def __init__(self, report):
        self.report = report
        super().__init__(
            f"{len(report.errors)} bad row{'' if len(report.errors) == 1 else 's'}; nothing was imported "
            "(fix them, or pass --skip-invalid to import the rest)"
        )


class UnknownReader(SubscribersError):
    pass


class AlreadyReader(SubscribersError):
    pass


class Suppressed(SubscribersError):
    pass


class NotResent(SubscribersError):
    pass


class BadLink(SubscribersError):
    pass


class ExpiredLink(BadLink):
    pass


class StaleLink(BadLink):
    pass
