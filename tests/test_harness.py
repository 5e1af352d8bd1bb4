"""The test harness itself (issue 19, item 6): servers a test starts are stopped when it fails or
times out, markers come from the fixtures a test uses, and a failing test prints its seed.

Each check runs a small test file in a pytest of its own (pytester), with this folder's conftest.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from helpers import port_is_open, wait_for

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
# The inner runs load pytest-timeout only: Schemathesis, Hypothesis and AnyIO's plugins take 2 s to import.
INNER_ARGS = ("-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio")

# A loopback server (the shape of `digest serve`: a leader with a child of its own), reporting its
# port and both process ids on stdout once it listens.
SERVER = r"""
import socket, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], child.pid, flush=True)
while True:
    time.sleep(1)
"""

INNER = """
import json, subprocess, sys, time
import pytest
from helpers import start_process

SERVER = {server!r}

def started(name):
    process = start_process([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    port, child = process.stdout.readline().split()
    with open(name, "w") as out:
        json.dump({{"port": int(port), "pids": [process.pid, int(child)]}}, out)
    return process

def test_fails_with_a_server_running():
    started("failed.json")
    assert False, "on purpose"

@pytest.mark.timeout(2)
def test_times_out_with_a_server_running():
    started("timed_out.json")
    time.sleep(60)

def test_then_nothing_they_started_is_left():  # in the same session, before it ends
    from test_harness import check_stopped
    check_stopped("failed.json")
    check_stopped("timed_out.json")
"""


@pytest.fixture
def harness(pytester, monkeypatch):
    """A pytester whose runs (in processes of their own) use this folder's conftest and helpers."""
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    return pytester


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped by its parent) is gone too
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def check_stopped(name: str) -> None:
    started = json.loads(Path(name).read_text())
    assert not port_is_open(started["port"]), f"{name}: the server still listens"
    wait_for(lambda: not any(alive(pid) for pid in started["pids"]), 5, f"{name}: the server and its child to end")


def test_a_server_started_by_a_failing_or_timed_out_test_is_stopped_with_its_children(harness):
    harness.makepyfile(test_inner=INNER.format(server=SERVER))
    result = harness.runpytest_subprocess(*INNER_ARGS)
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])


def test_markers_come_from_the_fixtures_a_test_uses(harness):
    harness.makepyfile(
        test_inner="""
        def test_plain(): pass
        def test_sqlite_only(sqlite_url): pass
        def test_both(db_url): pass
        def test_postgres(pg_url): pass
        def test_empty(empty_db_url): pass
        def test_page(browser): pass
        """
    )
    result = harness.runpytest_subprocess(*INNER_ARGS, "--co", "-q", "-m", "postgres")
    chosen = {line.split("::")[1] for line in result.outlines if "::" in line}
    assert chosen == {"test_both[postgresql]", "test_postgres", "test_empty[postgresql]"}
    result = harness.runpytest_subprocess(*INNER_ARGS, "--co", "-q", "-m", "not postgres and not browser")
    chosen = {line.split("::")[1] for line in result.outlines if "::" in line}
    assert chosen == {"test_plain", "test_sqlite_only", "test_both[sqlite]", "test_empty[sqlite]"}


def test_a_failing_test_prints_its_seed_and_the_seed_replays_it(harness, monkeypatch):
    harness.makepyfile(
        test_inner="""
        import random
        def test_draws(rng):
            print("drew", rng.random(), random.random())
            assert False
        """
    )
    first = harness.runpytest_subprocess(*INNER_ARGS, "-s")
    [replay] = [line for line in first.outlines if "replay: DIGEST_TEST_SEED=" in line]
    run_seed = re.search(r"DIGEST_TEST_SEED=(\d+)", replay).group(1)
    drew = [line for line in first.outlines if line.startswith("drew")]
    monkeypatch.setenv("DIGEST_TEST_SEED", run_seed)
    again = harness.runpytest_subprocess(*INNER_ARGS, "-s")
    assert [line for line in again.outlines if line.startswith("drew")] == drew
    assert f"DIGEST_TEST_SEED={run_seed}" in "\n".join(again.outlines[:5])  # in the header too


def test_tests_start_processes_only_through_start_process():
    """A process started with a bare subprocess.Popen would not be stopped when its test fails."""
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(TESTS.glob("test_*.py"))
        if path.name != "test_harness.py"  # its server's own child is the point of the test
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "subprocess.Popen(" in line
    ]
    assert offenders == [], "use helpers.start_process (or digest_process, digest_serve, run_process)"
