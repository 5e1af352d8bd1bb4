"""The one exception tree of the application.

    DigestError                 anything a user can act on; the CLI prints its message
    ├── ConfigError             a setting is missing or malformed (names the variable)
    ├── StoreError              the database cannot be opened or migrated
    ├── ImportFailed            an input file is malformed (names file, line, expectation)
    ├── NotFound                a comparison, edition or reader does not exist
    └── EditionError            an edition cannot be built, edited or sent as asked

Other modules may subclass these (senders raise `DeliveryError(DigestError)`).
Third-party exceptions are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class DigestError(Exception):
    """An error whose message is meant for the person running digest."""


class ConfigError(DigestError):
    """A setting (environment variable or option) is missing or malformed."""


class StoreError(DigestError):
    """The database cannot be reached, opened or migrated."""


class ImportFailed(DigestError):
    """An input file is malformed. The message names the file, the line and what was expected."""

    def __init__(self, path: str, line: int | None, reason: str):
        self.path, self.line, self.reason = path, line, reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")


class NotFound(DigestError):
    """A named thing (comparison, edition, reader) does not exist."""


class EditionError(DigestError):
    """An edition cannot be built, edited or sent as asked."""
