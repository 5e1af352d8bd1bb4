"""What an operator is told when a command fails for a reason digest did not raise itself.

The command line shows no traceback (digest.cli.app.DigestGroup): a database
that does not exist or went away, a lock held too long, input nested too deeply
to read, a file that cannot be read: each becomes one `Error:` line saying what
to do. Anything else is a bug: the line names it, and the traceback goes to a
file whose name the line gives, for the report.
"""

from __future__ import annotations

import errno
import os
import tempfile
import traceback

from sqlalchemy.exc import SQLAlchemyError

from digest.errors import DigestError, DiskFull
from digest.store import store_error


def operator_message(exc: BaseException, database_url: str | None) -> str:
    if isinstance(exc, SQLAlchemyError):
        return str(store_error(exc, database_url or ""))  # a full disk, a lost connection: said as such
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to be read (a JSON file of lists within lists?); nothing was changed"
    if isinstance(exc, MemoryError):
        return "ran out of memory; nothing was changed (is an input file far larger than expected?)"
    if isinstance(exc, OSError):
        return str(file_error(exc))
    return f"unexpected {type(exc).__name__}: {exc}; this is a bug in digest, please report it with {_keep(exc)}"


def file_error(exc: OSError) -> DigestError:
    """A file that could not be written or read, in one line; a full disk (ENOSPC) is DiskFull."""
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return DiskFull(
            f"{where}the disk is full ({exc.strerror or 'No space left on device'}); free some space there, "
            "then run the command again"
        )
    return DigestError(f"{where}{exc.strerror or exc}")


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
