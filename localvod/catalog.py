"""The local VOD service's videos, their metadata and their animated stickers, generated deterministically.

Everything but the ``auth_key`` timestamp of a FileURL is a pure function of (seed, region, video index), of
the uploads and deletions made since and of the time on the catalog's clock, so two catalogs with the same
seed and the same calls agree at any time. By default a video's stickers never change; with a
``sticker_change_rate`` they change a little every day (see ``changes``). Videos are kept in (CreationTime,
VideoId) order, so a page of a time window is found by bisection.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import heapq
import itertools
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from localvod.changes import ADDED, StickerChange, StickerTimeline
from localvod.clock import Clock, as_utc
from pipeline.vod.api import API_FIELDS, FORMATS
from pipeline.vod.regions import DEFAULT_REGION

DEFAULT_SIZE = 1000
DEFAULT_STICKER_SHARE = 0.8  # of the videos made with stickers
DEFAULT_SEED = 7
DEFAULT_CDN_HOST = "dynamic.vod-local.test"
DEFAULT_URL_KEY = "local-cdn-private-key"

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Catalog time is anchored here, never at the current time, so it is the same on every run.
_EPOCH_BASE = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
_HISTORY_S = 2 * 365 * 86400
_STICKERS_WINDOW_S = 6 * 3600  # a video's first stickers are made within this long of its CreationTime

# (width, height) of common renditions, with how often each is picked.
_SIZES = ((640, 360), (480, 270), (320, 180), (1280, 720), (360, 640), (480, 480))
_SIZE_WEIGHTS = (30, 22, 18, 10, 14, 6)
_FPS = (5, 8, 10, 12, 15, 20, 24, 25, 30)
_FPS_WEIGHTS = (5, 3, 30, 5, 25, 4, 18, 3, 7)
_FORMAT_WEIGHTS = {"gif": 40, "webp": 60}  # over schema.FORMATS
# Bytes per pixel-frame before the frame count's sublinear growth: webp compresses far better than gif.
_BYTES_PER_PIXEL = {"gif": 0.10, "webp": 0.04}


APP_ID = "app-1000000"
# Every Status GetVideoList documents; the catalog draws the ones of _STATUS_SHARES, and Normal for the rest.
VIDEO_STATUSES = (
    "Uploading",
    "UploadFail",
    "UploadSucc",
    "Transcoding",
    "TranscodeFail",
    "Checking",
    "Blocked",
    "Normal",
    "ProduceFail",
)
_STATUS_SHARES = (("Transcoding", 0.015), ("UploadSucc", 0.01), ("Checking", 0.015), ("Blocked", 0.01), ("UploadFail", 0.01))
_TITLE_WORDS = (
    "sunset",
    "harbor",
    "kitten",
    "mountain",
    "recipe",
    "match",
    "concert",
    "review",
    "tutorial",
    "drone",
    "street",
    "garden",
    "festival",
    "launch",
    "interview",
    "trailer",
    "workout",
    "journey",
    "river",
    "city",
)
_CATEGORIES = ((1000001, "Sports"), (1000002, "Music"), (1000003, "Food"), (1000004, "Travel"), (1000005, "News"))

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
VideoKey = tuple[int, str]  # (CreationTime in unix seconds, VideoId): the catalog's sort key


@dataclass(frozen=True)
class VideoQuery:
    """Which videos to find, and in which order. Both ends of the CreationTime window are inclusive."""

    start: int | None = None  # unix seconds; None: from the first video
    end: int | None = None  # unix seconds; None: to the last video
    statuses: frozenset[str] | None = None  # None: any status
    video_ids: frozenset[str] | None = None  # None: any video
    descending: bool = True


def _hex32(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _seed(text: str) -> str:
    """``text`` as a seed of random.Random, which takes only text that UTF-8 can encode (an id given at
    upload may hold an unpaired surrogate): such text by its digest."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return _md5(text)
    return text


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()  # ids given at upload may be any text


class Catalog:
    """``size`` videos of one region, each with metadata and 0 to ~30 stickers (``sticker_share`` of them at
    least one), all derived from ``seed``.

    The videos can change (``upload``, ``delete``); every method is safe to call from several threads.
    Stickers are answered at the ``clock``'s now. With a ``sticker_change_rate``, that share of the videos
    gets a sticker or loses one (``sticker_delete_share`` of the changes) on each UTC day from
    ``changes_from`` on (default: the clock's day when the catalog is made).
    """

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        seed: int = DEFAULT_SEED,
        cdn_host: str = DEFAULT_CDN_HOST,
        url_key: str = DEFAULT_URL_KEY,
        *,
        region: str = DEFAULT_REGION,
        same_second: int = 0,
        clock: Clock | None = None,
        sticker_change_rate: float = 0.0,
        sticker_delete_share: float = 0.25,
        changes_from: dt.date | None = None,
        sticker_share: float = DEFAULT_STICKER_SHARE,
    ):
        if size < 0:
            raise ValueError(f"catalog size must be >= 0, got {size}")
        if not 0 <= same_second <= size:
            raise ValueError(f"same_second must be between 0 and the catalog size {size}, got {same_second}")
        self.size = size
        self.seed = seed
        self.cdn_host = cdn_host
        self.url_key = url_key
        self.region = region
        self.same_second = same_second
        if not 0.0 <= sticker_share <= 1.0:
            raise ValueError(f"sticker_share must be between 0 and 1, got {sticker_share}")
        self.sticker_share = sticker_share
        days_back = random.Random(f"{seed}:epoch").randrange(365)
        self.epoch = _EPOCH_BASE - dt.timedelta(days=days_back)
        bucket = _md5(f"{seed}:{region}:bucket")[:20]
        self.storage_location = f"out-{bucket}.oss-{region}.aliyuncs.com"
        self._lock = threading.Lock()
        self.clock = clock or Clock()
        # video id -> seed of its stickers' rng, in the catalog's order: every video it ever held
        self._rng_seeds: dict[str, str] = {}
        self._created: dict[str, int] = {}  # video id -> CreationTime, unix seconds: the videos it holds
        self._uploaded: set[str] = set()
        self._titles: dict[str, str] = {}  # titles given at upload, instead of drawn ones
        self._given: dict[str, list[dict[str, Any]]] = {}  # ListDynamicImage items given, instead of drawn ones
        self._uploads = 0
        epoch = int(self.epoch.timestamp())
        for i, video_id in enumerate(catalog_ids(seed, size, region=region)):
            rng_seed = self._rng_seed(i)
            self._rng_seeds[video_id] = rng_seed
            self._created[video_id] = epoch - _draw_video(random.Random(rng_seed))[1]
        shared = self._created[catalog_ids(seed, 1, region=region)[0]] if same_second else 0
        for video_id in catalog_ids(seed, same_second, region=region):
            self._created[video_id] = shared
        # (CreationTime, VideoId) keys in ascending order: all videos (None), and those of each status.
        everything = sorted((created, video_id) for video_id, created in self._created.items())
        self._by_time: dict[str | None, list[tuple[int, str]]] = {None: everything}
        for status in VIDEO_STATUSES:
            self._by_time[status] = []
        for key in everything:
            self._by_time[_status(key[1])].append(key)
        self._base_ids_cache: dict[str, tuple[str, ...]] = {}
        self.timeline = StickerTimeline(
            seed=seed,
            region=region,
            rate=sticker_change_rate,
            delete_share=sticker_delete_share,
            start=changes_from or self.clock.now().date(),
            made=dict(self._created),
            quiet_s=_STICKERS_WINDOW_S,
            base_ids=self._base_ids,
            new_id=lambda draw: _draw_sticker(random.Random(draw)).image_id,
        )

    def _rng_seed(self, index: int) -> str:
        # The default region keeps the seeds it had before regions existed: its stickers stay the same.
        if self.region == DEFAULT_REGION:
            return f"{self.seed}:{index}"
        return f"{self.seed}:{self.region}:{index}"

    def __len__(self) -> int:
        with self._lock:
            return len(self._created)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._created

    def video_ids(self) -> list[str]:
        """Every video id of the catalog, in its fixed order (uploads last, deleted videos left out)."""
        with self._lock:
            return [video_id for video_id in self._rng_seeds if video_id in self._created]

    def creation_time(self, video_id: str) -> int | None:
        """The video's CreationTime in unix seconds, or None for an unknown video."""
        return self._created.get(video_id)

    def stickers(self, video_id: str, signed_at: int, at: dt.datetime | None = None) -> list[dict[str, str]] | None:
        """The video's ListDynamicImage items (all values strings) at ``at`` (default: the clock's now), or
        None for a video the catalog does not hold.

        ``signed_at`` (unix seconds) only enters the FileURL's auth_key. Costs one md5 a day since
        ``changes_from`` on top of the video's own draws.
        """
        with self._lock:
            rng_seed, created = self._rng_seeds.get(video_id), self._created.get(video_id)
            given = self._given.get(video_id)
        if rng_seed is None or created is None:
            return None
        if given is not None:
            return [dict(item) for item in given]
        rng = random.Random(rng_seed)
        count, _ = _draw_video(rng, self.sticker_share)  # the offset is drawn for every video, uploads too: the draws that follow stay put
        video_made = dt.datetime.fromtimestamp(created, dt.UTC)
        items = []
        for _ in range(count):
            draw = _draw_sticker(rng)
            items.append(self._sticker(draw, video_id, video_made + dt.timedelta(seconds=draw.delay_s), signed_at))
        items.sort(key=lambda item: item["CreationTime"])
        if self.timeline.enabled:
            ids = [item["DynamicImageId"] for item in items]
            until = self.clock.timestamp() if at is None else int(as_utc(at).timestamp())
            for change in self.timeline.of_video(video_id, created, ids, until):
                if change.kind == ADDED:
                    items.append(self.added_sticker(change, signed_at))
                else:
                    items = [item for item in items if item["DynamicImageId"] != change.image_id]
        return items

    def added_sticker(self, change: StickerChange, signed_at: int) -> dict[str, str]:
        """The ListDynamicImage item of the sticker a change added, made at the change's time."""
        made = dt.datetime.fromtimestamp(change.at, dt.UTC)
        return self._sticker(_draw_sticker(random.Random(change.draw)), change.video_id, made, signed_at)

    def truth(self, at: dt.datetime | None = None) -> dict[str, list[str]]:
        """Every video's DynamicImageIds at ``at`` (default: the clock's now), in ListDynamicImage's order:
        the videos the catalog holds that were created by then.

        Each video's first stickers are drawn once and kept, and each day's changes are listed once, so
        asking again costs about a copy of the answer."""
        until = self.clock.timestamp() if at is None else int(as_utc(at).timestamp())
        with self._lock:
            held = dict(self._created)
            uploaded = self._uploaded & held.keys()
        truth = {}
        for video_id, created in held.items():
            if created <= until:
                truth[video_id] = ids = list(self._base_ids(video_id))
                if video_id in uploaded:
                    self.timeline.of_video(video_id, created, ids, until)
        for change in self.timeline.listed(-1, until):
            if (found := truth.get(change.video_id)) is not None:
                ids = found
                if change.kind == ADDED:
                    ids.append(change.image_id)
                else:
                    ids.remove(change.image_id)
        return truth

    def changes(self, since: dt.datetime, until: dt.datetime) -> list[StickerChange]:
        """The stickers' changes with ``since`` < time <= ``until``, by (time, video id), of the videos the
        catalog holds (a change of a video deleted since is left out)."""
        start, stop = int(as_utc(since).timestamp()), int(as_utc(until).timestamp())
        if not self.timeline.enabled:
            return []
        found = self.timeline.listed(start, stop)
        with self._lock:
            found = [change for change in found if change.video_id in self._created]
            uploaded = [(video_id, self._created[video_id]) for video_id in self._uploaded]
        for video_id, created in uploaded:
            walk = self.timeline.of_video(video_id, created, list(self._base_ids(video_id)), stop)
            found.extend(change for change in walk if change.at > start)
        found.sort(key=lambda change: (change.at, change.video_id))
        return found

    def _base_ids(self, video_id: str) -> tuple[str, ...]:
        """The DynamicImageIds the video was made with, in ListDynamicImage's order (drawn once, then kept)."""
        ids = self._base_ids_cache.get(video_id)
        if ids is None:
            rng = random.Random(self._rng_seeds[video_id])
            count, _ = _draw_video(rng, self.sticker_share)
            draws = sorted((_draw_sticker(rng) for _ in range(count)), key=lambda draw: draw.delay_s)
            ids = self._base_ids_cache[video_id] = tuple(draw.image_id for draw in draws)
        return ids

    def video(self, video_id: str) -> dict[str, Any] | None:
        """The video's metadata as GetVideoInfos answers it (Snapshots a flat list), or None if unknown."""
        with self._lock:
            created = self._created.get(video_id)
            uploaded = video_id in self._uploaded
        if created is None:
            return None
        rng = random.Random(_seed(f"{self.seed}:{self.region}:meta:{video_id}"))
        words = rng.sample(_TITLE_WORDS, 3)
        title = f"{words[0].capitalize()} {words[1]} {rng.randrange(1, 10_000):04d}"
        title = self._titles.get(video_id, title)
        cate_id, cate_name = rng.choice(_CATEGORIES)
        duration = round(rng.uniform(3.0, 1800.0), 3)
        modified = created if uploaded else created + rng.randrange(1, 3 * 86400)
        cover = f"https://{self.cdn_host}/{video_id}/snapshots/{_hex32(rng)}-00001.jpg"
        return {
            "VideoId": video_id,
            "Title": title,
            "Description": f"{title}: {words[2]} ({cate_name})",
            "Status": _status(video_id),
            "CreationTime": _format_time(created),
            "ModificationTime": _format_time(modified),
            "CateId": cate_id,
            "CateName": cate_name,
            "AppId": APP_ID,
            "Duration": duration,
            "Size": int(duration * rng.randrange(60_000, 400_000)),
            "CoverURL": cover,
            "StorageLocation": self.storage_location,
            "Tags": ",".join(words[1:]),
            "StorageClass": "Standard",
            "Snapshots": [cover],
        }

    # --- finding videos ---------------------------------------------------------------------------------

    def count(self, query: VideoQuery) -> int:
        """How many videos match ``query``."""
        with self._lock:
            return sum(stop - start for keys, start, stop in self._ranges(query, None))

    def page(self, query: VideoQuery, skip: int, limit: int, after: VideoKey | None = None) -> list[VideoKey]:
        """The (CreationTime, VideoId) keys of the matches ``skip`` to ``skip + limit`` in the query's order,
        counted from just after the key ``after`` (from the first match when None).

        Ascending order is (CreationTime, VideoId); descending is exactly its reverse. The work is
        proportional to ``skip + limit`` (bisection finds where to begin), never to the catalog's size.
        """
        with self._lock:
            ranges = self._ranges(query, after)
            if len(ranges) == 1:
                keys, start, stop = ranges[0]
                if query.descending:
                    first = stop - 1 - skip
                    return [keys[i] for i in range(first, max(start, first - limit + 1) - 1, -1)]
                return keys[start + skip : min(stop, start + skip + limit)]
            runs = [_run(keys, start, stop, query.descending) for keys, start, stop in ranges]
            merged = heapq.merge(*runs, reverse=query.descending)
            return list(itertools.islice(merged, skip, skip + limit))

    def _ranges(self, query: VideoQuery, after: VideoKey | None) -> list[tuple[list[VideoKey], int, int]]:
        """The sorted key lists the query reads, each with the [start, stop) slice that matches."""
        if query.video_ids is not None:
            found = [(self._created[v], v) for v in query.video_ids if v in self._created]
            lists = [sorted(k for k in found if query.statuses is None or _status(k[1]) in query.statuses)]
        elif query.statuses is None:
            lists = [self._by_time[None]]
        else:
            lists = [self._by_time[s] for s in sorted(query.statuses) if s in self._by_time]
        ranges = []
        for keys in lists:
            start = 0 if query.start is None else bisect.bisect_left(keys, (query.start, ""))
            stop = len(keys) if query.end is None else bisect.bisect_left(keys, (query.end + 1, ""))
            if after is not None and query.descending:
                stop = min(stop, bisect.bisect_left(keys, after))
            elif after is not None:
                start = max(start, bisect.bisect_right(keys, after))
            ranges.append((keys, start, max(start, stop)))
        return ranges or [([], 0, 0)]

    # --- changes ----------------------------------------------------------------------------------------

    def upload(
        self,
        count: int = 1,
        at: dt.datetime | None = None,
        *,
        ids: list[str] | None = None,
        titles: list[str] | None = None,
    ) -> list[str]:
        """Add ``count`` new videos created ``at`` (default: the clock's now; UTC, whole seconds); returns their ids.

        Their ids and stickers depend only on the seed, the region and how many were uploaded before; ``ids``
        and ``titles`` (one each per video) replace the drawn ones, any text at all, as a hostile account's.
        """
        created = int(as_utc(at or self.clock.now()).timestamp())
        added = []
        with self._lock:
            for n in range(count):
                rng_seed = f"{self.seed}:{self.region}:upload:{self._uploads}"
                self._uploads += 1
                video_id = ids[n] if ids is not None else _md5(rng_seed)
                if titles is not None:
                    self._titles[video_id] = titles[n]
                self._rng_seeds[video_id] = rng_seed
                self._created[video_id] = created
                self._uploaded.add(video_id)
                for keys in (self._by_time[None], self._by_time[_status(video_id)]):
                    bisect.insort(keys, (created, video_id))
                added.append(video_id)
        return added

    def give_stickers(self, video_id: str, items: list[dict[str, Any]]) -> None:
        """From now on ListDynamicImage answers ``items`` for the video, exactly as given (any fields, any
        values), in place of its drawn stickers."""
        with self._lock:
            if video_id not in self._created:
                raise KeyError(f"no video {video_id} in the {self.region} catalog")
            self._given[video_id] = [dict(item) for item in items]

    def delete(self, video_id: str) -> None:
        """Remove a video: it is no longer listed, searched, described, nor has stickers."""
        with self._lock:
            created = self._created.pop(video_id, None)
            if created is None:
                raise KeyError(f"no video {video_id} in the {self.region} catalog")
            self._uploaded.discard(video_id)
            for keys in (self._by_time[None], self._by_time[_status(video_id)]):
                del keys[bisect.bisect_left(keys, (created, video_id))]

    def _sticker(self, draw: _StickerDraw, video_id: str, created: dt.datetime, signed_at: int) -> dict[str, str]:
        """A ListDynamicImage item (all values strings) of the drawn sticker, made at ``created``."""
        path = f"/{video_id}/image/dynamic/{draw.image_id}.{draw.fmt}"
        values = {
            "CreationTime": created.strftime(TIME_FORMAT),
            "Duration": f"{draw.duration:g}",
            "DynamicImageId": draw.image_id,
            "FileSize": str(draw.file_size),
            "FileURL": f"https://{self.cdn_host}{path}?auth_key={self._auth_key(path, signed_at, draw.nonce)}",
            "Format": draw.fmt,
            "Fps": str(draw.fps),
            "Height": str(draw.height),
            "Width": str(draw.width),
            "JobId": draw.job_id,
            "VideoId": video_id,
        }
        return {field: values[field] for field in API_FIELDS}

    def _auth_key(self, path: str, signed_at: int, nonce: str) -> str:
        """URL signing type A: {timestamp}-{rand}-{uid}-md5("{path}-{timestamp}-{rand}-{uid}-{key}")."""
        digest = _md5(f"{path}-{signed_at}-{nonce}-0-{self.url_key}")
        return f"{signed_at}-{nonce}-0-{digest}"


def _sticker_count(rng: random.Random, sticker_share: float = DEFAULT_STICKER_SHARE) -> int:
    """None for 1 - ``sticker_share`` of the videos (by default about 20%), most 1-5, a few dozen-ish. The
    rng is drawn from the same number of times whatever the share, so the draws that follow stay put."""
    draw = rng.random()
    if draw < 0.20:
        count = 0
    elif draw < 0.90:
        count = rng.randint(1, 5)
    elif draw < 0.98:
        count = rng.randint(6, 12)
    else:
        count = rng.randint(13, 30)
    if draw < round(1 - sticker_share, 12):
        return 0
    return count or 1 + int(draw * 2**20) % 5


class _StickerDraw(NamedTuple):
    """A sticker's values as drawn, before they are written as strings."""

    fmt: str
    width: int
    height: int
    fps: int
    duration: float
    file_size: int
    delay_s: int  # seconds after its video's CreationTime it was made
    image_id: str
    job_id: str
    nonce: str  # of its FileURL's auth_key


_FORMAT_CUMULATIVE = list(itertools.accumulate(_FORMAT_WEIGHTS[f] for f in FORMATS))
_SIZE_CUMULATIVE = list(itertools.accumulate(_SIZE_WEIGHTS))
_FPS_CUMULATIVE = list(itertools.accumulate(_FPS_WEIGHTS))


def _draw_sticker(rng: random.Random) -> _StickerDraw:
    """One sticker's draws, in a fixed order (cumulative weights draw exactly what the weights would)."""
    fmt = rng.choices(FORMATS, cum_weights=_FORMAT_CUMULATIVE)[0]
    width, height = rng.choices(_SIZES, cum_weights=_SIZE_CUMULATIVE)[0]
    fps = rng.choices(_FPS, cum_weights=_FPS_CUMULATIVE)[0]
    if rng.random() < 0.85:
        duration = float(rng.randint(1, 10))
    else:
        duration = rng.randint(1, 9) + rng.choice((0.2, 0.25, 0.5, 0.8))
    frames = max(1.0, fps * duration)
    jitter = rng.uniform(0.7, 1.3)
    file_size = int(8_000 + width * height * _BYTES_PER_PIXEL[fmt] * frames**0.7 * jitter)
    delay_s = rng.randrange(_STICKERS_WINDOW_S)
    return _StickerDraw(fmt, width, height, fps, duration, file_size, delay_s, _hex32(rng), _hex32(rng), _hex32(rng))


def catalog_ids(seed: int, count: int, *, region: str = DEFAULT_REGION) -> list[str]:
    """The first ``count`` video ids of any catalog of this seed and region (ids do not depend on its size;
    regions never share ids)."""
    prefix = f"{seed}:video:" if region == DEFAULT_REGION else f"{seed}:{region}:video:"
    return [_md5(f"{prefix}{i}") for i in range(count)]


def _run(keys: list[VideoKey], start: int, stop: int, descending: bool) -> Iterator[VideoKey]:
    """keys[start:stop] in the query's order, without copying them."""
    indices = range(stop - 1, start - 1, -1) if descending else range(start, stop)
    return (keys[i] for i in indices)


def _draw_video(rng: random.Random, sticker_share: float = DEFAULT_STICKER_SHARE) -> tuple[int, int]:
    """A video's first draws: its sticker count, and how many seconds before the catalog's epoch it was made."""
    count = _sticker_count(rng, sticker_share)
    return count, rng.randrange(_HISTORY_S)


def _status(video_id: str) -> str:
    """The video's Status, drawn from its id: mostly Normal, a few percent in other states."""
    # an id given at upload may be any text: its status is drawn from its digest
    draw = int(video_id[:8] if _HEX8.match(video_id) else _md5(video_id)[:8], 16) / 2**32
    for status, share in _STATUS_SHARES:
        if draw < share:
            return status
        draw -= share
    return "Normal"


def _format_time(unix_seconds: int) -> str:
    return dt.datetime.fromtimestamp(unix_seconds, dt.UTC).strftime(TIME_FORMAT)


def write_videos_csv(
    path: str | Path,
    count: int | None = None,
    unknown: int = 0,
    seed: int = DEFAULT_SEED,
    size: int = DEFAULT_SIZE,
    regions: tuple[str, ...] = (),
) -> Path:
    """Write a ``video_id`` CSV: the first ``count`` ids of the seed's catalog (all ``size`` if None)
    plus ``unknown`` well-formed ids the catalog does not hold, shuffled deterministically. With
    ``regions``, the ids of each region's catalog and a ``region`` column (the unknown ids in the first)."""
    take = size if count is None else count
    known = [(video_id, region) for region in regions or (DEFAULT_REGION,) for video_id in catalog_ids(seed, take, region=region)]
    taken = {video_id for video_id, _ in known}
    strangers = [(_md5(f"{seed}:unknown:{i}"), (regions or (DEFAULT_REGION,))[0]) for i in range(unknown)]
    if taken.intersection(video_id for video_id, _ in strangers):  # md5 of different inputs: never expected
        raise RuntimeError("an unknown video id collided with a catalog id")
    rows = known + strangers
    random.Random(f"{seed}:videos-csv").shuffle(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "region"] if regions else ["video_id"])
        writer.writerows(row if regions else row[:1] for row in rows)
    return path
