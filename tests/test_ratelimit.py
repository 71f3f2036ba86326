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


def paced(rate=100, **settings):
    """A limiter on a simulated clock, and the clock."""
    clock = FakeClock()
    return RateLimiter(rate, clock=clock, sleep=clock.sleep, **settings), clock


def start_times(limiter, clock, calls):
    """When each of ``calls`` calls, made one after another, was let through."""
    starts = []
    for _ in range(calls):
        limiter.acquire()
        starts.append(clock.now)
    return starts


def test_calls_leave_evenly_spaced_at_the_rate():
    starts = start_times(*paced(100, headroom=0), 201)
    # 201 calls at 100/s span exactly 2 seconds: never faster than the rate, never slower.
    assert starts[-1] == pytest.approx(2.0)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.01)


def test_burst_lets_that_many_through_at_once_then_paces():
    limiter, clock = paced(10, burst=5, headroom=0)
    waits = [limiter.acquire() for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.1)


def test_idle_time_is_not_saved_up_beyond_the_burst():
    limiter, clock = paced(10, burst=2)
    limiter.acquire()
    clock.now += 60  # a minute of silence
    waits = [limiter.acquire() for _ in range(4)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] > 0


def test_calls_leave_a_small_headroom_under_the_configured_rate():
    starts = start_times(*paced(100), 99)
    assert starts[-1] == pytest.approx(1.0)  # 98 calls a second, not 100


def test_never_more_calls_in_one_second_than_the_pace_allows_even_when_they_are_late():
    # A burst stands for callers that woke up late together (a stalled process): however many are let
    # through back to back, no second holds more calls than the pace (98 a second), as a sliding window
    # counts them.
    starts = start_times(*paced(100, burst=300), 300)
    assert starts[97] == 0.0 and starts[98] == pytest.approx(1.0)
    assert max(sum(1 for t in starts if s - 1 < t <= s) for s in starts) == 98


@pytest.mark.parametrize(("rate", "burst", "headroom"), [(0, 1, 0), (-5, 1, 0), (10, 0, 0), (10, 1, 1), (10, 1, -0.1)])
def test_rejects_impossible_settings(rate, burst, headroom):
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, headroom=headroom)


def test_throttling_slows_the_pace_by_a_quarter_once_for_the_calls_in_flight():
    limiter, clock = paced(100)
    for _ in range(16):  # a whole wave of calls in flight refused at once counts as one cut
        limiter.throttled()
    assert limiter.rate == pytest.approx(98 * 0.75)
    clock.now += 0.25
    limiter.throttled()
    assert limiter.rate == pytest.approx(98 * 0.75 * 0.75)
    starts = start_times(limiter, clock, 3)
    assert starts[2] - starts[1] == pytest.approx(1 / (98 * 0.75 * 0.75))  # calls now leave at the slower pace


def test_after_a_refusal_the_pace_comes_back_within_a_second_to_just_under_where_it_was_refused():
    limiter, clock = paced(100)
    limiter.throttled()  # refused at 98 calls/s
    for _ in range(30):
        clock.now += 0.02
        limiter.admitted()
    # A percent under 98 calls/s, plus the probe's start: not straight back to 98.
    assert clock.now < 1 and limiter.rate == pytest.approx(98 * 0.99 + probe(clock.now))


def probe(seconds):
    """How far above the remembered pace (calls/s, for a configured 100) the ceiling has risen."""
    return 0.05 * seconds + 0.001 * seconds**2


def test_then_the_pace_probes_above_a_refused_pace_slowly_then_faster():
    limiter, clock = paced(100)
    limiter.throttled()
    rates = {}
    for second in range(1, 61):
        clock.now = second
        for _ in range(50):
            limiter.admitted()
        rates[second] = limiter.rate
    assert rates[2] == pytest.approx(98 * 0.99 + 0.1 + 0.004)
    assert rates[10] == pytest.approx(98 * 0.99 + 0.5 + 0.1)  # half a percent in ten seconds, plus a tenth
    assert rates[15] < 98 and rates[16] == pytest.approx(98)  # the top pace again after 16 seconds
    assert rates[60] == pytest.approx(98)  # never above it


def test_a_refusal_while_coming_back_keeps_the_slower_pace():
    # A service whose real limit is lower refuses the calls on the way back up: the pace after that cut
    # becomes the one to come back to, so the fetch settles under the service's real limit, then probes.
    limiter, clock = paced(100)
    limiter.throttled()
    for _ in range(10):
        limiter.admitted()
    assert limiter.rate == pytest.approx(98 * 0.75 + 10)
    clock.now += 0.3
    limiter.throttled()  # refused at 83.5 calls/s, under the 97 it was coming back to
    assert limiter.rate == pytest.approx(83.5 * 0.75)
    for _ in range(100):
        clock.now += 0.01
        limiter.admitted()
    assert limiter.rate == pytest.approx(83.5 * 0.75 + probe(1.0))
    clock.now += 120
    for _ in range(100):
        limiter.admitted()
    assert limiter.rate == pytest.approx(83.5 * 0.75 + probe(121))  # two minutes later, a third of the way back


def test_a_refusal_while_probing_is_a_refusal_at_the_ceiling():
    # Probing, the pace trails the ceiling by what it rose since the last admitted call: a refusal then
    # is at the ceiling (a percent off), not one on the way back (a quarter off for good).
    limiter, clock = paced(100)
    limiter.throttled()
    for second in range(1, 11):
        clock.now = second
        for _ in range(30):
            limiter.admitted()
    clock.now += 0.5
    refused = limiter.rate
    limiter.throttled()
    for _ in range(30):
        limiter.admitted()
    assert limiter.rate == pytest.approx(refused * 0.99)


def test_far_under_the_top_the_probe_finds_it_within_minutes():
    limiter, clock = paced(100)
    for _ in range(20):  # a storm: refused again and again on the way back
        clock.now += 0.3
        limiter.throttled()
        limiter.admitted()
    assert limiter.rate < 6
    clock.now += 300
    for _ in range(100):
        limiter.admitted()
    assert limiter.rate == pytest.approx(98)


def test_admitted_calls_never_bring_the_pace_above_the_top():
    limiter, clock = paced(100)
    for _ in range(1000):
        limiter.admitted()
    assert limiter.rate == pytest.approx(98)


def test_the_pace_never_drops_below_a_twentieth_of_the_rate():
    limiter, clock = paced(100)
    for _ in range(100):
        clock.now += 1
        limiter.throttled()
    assert limiter.rate == pytest.approx(5)
