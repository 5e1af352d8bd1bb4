"""The outbox sender: one .eml file per recipient, exactly what SMTP would carry."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from digest.mail.base import SendResult
from digest.mail.message import Letter, Recipient, addresses_of, to_mime

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class OutboxSender:
    name = "outbox"
    max_batch = 1000

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def send(self, letter: Letter, recipients: Sequence[Recipient]) -> SendResult:
        result = SendResult()
        for index, recipient in enumerate(recipients):
            message = to_mime(letter, recipient)
            message_id = message["Message-ID"].strip("<>")
            name = f"{_UNSAFE.sub('_', recipient.address)}--{_UNSAFE.sub('_', message_id)}.eml"
            partial = self.folder / (name + ".part")
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                partial.write_bytes(message.as_bytes())
                os.replace(partial, self.folder / name)  # a reader never sees half a file
            except OSError as exc:
                # Until the rename, nothing was delivered: this reader and the rest may be retried.
                partial.unlink(missing_ok=True)
                result.unsent += addresses_of(recipients[index:])
                result.error = f"cannot write to the outbox {self.folder}: {exc.strerror or exc}"
                return result
            result.accepted.append(recipient.address)
            result.message_ids[recipient.address] = message_id
        return result

    def close(self) -> None:
        pass
