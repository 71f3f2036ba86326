"""The local VOD service's videos and their animated stickers, generated deterministically from a seed.

Everything but the ``auth_key`` timestamp of a FileURL is a pure function of (seed, video index), so two
catalogs with the same seed agree, and a video's stickers are the same on every call.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import random
from pathlib import Path

from pipeline.vod.api import API_FIELDS, FORMATS

DEFAULT_SIZE = 1000
DEFAULT_SEED = 7
DEFAULT_CDN_HOST = "dynamic.vod-local.test"
DEFAULT_URL_KEY = "local-cdn-private-key"

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Catalog time is anchored here, never at the current time, so it is the same on every run.
_EPOCH_BASE = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
_HISTORY_S = 2 * 365 * 86400

# (width, height) of common renditions, with how often each is picked.
_SIZES = ((640, 360), (480, 270), (320, 180), (1280, 720), (360, 640), (480, 480))
_SIZE_WEIGHTS = (30, 22, 18, 10, 14, 6)
_FPS = (5, 8, 10, 12, 15, 20, 24, 25, 30)
_FPS_WEIGHTS = (5, 3, 30, 5, 25, 4, 18, 3, 7)
_FORMAT_WEIGHTS = {"gif": 40, "webp": 60}  # over schema.FORMATS
# Bytes per pixel-frame before the frame count's sublinear growth: webp compresses far better than gif.
_BYTES_PER_PIXEL = {"gif": 0.10, "webp": 0.04}


def _hex32(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Catalog:
    """``size`` videos, each with 0 to ~30 stickers, all derived from ``seed``."""

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        seed: int = DEFAULT_SEED,
        cdn_host: str = DEFAULT_CDN_HOST,
        url_key: str = DEFAULT_URL_KEY,
    ):
        if size < 0:
            raise ValueError(f"catalog size must be >= 0, got {size}")
        self.size = size
        self.seed = seed
        self.cdn_host = cdn_host
        self.url_key = url_key
        self._ids = catalog_ids(seed, size)
        self._index = {video_id: i for i, video_id in enumerate(self._ids)}
        days_back = random.Random(f"{seed}:epoch").randrange(365)
        self.epoch = _EPOCH_BASE - dt.timedelta(days=days_back)

    def __len__(self) -> int:
        return self.size

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._index

    def video_ids(self) -> list[str]:
        """Every video id of the catalog, in its fixed order."""
        return list(self._ids)

    def stickers(self, video_id: str, signed_at: int) -> list[dict[str, str]] | None:
        """The video's ListDynamicImage items (all values strings), or None for an unknown video.

        ``signed_at`` (unix seconds) only enters the FileURL's auth_key.
        """
        index = self._index.get(video_id)
        if index is None:
            return None
        rng = random.Random(f"{self.seed}:{index}")
        count = _sticker_count(rng)
        video_made = self.epoch - dt.timedelta(seconds=rng.randrange(_HISTORY_S))
        items = [self._sticker(rng, video_id, video_made, signed_at) for _ in range(count)]
        items.sort(key=lambda item: item["CreationTime"])
        return items

    def _sticker(
        self, rng: random.Random, video_id: str, video_made: dt.datetime, signed_at: int
    ) -> dict[str, str]:
        fmt = rng.choices(FORMATS, weights=[_FORMAT_WEIGHTS[f] for f in FORMATS])[0]
        width, height = rng.choices(_SIZES, weights=_SIZE_WEIGHTS)[0]
        fps = rng.choices(_FPS, weights=_FPS_WEIGHTS)[0]
        if rng.random() < 0.85:
            duration = float(rng.randint(1, 10))
        else:
            duration = rng.randint(1, 9) + rng.choice((0.2, 0.25, 0.5, 0.8))
        frames = max(1.0, fps * duration)
        jitter = rng.uniform(0.7, 1.3)
        file_size = int(8_000 + width * height * _BYTES_PER_PIXEL[fmt] * frames**0.7 * jitter)
        created = video_made + dt.timedelta(seconds=rng.randrange(6 * 3600))
        image_id, job_id, nonce = _hex32(rng), _hex32(rng), _hex32(rng)
        path = f"/{video_id}/image/dynamic/{image_id}.{fmt}"
        values = {
            "CreationTime": created.strftime(_TIME_FORMAT),
            "Duration": f"{duration:g}",
            "DynamicImageId": image_id,
            "FileSize": str(file_size),
            "FileURL": f"https://{self.cdn_host}{path}?auth_key={self._auth_key(path, signed_at, nonce)}",
            "Format": fmt,
            "Fps": str(fps),
            "Height": str(height),
            "Width": str(width),
            "JobId": job_id,
            "VideoId": video_id,
        }
        return {field: values[field] for field in API_FIELDS}

    def _auth_key(self, path: str, signed_at: int, nonce: str) -> str:
        """URL signing type A: {timestamp}-{rand}-{uid}-md5("{path}-{timestamp}-{rand}-{uid}-{key}")."""
        digest = _md5(f"{path}-{signed_at}-{nonce}-0-{self.url_key}")
        return f"{signed_at}-{nonce}-0-{digest}"


def _sticker_count(rng: random.Random) -> int:
    """About 20% none, most 1-5, a few dozen-ish."""
    draw = rng.random()
    if draw < 0.20:
        return 0
    if draw < 0.90:
        return rng.randint(1, 5)
    if draw < 0.98:
        return rng.randint(6, 12)
    return rng.randint(13, 30)


def catalog_ids(seed: int, count: int) -> list[str]:
    """The first ``count`` video ids of any catalog with this seed (ids do not depend on its size)."""
    return [_md5(f"{seed}:video:{i}") for i in range(count)]


def write_videos_csv(
    path: str | Path,
    count: int | None = None,
    unknown: int = 0,
    seed: int = DEFAULT_SEED,
    size: int = DEFAULT_SIZE,
) -> Path:
    """Write a ``video_id`` CSV: the first ``count`` ids of the seed's catalog (all ``size`` if None)
    plus ``unknown`` well-formed ids the catalog does not hold, shuffled deterministically."""
    known = catalog_ids(seed, size if count is None else count)
    taken = set(known)
    strangers = [_md5(f"{seed}:unknown:{i}") for i in range(unknown)]
    if taken.intersection(strangers):  # md5 of different inputs: never expected
        raise RuntimeError("an unknown video id collided with a catalog id")
    ids = known + strangers
    random.Random(f"{seed}:videos-csv").shuffle(ids)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id"])
        writer.writerows([video_id] for video_id in ids)
    return path

