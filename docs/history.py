"""A few snapshot days of the local VOD service's catalog, through the plain pipeline steps, for pages and
examples that need real data with a history: the same video set every day, some videos deleted upstream
between days.

The local catalog itself never changes: a video's stickers are a pure function of (seed, video). What
changes between days is the catalog's size. Video ids do not depend on it, so a smaller catalog on a
later day is the same catalog with its last videos deleted: VOD answers ``InvalidVideo.NotFound`` for
them and their stickers disappear from that day on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from localvod import LocalVodService, ServiceConfig, write_videos_csv
from pipeline import account, refresh, snapshot
from pipeline.publish import warehouse
from pipeline.store.layout import Layout
from pipeline.vod.client import Credentials, VodClient

KEY_ID = "demo-access-key-id"
KEY_SECRET = "demo-access-key-secret"


@dataclass(frozen=True)
class SnapshotDay:
    day: dt.date
    catalog_size: int  # videos the service still holds that day (the first ones of the catalog)


@dataclass(frozen=True)
class History:
    days: tuple[SnapshotDay, ...]
    unknown: int = 0  # ids in the video set that VOD never knew
    # Seeded faults: which calls fail is a function of (seed, video, n-th call), so retries repeat exactly.
    server_error_rate: float = 0.0
    throttle_rate: float = 0.0
    catalog_seed: int = 7
    fault_seed: int = 1  # of the first day; the next days take the following seeds

    def describe(self) -> str:
        """The history in words, for the page that shows its results."""
        first, *later = self.days
        lines = [
            f"- {first.day}: a video set of the local service's {first.catalog_size:,} catalog videos plus "
            f"{self.unknown} ids it never knew; every day a full walk of the account lists its videos (the "
            "`videos` table: titles, and deletions noticed)."
        ]
        previous = first.catalog_size
        for day in later:
            change = (
                f"{previous - day.catalog_size} videos deleted upstream (now answered InvalidVideo.NotFound)"
                if day.catalog_size < previous
                else "no change upstream"
            )
            lines.append(f"- {day.day}: the same video set; {change}.")
            previous = day.catalog_size
        faults = {
            "server errors": self.server_error_rate,
            "throttling": self.throttle_rate,
        }
        injected = ", ".join(f"{rate:.0%} {name}" for name, rate in faults.items() if rate)
        if injected:
            lines.append(f"- Every day the service injects seeded faults, which the client retries: {injected}.")
        return "\n".join(lines)


DEMO = History(
    days=(SnapshotDay(dt.date(2026, 11, 21), 1000), SnapshotDay(dt.date(2026, 11, 22), 985)),
    unknown=20,
    server_error_rate=0.02,
    throttle_rate=0.01,
)


def build(layout: Layout, history: History = DEMO) -> dict[str, int]:
    """Takes, fetches and types every day of ``history`` into ``layout``, then publishes the warehouse."""
    write_videos_csv(layout.videos_csv, unknown=history.unknown, seed=history.catalog_seed, size=history.days[0].catalog_size)
    for n, day in enumerate(history.days):
        _snapshot(layout, history, day, fault_seed=history.fault_seed + n)
    return warehouse.publish(layout)


def _snapshot(layout: Layout, history: History, day: SnapshotDay, *, fault_seed: int) -> None:
    config = ServiceConfig(
        access_key_id=KEY_ID,
        access_key_secret=KEY_SECRET,
        catalog_size=day.catalog_size,
        catalog_seed=history.catalog_seed,
        calls_per_second=None,
        server_error_rate=history.server_error_rate,
        throttle_rate=history.throttle_rate,
        retry_after_ms=10,
        fault_seed=fault_seed,
    )
    with LocalVodService(config).start() as service:
        client = VodClient(
            Credentials(KEY_ID, KEY_SECRET),
            endpoint=service.endpoint,
            region=service.config.region,
            calls_per_second=5000.0,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
        )
        # Each day is taken as if it were that day: the local service stands for VOD as it was then. The
        # account's videos are walked too (a full walk each day), for their titles and deletions, and every
        # video is asked every day (VOD_REFRESH_DAYS=1): the history's stickers are each day's observation.
        account.discover_day(layout, day.day, {service.config.region: client}, full_walk_days=1)
        snapshot.take_video_set(layout, day.day, today=day.day)
        snapshot.fetch_day(layout, day.day, client, policy=refresh.RefreshPolicy(every_days=1), today=day.day)
        snapshot.normalize_day(layout, day.day)
