"""The confirmation sender behind the web app: woken by sign-ups, one pass for many, never lost."""

from __future__ import annotations

import threading
import time

from helpers import pause, scaled, wait_for

from digest.web.pump import ConfirmationPump


class CountingSender:
    """A Sender stand-in with a batch size; the pump only passes it to `send`."""

    max_batch = 3

    def close(self) -> None:
        pass


def wait_until(condition, timeout=5.0):
    wait_for(condition, timeout, "the pump", interval=0.01)


def test_a_burst_of_wake_ups_is_served_by_a_few_passes_and_none_is_lost():
    waiting = {"n": 0}
    passes = []
    lock = threading.Lock()

    def send(sender) -> int:
        with lock:
            taken = min(waiting["n"], sender.max_batch)
            waiting["n"] -= taken
        passes.append(taken)
        return taken

    pump = ConfirmationPump(send, CountingSender, gather=0.05)
    for _ in range(10):
        with lock:
            waiting["n"] += 1
        pump.wake()
    wait_until(lambda: waiting["n"] == 0)
    assert sum(passes) == 10
    assert len(passes) <= 6  # full batches of 3 go round at once; not one pass per wake-up


def test_a_failing_pass_is_logged_and_the_next_wake_up_tries_again(caplog):
    calls = []

    def send(sender) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("provider down")
        return 0

    pump = ConfirmationPump(send, CountingSender, gather=0.0)
    pump.wake()
    wait_until(lambda: len(calls) == 1)
    wait_until(lambda: "sending confirmation mails failed" in caplog.text)
    pump.wake()
    wait_until(lambda: len(calls) == 2)


def test_the_sender_thread_retires_when_idle_and_comes_back_on_demand():
    calls = []
    pump = ConfirmationPump(lambda sender: calls.append(1) or 0, CountingSender, gather=0.0, idle=0.1)
    pump.wake()
    wait_until(lambda: len(calls) == 1)
    wait_until(lambda: pump._thread is None)
    pump.wake()
    wait_until(lambda: len(calls) == 2)


def test_stopping_finishes_the_pass_in_progress_and_starts_no_other():
    entered, release, finished = threading.Event(), threading.Event(), []

    def send(sender) -> int:
        entered.set()
        assert release.wait(scaled(5))
        finished.append(1)
        return 1

    pump = ConfirmationPump(send, CountingSender, gather=0.0)
    pump.wake()
    assert entered.wait(scaled(5))
    stopper = threading.Thread(target=pump.stop)
    stopper.start()
    pause(0.1)
    assert stopper.is_alive() and not finished  # stop waits for the readers claimed to be mailed
    release.set()
    stopper.join(scaled(5))
    assert not stopper.is_alive() and finished == [1]
    pump.wake()
    pause(0.2)  # time to (wrongly) start a pass
    assert finished == [1] and pump._thread is None


def test_sign_ups_being_gathered_when_the_server_stops_get_their_pass_at_once():
    calls = []
    pump = ConfirmationPump(lambda sender: calls.append(1) or 1, CountingSender, gather=30.0)
    pump.wake()
    pause(0.1)
    started = time.monotonic()
    pump.stop()
    assert calls == [1] and time.monotonic() - started < scaled(5)  # not the 30 s of gathering
