"""The server-wide limit on team-password attempts (ui/sign_in_limit.py), on a clock the test controls."""

from __future__ import annotations

import threading

from ui.sign_in_limit import BURST, PER_SECOND, AttemptLimit, password_attempts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_attempt_per_interval():
    clock = Clock()
    limit = AttemptLimit(burst=5, per_second=1 / 3, clock=clock)
    assert [limit.try_take() for _ in range(5)] == [0.0] * 5
    wait = limit.try_take()
    assert wait == 3.0  # the next one comes back in 3 s
    clock.now += 2.9
    assert limit.try_take() > 0
    clock.now += 0.2
    assert limit.try_take() == 0.0 and limit.try_take() > 0


def test_at_most_burst_plus_rate_times_t_attempts_in_any_window():
    clock = Clock()
    limit = AttemptLimit(burst=BURST, per_second=PER_SECOND, clock=clock)
    allowed = 0
    for step in range(50):  # 15 sessions trying every 0.1 s for 5 s
        clock.now += 0.1
        allowed += sum(limit.try_take() == 0.0 for _ in range(15))
    assert allowed <= BURST + 5 * PER_SECOND + 1e-9
    assert allowed < 15


def test_a_successful_sign_in_gives_its_attempt_back():
    clock = Clock()
    limit = AttemptLimit(burst=2, per_second=0.001, clock=clock)
    for _ in range(10):
        assert limit.try_take() == 0.0
        limit.give_back()
    assert limit.try_take() == 0.0 and limit.try_take() == 0.0 and limit.try_take() > 0
    limit.give_back(), limit.give_back(), limit.give_back()
    assert [limit.try_take() == 0.0 for _ in range(3)] == [True, True, False]  # never above the burst


def test_threads_share_one_limit():
    limit = AttemptLimit(burst=5, per_second=0.0001)
    results: list[float] = []
    lock = threading.Lock()

    def attempt():
        wait = limit.try_take()
        with lock:
            results.append(wait)
    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(w == 0.0 for w in results) == 5


def test_the_app_uses_one_limit_per_process():
    from ui import access
    assert access.password_attempts is password_attempts
