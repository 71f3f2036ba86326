"""A thread-safe pacing rate limiter: calls leave evenly spaced, a little under the account's rate.

VOD does not say how it counts its calls per second: a token bucket forgives a call that arrives a
little early, a strict sliding window does not. So the limiter keeps two promises, both on its own clock
and a small headroom under the configured rate: calls leave evenly spaced (GCRA), and never more of them
in any one second than the pace allows, even when a stalled process lets late calls out together.

When the service throttles anyway (the account's budget is shared, or smaller than configured, or calls
bunched up on the way), the pace drops by a quarter and the limiter remembers the pace it was refused at.
Admitted calls bring it back within a second to a percent under that pace, then it probes above it
slowly (half a percent of the configured rate in the first ten seconds, faster the longer nothing is
refused). A refusal on the way back up keeps the slower pace as the one to come back to, so a throttling
storm settles the fetch under the service's real limit instead of failing videos, and a single refusal
costs a fraction of a second, not a saw-tooth.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

HEADROOM = 0.02  # pace this far under the configured rate
UNDER_REFUSED = 0.01  # and this far under a pace that was refused
CUT = 0.75  # a throttled answer multiplies the pace by this (at most every CUT_EVERY_S)
CUT_EVERY_S = 0.25  # the calls in flight are refused together: one cut for them all
RECOVERY_STEP = 0.01  # of the configured rate, per admitted call, back up to the remembered pace
PROBE_PER_S = 0.0005  # then above it: this share of the configured rate per second since the refusal,
PROBE_PER_S2 = 0.00001  # plus this share per second squared, so a pace far under the top finds it in minutes
FLOOR = 1 / 20  # never slower than this share of the configured rate


class RateLimiter:
    """Holds callers under ``rate`` calls per second (less ``headroom``), at most ``burst`` back to back.

    Each caller reserves the next free slot under a lock and sleeps outside it, so many threads share
    one limiter without a queue. A slot nobody took is not saved up beyond the burst.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        if not 0 <= headroom < 1:
            raise ValueError(f"headroom must be in [0, 1), got {headroom}")
        self.max_rate = rate
        self.burst = burst
        self.top = rate * (1 - headroom)  # the pace when nothing is refused
        self._per_second = max(1, int(self.top))  # calls that may leave within any one second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._set_rate(self.top)
        self._next = clock()  # theoretical arrival time of the next call
        self._left: deque[float] = deque()  # when the calls of the last second left
        self._last_cut = float("-inf")
        self._refused_at = self.top  # the ceiling of the recovery, just under the pace last refused
        self._probe_from = float("-inf")  # when the probe above it started

    def _set_rate(self, rate: float) -> None:
        self.rate = rate
        self.interval = 1.0 / rate
        self._tolerance = (self.burst - 1) * self.interval

    def ceiling(self) -> float:
        """The pace admitted calls bring the limiter back to: a percent under the pace last refused, rising
        by half a percent of the configured rate in the first ten seconds, faster after, up to the top."""
        seconds = max(0.0, self._clock() - self._probe_from)
        probe = (PROBE_PER_S * seconds + PROBE_PER_S2 * seconds**2) * self.max_rate
        return min(self.top, self._refused_at + probe)

    def throttled(self) -> None:
        """The service refused a call for its rate: pace a quarter slower, and remember the pace refused.

        Refused at the ceiling, the pace comes back to a percent under it (calls bunched on the way, most
        likely); refused while still coming back, under a pace already refused, the service's limit is
        lower than that: the slower pace becomes the ceiling."""
        with self._lock:
            now = self._clock()
            if now - self._last_cut >= CUT_EVERY_S:
                self._last_cut = now
                cut = max(self.max_rate * FLOOR, self.rate * CUT)
                climbing = self.rate < self.ceiling() - self.max_rate * RECOVERY_STEP  # more than a step under
                self._refused_at = cut if climbing else self.rate * (1 - UNDER_REFUSED)
                self._probe_from = now
                self._set_rate(cut)

    def admitted(self) -> None:
        """A call got through: step back up toward the ceiling (quickly up to it, slowly past it)."""
        if self.rate >= self.top:  # at the top already, as nearly always: nothing to step (no lock to take)
            return
        with self._lock:
            ceiling = self.ceiling()
            if self.rate < ceiling:
                self._set_rate(min(ceiling, self.rate + self.max_rate * RECOVERY_STEP))

    def acquire(self) -> float:
        """Blocks until the caller may make one call; returns the seconds it waited."""
        with self._lock:
            now = self._clock()
            tat = max(self._next, now)
            wait = tat - self._tolerance - now
            self._next = tat + self.interval
        waited = max(0.0, wait)
        if waited:
            self._sleep(waited)
        while (more := self._leave()) > 0:  # late callers that would crowd one second wait their turn
            self._sleep(more)
            waited += more
        return waited

    def _leave(self) -> float:
        """Records the call as leaving now, or says how long until the last second's count allows it."""
        with self._lock:
            now = self._clock()
            while self._left and self._left[0] <= now - 1.0:
                self._left.popleft()
            if len(self._left) >= self._per_second:
                return self._left[0] + 1.0 - now
            self._left.append(now)
            return 0.0
