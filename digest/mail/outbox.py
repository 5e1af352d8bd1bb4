"""The outbox sender: one .eml file per recipient, exactly what SMTP would carry.

Each file is written as `<name>.part` and renamed into place, so a reader of the
folder never sees half a message. What can go wrong is told apart:

- one reader's message cannot be built or encoded (an address that cannot be
  written into a To header as stored): that reader is rejected with the
  reason, and the rest of the batch goes on;
- the folder cannot be written (read-only, missing, not a folder, full): no
  file of this reader or the ones after was renamed into place, so they are
  unsent with the reason, and the send pauses and resumes later.

File names have a bounded length whatever the address: a long address is cut
and a hash of it keeps the name unique. Cleaning up a partial file never raises.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from digest.mail.base import SendResult
from digest.mail.message import Letter, Recipient, addresses_of, to_mime

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
ADDRESS_PART = 80  # characters of the address kept in a file name; a longer one is cut and hashed
ID_PART = 64  # characters of the Message-ID's left part kept in a file name
# The longest name: ADDRESS_PART + 1 + 16 (hash) + 2 + ID_PART + len(".eml.part"), well under 255 bytes.
MAX_NAME = ADDRESS_PART + 1 + 16 + 2 + ID_PART + len(".eml.part")


def file_name(address: str, message_id: str) -> str:
    """`<address>--<message id>.eml`, both made safe for any file system and cut to a bounded length."""
    safe = _UNSAFE.sub("_", address)
    if len(safe) > ADDRESS_PART:
        safe = f"{safe[:ADDRESS_PART]}~{hashlib.sha256(address.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
    unique = _UNSAFE.sub("_", message_id.partition("@")[0])[:ID_PART]
    return f"{safe}--{unique}.eml"


class OutboxSender:
    name = "outbox"
    max_batch = 1000

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @classmethod
    def from_settings(cls, settings) -> OutboxSender:
        return cls(settings.outbox)

    def _ready(self) -> str | None:
        """Why the folder cannot take mail now, or None. It is made if missing, but not its parents:
        an outbox whose parent is gone (an unmounted disk, a mistyped path) pauses the send."""
        try:
            self.folder.mkdir(exist_ok=True)
        except FileNotFoundError:
            return f"the outbox {self.folder} does not exist, nor does the folder it would be made in"
        except FileExistsError:
            return f"the outbox {self.folder} is not a folder"
        except OSError as exc:
            return f"cannot make the outbox folder {self.folder}: {exc.strerror or exc}"
        if not self.folder.is_dir():
            return f"the outbox {self.folder} is not a folder"
        return None

    def send(self, letter: Letter, recipients: Sequence[Recipient]) -> SendResult:
        result = SendResult()
        problem = self._ready()
        if problem is not None:
            return SendResult.all_unsent(recipients, problem)
        for index, recipient in enumerate(recipients):
            try:
                message = to_mime(letter, recipient)
                data = message.as_bytes()
            except (ValueError, TypeError, LookupError) as exc:  # this reader's message, not the folder
                result.rejected[recipient.address] = f"the message cannot be built: {exc}"
                continue
            message_id = message["Message-ID"].strip("<>")
            name = file_name(recipient.address, message_id)
            partial = self.folder / (name + ".part")
            try:
                partial.write_bytes(data)
                os.replace(partial, self.folder / name)  # a reader never sees half a file
            except OSError as exc:
                # Until the rename, nothing was delivered: this reader and the rest may be retried.
                with contextlib.suppress(OSError):
                    partial.unlink(missing_ok=True)
                result.unsent += addresses_of(recipients[index:])
                result.error = (
                    f"the disk holding the outbox {self.folder} is full ({exc.strerror}); free some space there"
                    if exc.errno == errno.ENOSPC
                    else f"cannot write to the outbox {self.folder}: {exc.strerror or exc}"
                )
                return result
            result.accepted.append(recipient.address)
            result.message_ids[recipient.address] = message_id
        return result

    def close(self) -> None:
        pass
