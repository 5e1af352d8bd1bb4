"""A send killed with SIGKILL at random moments, then resumed: nobody is mailed twice.

8,000 readers (40 requests a send), one SendGrid-compatible server recording what it accepted. Each
trial sends a new edition with `digest send` in its own process (started ahead
and waiting, so that its import time is not the trial's), kills it after a random
number of its requests (and a random sliver of the next), and resumes. Every reader must then
have been mailed exactly once, except readers the ledger reports as uncertain
(the request in flight when the process died), who were mailed at most once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from helpers import add_readers, built_edition, ledger, reader_of, start_process, wait_for
from sendgrid_server import SendGridServer

from digest.delivery import send_edition
from digest.mail.sendgrid import SendGridSender
from digest.settings import Settings
from digest.store import open_store

# Slow (a benchmark, or trials of kill -9): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow

READERS = 8_000
TRIALS = 10
BATCH = 200  # 40 requests a send, as many kill points as with more readers


def _ready_sender(env: dict, number: int) -> subprocess.Popen:
    """`digest send` in its own process, imported and waiting for a line on stdin to start."""
    script = (
        "import sys; from digest.cli import main; import digest.cli.send, digest.mail.sendgrid; "
        "sys.stdin.readline(); "
        f"main(['send', '--yes', '--edition', '{number}', '--batch-size', '{BATCH}'])"
    )
    return start_process(
        [sys.executable, "-c", script],
        env=env,
        stdin=subprocess.PIPE,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def mailed_in(server, number: int) -> Counter:
    return Counter(reader_of(a) for a, p in server.recipients() if p["custom_args"]["edition"] == str(number))


def test_killed_sends_resume_without_mailing_anyone_twice(db_url, rng):
    url = db_url
    engine = open_store(url)
    add_readers(engine, READERS)
    settings = Settings(database_url=url)
    editions = [built_edition(engine, settings, week=f"2026-W{10 + trial:02d}") for trial in range(TRIALS)]
    resumed_mid_send = 0
    with SendGridServer(api_key="k") as server:
        env = {
            **os.environ,
            "DIGEST_DATABASE_URL": url,
            "DIGEST_BACKEND": "sendgrid",
            "SENDGRID_API_KEY": "k",
            "SENDGRID_API_URL": server.url,
        }
        ready = [_ready_sender(env, number) for number in editions[:1]]
        for index, number in enumerate(editions):
            process = ready.pop(0)
            if index + 1 < len(editions):  # the next trial's process imports while this one runs
                ready.append(_ready_sender(env, editions[index + 1]))
            before = server.requests
            process.stdin.write("go\n")
            process.stdin.flush()
            # A random moment while requests flow: after a random number of the send's requests, then a
            # random sliver of the next one (a moment in seconds would depend on the machine's load).
            requests = rng.randint(1, READERS // BATCH - 1)
            wait_for(lambda: server.requests >= before + requests or process.poll() is not None, 60, "requests", 0.001)
            time.sleep(rng.uniform(0, 0.01))
            process.send_signal(signal.SIGKILL)
            process.wait()

            sender = SendGridSender("k", server.url)
            summary = send_edition(engine, settings, number, sender=sender, batch_size=BATCH)
            sender.close()
            resumed_mid_send += summary.sent_now > 0

            mailed, states = mailed_in(server, number), ledger(engine, number)
            assert summary.status == "sent"
            assert len(states) == READERS and set(states.values()) <= {"sent", "uncertain"}
            assert all(mailed[r] == 1 for r, s in states.items() if s == "sent"), f"edition {number}"
            assert all(mailed[r] <= 1 for r, s in states.items() if s == "uncertain"), f"edition {number}"
            assert summary.uncertain <= BATCH  # only the request in flight when it died
            assert set(mailed) <= set(states)
    assert resumed_mid_send >= TRIALS // 2  # most kills landed while the send was under way
    engine.dispose()
