"""Storage faults pause a send, they don't guess (issue 12, item 4).

Real faults, made as root: an outbox under a regular file, a missing parent folder, a read-only
tmpfs, a tmpfs that is full. Each send pauses with the reason; its readers stay unsent (no ledger
row: not uncertain); the fix, then a resume, mails each reader exactly once. Confirmation mails
stay queued the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import a_letter, add_edition, add_readers, address, ledger, remount, tmpfs

from digest.delivery import RetryPolicy, send_edition
from digest.delivery.confirmations import send_pending
from digest.mail.outbox import OutboxSender
from digest.settings import Settings
from digest.timeutil import ManualClock
from subscribers.models import Subscriber

QUICK = RetryPolicy(attempts=2, base=0.01, cap=0.02)
READERS = 25


def recipients(folder: Path) -> Counter:
    return Counter(BytesParser(policy=policy.compat32).parsebytes(f.read_bytes())["To"] for f in folder.glob("*.eml"))


def send(engine, folder: Path):
    return send_edition(
        engine,
        Settings(database_url=str(engine.url), base_url="https://v.example"),
        1,
        sender=OutboxSender(folder),
        letter=a_letter(1),
        retry=QUICK,
        clock=ManualClock(),  # the backoff between tries waits no real time
        batch_size=10,
    )


def _under_a_file(tmp: Path):
    (tmp / "a-file").write_text("a file, not a folder")
    folder = tmp / "a-file" / "outbox"

    def fix():
        (tmp / "a-file").unlink()
        (tmp / "a-file").mkdir()

    return folder, fix, "Not a directory"


def _a_file_itself(tmp: Path):
    folder = tmp / "outbox"
    folder.write_text("the outbox is a file")
    return folder, lambda: (folder.unlink(), folder.mkdir()), "is not a folder"


def _missing_parent(tmp: Path):
    folder = tmp / "unmounted-disk" / "outbox"
    return folder, lambda: (tmp / "unmounted-disk").mkdir(), "does not exist"


FAULTS = {"under a regular file": _under_a_file, "a regular file": _a_file_itself, "missing": _missing_parent}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_an_outbox_that_cannot_be_made_pauses_the_send_and_a_resume_mails_each_once(engine, tmp_path, fault):
    add_readers(engine, READERS)
    add_edition(engine, 1)
    folder, fix, words = FAULTS[fault](tmp_path)
    paused = send(engine, folder)
    assert (paused.status, paused.sent, paused.uncertain, paused.pending) == ("paused", 0, 0, READERS)
    assert words in paused.reason and str(folder) in paused.reason
    assert ledger(engine, 1) == {}  # released: unsent, never uncertain
    fix()
    resumed = send(engine, folder)
    assert (resumed.status, resumed.sent, resumed.uncertain) == ("sent", READERS, 0)
    assert recipients(folder) == Counter({address(i): 1 for i in range(1, READERS + 1)})


@pytest.mark.parametrize(
    "mounted, fixed, words",
    [
        ("ro", "rw", "Read-only file system"),  # nothing can be written
        ("size=24k", "size=4m", "No space left on device"),  # room for a few messages (4 KB pages), then full
    ],
)
def test_a_read_only_or_full_outbox_pauses_cleans_up_and_a_resume_after_the_fix_mails_each_once(
    engine, tmp_path, mounted, fixed, words
):
    add_readers(engine, READERS)
    add_edition(engine, 1)
    with tmpfs(tmp_path / "outbox", mounted) as folder:
        paused = send(engine, folder)
        assert (paused.status, paused.uncertain) == ("paused", 0) and words in paused.reason
        assert paused.sent == (0 if mounted == "ro" else sum(recipients(folder).values())) < READERS
        assert not list(folder.glob("*.part"))  # a half-written file is removed
        assert list(ledger(engine, 1).values()) == ["sent"] * paused.sent  # the rest: no row, unsent
        remount(folder, fixed)
        resumed = send(engine, folder)
        assert (resumed.status, resumed.sent, resumed.uncertain) == ("sent", READERS, 0)
        assert recipients(folder) == Counter({address(i): 1 for i in range(1, READERS + 1)})


def test_confirmation_mails_stay_queued_while_the_outbox_is_read_only(engine, tmp_path):
    add_readers(engine, 5, status="pending")
    with tmpfs(tmp_path / "outbox", "ro") as folder:
        settings = Settings(database_url=str(engine.url), outbox=folder, secret_key="k")
        assert send_pending(engine, settings) == 0
        table = Subscriber.__table__
        with engine.connect() as connection:
            waiting = connection.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(
                    table.c.confirmation_sent_at.is_(None),
                    table.c.confirmation_claim.is_(None),
                    table.c.confirmation_error.is_(None),
                )
            ).scalar_one()
        assert waiting == 5
        remount(folder, "rw")
        assert send_pending(engine, replace(settings)) == 5
        assert sum(recipients(folder).values()) == 5
