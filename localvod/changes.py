"""Sticker changes over days: on each UTC day from ``start`` on, a share of a region's videos gains a sticker
(a sticker job finishing) or loses one (DeleteDynamicImage), at one second of that day.

Whether a video changes on a day, at which second, whether the change is a deletion, and what a new sticker
is are drawn from md5(seed, region, day, video id) alone. Only which sticker a deletion takes depends on the
video's stickers at that time (those it was made with, then its changes of the days before), which is itself
a function of the same draws; a video without a sticker to delete gets a new one instead. So the stickers of
any video at any time follow from the seed, and a test can say them without asking the service.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

ADDED = "added"
DELETED = "deleted"
_DAY_S = 86400


@dataclass(frozen=True)
class StickerChange:
    """One change of a video's stickers at ``at`` (unix seconds): ``image_id`` was added or deleted."""

    at: int
    region: str
    video_id: str
    kind: str  # ADDED or DELETED
    image_id: str  # the DynamicImageId added or deleted
    draw: int = field(repr=False, compare=False)  # the seed an added sticker's values are drawn from


class _Draw(NamedTuple):
    """A video's change of one day, before it meets the video's stickers."""

    at: int
    deletes: bool
    pick: int  # which of the video's stickers a deletion takes (modulo their count)
    seed: int


class StickerTimeline:
    """The sticker changes of one region's catalog. ``made`` holds the catalog's generated videos and their
    CreationTime; their changes are listed a day at a time, each day once (and cached). A video changes only
    from ``quiet_s`` after its CreationTime, once the stickers it was made with exist.

    ``base_ids(video_id)`` gives a video's DynamicImageIds as it was made, ``new_id(seed)`` the id of a
    sticker drawn from ``seed``: the catalog's own draws."""

    def __init__(
        self,
        *,
        seed: int,
        region: str,
        rate: float,
        delete_share: float,
        start: dt.date,
        made: Mapping[str, int],
        quiet_s: int,
        base_ids: Callable[[str], Sequence[str]],
        new_id: Callable[[int], str],
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sticker_change_rate must be between 0 and 1, got {rate}")
        if not 0.0 <= delete_share <= 1.0:
            raise ValueError(f"sticker_delete_share must be between 0 and 1, got {delete_share}")
        self.seed, self.region, self.rate, self.delete_share, self.start = seed, region, rate, delete_share, start
        self.quiet_s = quiet_s
        self._made = made
        self._base_ids, self._new_id = base_ids, new_id
        # md5 digests below this (as 16 big-endian bytes) change: their first 7 bytes are < rate * 2**56.
        threshold = round(rate * 2**56)
        self._limit = b"\xff" * 17 if threshold >= 2**56 else (threshold << 72).to_bytes(16, "big")
        self._delete_below = round(delete_share * 2**16)
        self._lock = threading.Lock()
        self._days: list[list[StickerChange]] = []  # self.start + n days -> its changes, by (at, video id)
        self._day_times: list[list[int]] = []  # their times, to bisect
        self._ids_now: dict[str, list[str]] = {}  # ids after the listed days, of the videos that changed

    @property
    def enabled(self) -> bool:
        return self.rate > 0.0

    def days_through(self, until: int) -> Iterator[dt.date]:
        """The days from ``start`` to the day of ``until`` (unix seconds), oldest first."""
        last = dt.datetime.fromtimestamp(until, dt.UTC).date()
        for n in range((last - self.start).days + 1):
            yield self.start + dt.timedelta(days=n)

    # --- one video --------------------------------------------------------------------------------------

    def of_video(self, video_id: str, created: int, ids: list[str], until: int) -> list[StickerChange]:
        """The video's changes up to ``until``, oldest first; ``ids`` (its DynamicImageIds as it was made) is
        brought up to date on the way. Costs one md5 a day since ``start``."""
        if not self.enabled:
            return []
        changes = []
        for day in self.days_through(until):
            draw = self._draw(video_id, day)
            if draw is not None and created + self.quiet_s <= draw.at <= until:
                changes.append(self._meet(video_id, draw, ids))
        return changes

    def _draw(self, video_id: str, day: dt.date) -> _Draw | None:
        digest = hashlib.md5(f"{self._prefix(day)}{video_id}".encode()).digest()
        if digest >= self._limit:
            return None
        midnight = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
        return _Draw(
            at=midnight + int.from_bytes(digest[7:11], "big") % _DAY_S,
            deletes=int.from_bytes(digest[11:13], "big") < self._delete_below,
            pick=int.from_bytes(digest[13:16], "big"),
            seed=int.from_bytes(digest, "big"),
        )

    def _prefix(self, day: dt.date) -> str:
        return f"{self.seed}:{self.region}:stickers:{day.isoformat()}:"

    def _meet(self, video_id: str, draw: _Draw, ids: list[str]) -> StickerChange:
        """The drawn change applied to the video's ``ids`` (changed in place)."""
        if draw.deletes and ids:
            image_id = ids.pop(draw.pick % len(ids))
            return StickerChange(draw.at, self.region, video_id, DELETED, image_id, draw.seed)
        image_id = self._new_id(draw.seed)
        ids.append(image_id)
        return StickerChange(draw.at, self.region, video_id, ADDED, image_id, draw.seed)

    # --- every generated video ----------------------------------------------------------------------------

    def listed(self, since: int, until: int) -> list[StickerChange]:
        """The generated videos' changes with since < at <= until, by (at, video id); deleted videos too."""
        if not self.enabled or until <= since:
            return []
        found: list[StickerChange] = []
        with self._lock:
            for n, _ in enumerate(self.days_through(until)):
                self._list_days_through(n)
                times = self._day_times[n]
                found.extend(self._days[n][bisect.bisect_right(times, since) : bisect.bisect_right(times, until)])
        return found

    def _list_days_through(self, n: int) -> None:
        """List the days up to ``start + n`` (each once, in order: a deletion takes from the ids before it)."""
        while len(self._days) <= n:
            day = self.start + dt.timedelta(days=len(self._days))
            prefix, limit, md5 = self._prefix(day), self._limit, hashlib.md5
            changing = [v for v in self._made if md5(f"{prefix}{v}".encode()).digest() < limit]
            changes = []
            for video_id in changing:
                draw = self._draw(video_id, day)
                assert draw is not None  # the same digest as above
                if draw.at < self._made[video_id] + self.quiet_s:
                    continue
                ids = self._ids_now.get(video_id)
                if ids is None:
                    ids = self._ids_now[video_id] = list(self._base_ids(video_id))
                changes.append(self._meet(video_id, draw, ids))
            changes.sort(key=lambda change: (change.at, change.video_id))
            self._days.append(changes)
            self._day_times.append([change.at for change in changes])
