"""A thread-safe pacing rate limiter (GCRA): calls leave evenly spaced, never faster than the rate.

When the service throttles anyway (the account's budget is shared, or smaller than configured), the
pace backs off and creeps back up as calls get through (additive increase, multiplicative decrease),
so a throttling storm slows the fetch down instead of failing videos.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Holds callers to ``rate`` calls per second, letting at most ``burst`` through back to back.

    Each caller reserves the next free slot under a lock and sleeps outside it, so many threads share
    one limiter without a queue. A slot nobody took is not saved up beyond the burst.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.max_rate = rate
        self.burst = burst
        self._set_rate(rate)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()  # theoretical arrival time of the next call
        self._last_cut = float("-inf")

    def _set_rate(self, rate: float) -> None:
        self.rate = rate
        self.interval = 1.0 / rate
        self._tolerance = (self.burst - 1) * self.interval

    def throttled(self) -> None:
        """The service refused a call for its rate: pace a quarter slower (at most every 0.25 s, since
        the calls already in flight are refused together), down to a twentieth of the configured rate."""
        with self._lock:
            now = self._clock()
            if now - self._last_cut >= 0.25:
                self._last_cut = now
                self._set_rate(max(self.max_rate / 20, self.rate * 0.75))

    def admitted(self) -> None:
        """A call got through: creep back toward the configured rate, by 1/1000 of it."""
        if self.rate < self.max_rate:
            with self._lock:
                self._set_rate(min(self.max_rate, self.rate + self.max_rate / 1000))

    def acquire(self) -> float:
        """Blocks until the caller may make one call; returns the seconds it waited."""
        with self._lock:
            now = self._clock()
            tat = max(self._next, now)
            wait = tat - self._tolerance - now
            self._next = tat + self.interval
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0
