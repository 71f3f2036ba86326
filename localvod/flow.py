"""The flow controls that count an account's calls per second per action, as VOD's throttling does: a token
bucket, a sliding window or fixed windows (ServiceConfig.flow_control)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from localvod.config import ACTION, ACTION_LIMITS, ServiceConfig

log = logging.getLogger(__name__)


class TokenBucket:
    """Thread-safe token bucket: ``capacity`` calls at once, refilled at ``rate`` a second; starts full."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.capacity, self._clock = rate, capacity, clock
        self._tokens, self._stamp = capacity, clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class SlidingWindow:
    """At most ``limit`` admitted calls in any one second: a call is refused when ``limit`` calls were
    admitted in the second before it (refused calls do not count)."""

    def __init__(self, limit: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self._clock = max(1, int(limit)), clock
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.popleft()
            if len(self._admitted) >= self.limit:
                return False
            self._admitted.append(now)
            return True


class FixedWindow:
    """At most ``limit`` admitted calls per whole second of the clock; the count starts again at each
    second boundary (so up to twice the limit can pass within a second that straddles one)."""

    def __init__(self, limit: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self._clock = max(1, int(limit)), clock
        self._second, self._count = math.floor(clock()), 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            second = math.floor(self._clock())
            if second != self._second:
                self._second, self._count = second, 0
            if self._count >= self.limit:
                return False
            self._count += 1
            return True


FlowControl = TokenBucket | SlidingWindow | FixedWindow


def _flow_control(config: ServiceConfig, action: str = ACTION) -> FlowControl | None:
    """The account's flow control of one action as configured; None when there is none."""
    cps = getattr(config, ACTION_LIMITS[action])
    if cps is None:
        return None
    if config.flow_control == "sliding_window":
        return SlidingWindow(cps)
    if config.flow_control == "fixed_window":
        return FixedWindow(cps)
    burst = config.burst if action == ACTION else None
    return TokenBucket(cps, max(1.0, float(burst or cps)))


def flow_controls(config: ServiceConfig) -> dict[str, FlowControl | None]:
    """One flow control per action (None: unlimited), to share between services (regions) of one account."""
    return {action: _flow_control(config, action) for action in ACTION_LIMITS}
