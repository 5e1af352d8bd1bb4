"""Database leases on SQLite and PostgreSQL: one holder at a time, expiry, renewal, takeover."""

import threading
import time
from datetime import UTC, datetime, timedelta

from helpers import wait_until

from schedules import leases

TTL = timedelta(seconds=60)
T0 = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)


def test_a_free_lease_goes_to_the_first_and_not_to_the_second(engine):
    assert leases.acquire(engine, "weekly", "a", TTL, T0)
    assert not leases.acquire(engine, "weekly", "b", TTL, T0 + timedelta(seconds=1))
    assert leases.current(engine, "weekly").holder == "a"


def test_the_holder_may_take_its_own_lease_again(engine):
    assert leases.acquire(engine, "weekly", "a", TTL, T0)
    assert leases.acquire(engine, "weekly", "a", TTL, T0 + timedelta(seconds=30))
    assert leases.current(engine, "weekly").expires_at == T0 + timedelta(seconds=90)


def test_an_expired_lease_goes_to_the_next_instance_and_the_old_holder_cannot_renew(engine):
    assert leases.acquire(engine, "weekly", "a", TTL, T0)
    assert leases.acquire(engine, "weekly", "b", TTL, T0 + TTL)
    assert not leases.renew(engine, "weekly", "a", TTL, T0 + TTL)
    assert leases.current(engine, "weekly").holder == "b"


def test_renewal_keeps_others_out_past_the_first_expiry(engine):
    assert leases.acquire(engine, "weekly", "a", TTL, T0)
    assert leases.renew(engine, "weekly", "a", TTL, T0 + timedelta(seconds=50))
    assert not leases.acquire(engine, "weekly", "b", TTL, T0 + timedelta(seconds=70))


def test_release_lets_the_next_instance_in_at_once_but_only_the_holder_can_release(engine):
    assert leases.acquire(engine, "weekly", "a", TTL, T0)
    leases.release(engine, "weekly", "b")
    assert not leases.acquire(engine, "weekly", "b", TTL, T0)
    leases.release(engine, "weekly", "a")
    assert leases.acquire(engine, "weekly", "b", TTL, T0)


def test_leases_of_different_jobs_are_independent(engine):
    assert leases.acquire(engine, "weekly", "a", TTL, T0)
    assert leases.acquire(engine, "confirmations", "b", TTL, T0)


def test_many_instances_racing_for_a_free_or_expired_lease_give_exactly_one_winner(engine):
    for trial in range(4):
        name = f"race-{trial}"
        if trial % 2:  # half the trials race for an expired lease rather than a missing one
            leases.acquire(engine, name, "gone", timedelta(seconds=1), T0 - timedelta(hours=1))
        barrier = threading.Barrier(6)
        winners = []

        def contend(holder):
            barrier.wait()
            if leases.acquire(engine, name, holder, TTL, T0):
                winners.append(holder)

        threads = [threading.Thread(target=contend, args=(f"h{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(winners) == 1, f"trial {trial}: winners {winners}"
        assert leases.current(engine, name).holder == winners[0]


def test_a_held_lease_is_renewed_while_the_work_goes_on_and_released_after(engine):
    ttl = timedelta(seconds=1.5)
    held = leases.hold(engine, "weekly", "a", ttl)
    assert held is not None
    with held:
        time.sleep(2.5)  # longer than the time to live: only renewal keeps it (a span of time, not a wait: unscaled)
        assert not leases.acquire(engine, "weekly", "b", ttl)
        assert not held.lost
    assert leases.acquire(engine, "weekly", "b", ttl)


def test_a_held_lease_taken_over_after_expiry_reports_itself_lost(engine):
    ttl = timedelta(seconds=1.5)
    with leases.hold(engine, "weekly", "a", ttl) as held:
        # Another instance whose clock reads past the expiry takes it over.
        assert leases.acquire(engine, "weekly", "b", TTL, datetime.now(UTC) + ttl)
        wait_until(lambda: held.lost, 3, "the old holder to see its lease lost")
    assert leases.current(engine, "weekly").holder == "b"  # a lost lease is not released by its old holder
