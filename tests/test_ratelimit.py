"""The pacing limiter, on a simulated clock (no real time is measured)."""

import threading

import pytest

from pipeline.vod.ratelimit import RateLimiter


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now = max(self.now, self.now + seconds)


def test_calls_leave_evenly_spaced_at_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(201):
        limiter.acquire()
        starts.append(clock.now)
    # 201 calls at 100/s span exactly 2 seconds: never faster than the rate, never slower.
    assert starts[-1] == pytest.approx(2.0)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) == pytest.approx(0.01)


def test_burst_lets_that_many_through_at_once_then_paces():
    clock = FakeClock()
    limiter = RateLimiter(10, burst=5, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.1)


def test_idle_time_is_not_saved_up_beyond_the_burst():
    clock = FakeClock()
    limiter = RateLimiter(10, burst=2, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 60  # a minute of silence
    waits = [limiter.acquire() for _ in range(4)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] > 0


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-5, 1), (10, 0)])
def test_rejects_impossible_settings(rate, burst):
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


def test_throttling_slows_the_pace_and_admitted_calls_bring_it_back():
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock, sleep=clock.sleep)
    for _ in range(16):  # a whole wave of calls in flight refused at once counts as one cut
        limiter.throttled()
    assert limiter.rate == pytest.approx(75)
    clock.now += 0.25
    limiter.throttled()
    assert limiter.rate == pytest.approx(56.25)
    starts = []
    for _ in range(3):
        limiter.acquire()
        starts.append(clock.now)
    assert starts[2] - starts[1] == pytest.approx(1 / 56.25)  # calls now leave at the slower pace
    for _ in range(1000):
        limiter.admitted()
    assert limiter.rate == 100  # never above the configured rate


def test_the_pace_never_drops_below_a_twentieth_of_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        clock.now += 1
        limiter.throttled()
    assert limiter.rate == pytest.approx(5)
