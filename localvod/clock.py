"""The local VOD service's notion of now: the wall time, or a simulated time that only moves when told to.

Catalogs answer at their clock's now (which stickers exist), so several services sharing one clock (an
account's regions) always agree on the time.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable


def as_utc(when: dt.datetime) -> dt.datetime:
    """``when`` in UTC; a naive datetime is taken to be UTC already."""
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


class Clock:
    """The wall time (UTC), until ``set`` makes it a simulated time: from then on it stands still between
    calls to ``set`` and never goes back. ``start`` makes it simulated from the beginning. ``wall`` stands in
    for the wall time (a test's clock that runs faster)."""

    def __init__(self, start: dt.datetime | None = None, *, wall: Callable[[], dt.datetime] | None = None):
        self._lock = threading.Lock()
        self._simulated: dt.datetime | None = None if start is None else as_utc(start)
        self._wall = wall or (lambda: dt.datetime.now(dt.UTC))

    @property
    def simulated(self) -> bool:
        return self._simulated is not None

    def now(self) -> dt.datetime:
        simulated = self._simulated
        return self._wall() if simulated is None else simulated

    def timestamp(self) -> int:
        """Now in whole unix seconds (a change at second s is visible once this is >= s)."""
        return int(self.now().timestamp())

    def set(self, when: dt.datetime) -> None:
        """Make the clock simulated, at ``when``; ValueError if that is before its now."""
        when = as_utc(when)
        with self._lock:
            now = self.now()
            if when < now:
                raise ValueError(f"the clock never goes back: it is {now:%Y-%m-%dT%H:%M:%SZ}, asked for {when:%Y-%m-%dT%H:%M:%SZ}")
            self._simulated = when
