"""A thread-safe pacing rate limiter (GCRA): calls leave evenly spaced, never faster than the rate."""

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
        self.rate = rate
        self.interval = 1.0 / rate
        self._tolerance = (burst - 1) * self.interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()  # theoretical arrival time of the next call

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
