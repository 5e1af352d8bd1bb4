"""What an operator is told when a command fails for a reason digest did not raise itself.

The command line shows no traceback (digest.cli.app.DigestGroup): a database
that does not exist or went away, a lock held too long, input nested too deeply
to read, a file that cannot be read: each becomes one `Error:` line saying what
to do. Anything else is a bug: the line names it, and the traceback goes to a
file whose name the line gives, for the report.
"""

from __future__ import annotations

import os
import tempfile
import traceback

from sqlalchemy.exc import SQLAlchemyError

from digest.store import database_problem


def operator_message(exc: BaseException, database_url: str | None) -> str:
    if isinstance(exc, SQLAlchemyError):
        return database_problem(exc, database_url or "")
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to be read (a JSON file of lists within lists?); nothing was changed"
    if isinstance(exc, MemoryError):
        return "ran out of memory; nothing was changed (is an input file far larger than expected?)"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc}; this is a bug in digest, please report it with {_keep(exc)}"


def _keep(exc: BaseException) -> str:
    """The traceback, written to a file for the bug report; its name, for the message."""
    try:
        descriptor, path = tempfile.mkstemp(prefix="digest-error-", suffix=".txt")
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write("".join(traceback.format_exception(exc)))
        return f"the details in {path}"
    except OSError:
        return "the command you ran"


def one_line(message: str) -> str:
    return " ".join(message.split())
