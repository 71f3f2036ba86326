"""Days of a local VOD account, run through the pipeline and checked against what the account really held.

The account's catalog changes every day (``sticker_change_rate``; videos uploaded and deleted too) and
announces its sticker jobs, uploads and deletions by signed HTTP callback (some lost:
``callback_loss_rate``) to the pipeline's own receiver, which keeps them in the inbox. The video set is every
video ever listed, as a ``videos.csv`` or discovery between two full walks would still list a deleted one. Each day, at ``run_hour`` UTC, the account's clock is moved to the run and the day is taken as the
daily schedule takes it (video set, fetch by the refresh plan, normalization); then its snapshot is
compared with the catalog's truth at that moment. Used by the tests and ``make bench``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from localvod.account import LocalVodAccount
from localvod.config import ServiceConfig
from pipeline import refresh, snapshot
from pipeline.events.callbacks import CallbackAuth, CallbackReceiver
from pipeline.events.inbox import Inbox
from pipeline.settings import VodSettings
from pipeline.store import lake
from pipeline.store.layout import Layout
from pipeline.store.videos import write_video_set
from pipeline.vod.client import Credentials

CALLBACK_KEY = "SimulatedCallbackKey1"
CALLBACK_PATH = "/vod/events"


@dataclass
class DayCheck:
    """One day of the simulation: what it cost and how it compares with the account's truth."""

    day: dt.date
    videos: int  # in the day's set: what a full daily sweep asks
    asked: int
    carried: int
    calls: int
    seconds: float
    events: int  # DynamicImageComplete events the day's plan took
    announced_videos: int  # videos of the set those events were about
    announced_wrong: int  # of those, videos whose snapshot differs from the truth (the promise: 0)
    truth_rows: int  # (video, sticker) pairs VOD held at the run
    stale_rows: int  # in the snapshot, no longer in VOD (a sticker or video deleted upstream, not yet asked again)
    missing_rows: int  # in VOD, not yet in the snapshot (a new sticker whose callback was lost)
    oldest_row_days: int  # age of the oldest answer holding stickers in the snapshot, in days (from the day it was made)
    oldest_bare_days: int  # age of the oldest answer holding no sticker
    stale_within_k: bool  # every stale row's deletion happened less than K days before the run
    missing_within_k: bool  # every missing row's sticker job finished less than its promise before the run: K days
    # for a video the snapshot shows with stickers, VOD_REFRESH_QUIET_DAYS for the others
    events_state: str  # what the day's plan knew of the account's events (refresh.ARRIVING, STOPPED, ...)
    bare_days: int  # the cadence the day's plan gave videos without stickers
    unannounced: int  # videos the day's sweep found with stickers no event announced
    with_stickers: int  # videos whose answer in the snapshot holds stickers

    @property
    def differing_share(self) -> float:
        return (self.stale_rows + self.missing_rows) / max(self.truth_rows, 1)


def simulate(
    root: Path,
    *,
    videos_per_region: int,
    regions: tuple[str, ...] = ("cn-shanghai", "ap-southeast-1"),
    days: int = 7,
    first_day: dt.date = dt.date(2026, 11, 2),
    change_rate: float = 0.02,
    loss_rate: float = 0.01,
    policy: refresh.RefreshPolicy = refresh.RefreshPolicy(),
    calls_per_second: float = 2000.0,
    concurrency: int = 16,
    run_hour: int = 2,
    seed: int = 7,
    uploads_per_day: int = 0,
    deletes_per_day: int = 0,
    sticker_share: float = 0.8,
) -> Iterator[DayCheck]:
    """Runs ``days`` days from ``first_day`` in ``root`` (a fresh data directory), yielding each day's check."""
    layout = Layout(root)
    credentials = Credentials("simulated-key-id", "simulated-key-secret")
    with Inbox(layout.events_inbox) as inbox, CallbackReceiver(inbox) as receiver:
        url = receiver.endpoint + CALLBACK_PATH
        receiver.auth = CallbackAuth(url, (CALLBACK_KEY,))
        config = ServiceConfig(
            access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            catalog_size=videos_per_region,
            catalog_seed=seed,
            calls_per_second=None,
            sticker_change_rate=change_rate,
            changes_from=first_day - dt.timedelta(days=1),
            clock_start=_at(first_day, run_hour) - dt.timedelta(days=1),
            callback_url=url,
            callback_auth_key=CALLBACK_KEY,
            callback_retry_s=0.05,
            callback_loss_rate=loss_rate,
            fault_seed=seed,
            sticker_share=sticker_share,
        )
        with LocalVodAccount(config, regions) as account:
            settings = VodSettings(credentials, endpoints=account.endpoints, calls_per_second=calls_per_second, concurrency=concurrency)
            listed: dict[str, str] = {}  # every video ever listed -> its region
            deleted: dict[str, dt.datetime] = {}  # video -> when it was deleted
            for n in range(days):
                day = first_day + dt.timedelta(days=n)
                run = _at(day, run_hour)
                if n:  # the day between two runs: uploads and deletions, each announced as it happens
                    happened = account.clock.now()
                    draw = random.Random(f"{seed}:{day}")
                    alive = sorted(v for v in listed if v not in deleted)
                    for video_id in draw.sample(alive, min(deletes_per_day, len(alive))):
                        account.delete(video_id)
                        deleted[video_id] = happened
                    for number in range(uploads_per_day):
                        account.upload(regions[number % len(regions)], 1, at=happened)
                account.advance_to(run, wait=True)
                truth = account.truth(run)
                listed |= {video: region for region, held in truth.items() for video in held}
                write_video_set(layout.day_videos(day), list(listed), list(listed.values()))
                with settings.clients() as clients:
                    started = time.perf_counter()
                    summary = snapshot.fetch_day(layout, day, clients, concurrency=concurrency, policy=policy, inbox=inbox, today=day)
                    seconds = time.perf_counter() - started
                snapshot.normalize_day(layout, day)
                yield _check(layout, day, run, account, truth, summary, seconds, policy, deleted)


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), dt.UTC)


def _check(layout, day, run, account, truth, summary, seconds, policy, deleted) -> DayCheck:
    held = {(video, sticker) for region in truth.values() for video, stickers in region.items() for sticker in stickers}
    rows = lake.read_partition(layout, "stickers", day)
    seen = set(zip(rows["video_id"], rows["dynamic_image_id"], strict=True))
    events = lake.read_partition(layout, "events", day)
    announced = set(events.loc[(events["event_type"] == "DynamicImageComplete") & (events["action"] == refresh.ASKED), "video_id"])
    wrong = {video for video, _ in held ^ seen if video in announced}
    plan = refresh.read_plan(layout, day, asks=False)
    bare_days = plan.bare_days or plan.every_days
    window = run - dt.timedelta(days=policy.every_days)
    recent = {(c.video_id, c.image_id): c for c in account.changes(window, run)}
    quiet_recent = {(c.video_id, c.image_id) for c in account.changes(run - dt.timedelta(days=policy.bare_days), run)}
    stale, missing = seen - held, held - seen
    shown = set(rows["video_id"])  # videos the snapshot shows with stickers
    # How old each video's answer is: the day it was made (carried_from; the day itself when asked). Not
    # fetched_at, which is the wall clock's, while the simulated days run on the account's clock.
    fetches = lake.read_partition(layout, "video_fetches", day)
    made = pd.to_datetime(fetches["carried_from"].astype("object").fillna(day))
    ages = (pd.Timestamp(day) - made).dt.days
    with_stickers = (fetches["stickers_returned"] > 0).to_numpy()
    return DayCheck(
        day=day,
        videos=summary.asked + summary.carried,
        asked=summary.asked,
        carried=summary.carried,
        calls=summary.calls,
        seconds=seconds,
        events=len(events[events["event_type"] == "DynamicImageComplete"]),
        announced_videos=len(announced),
        announced_wrong=len(wrong),
        truth_rows=len(held),
        stale_rows=len(stale),
        missing_rows=len(missing),
        oldest_row_days=int(ages[with_stickers].max()) if with_stickers.any() else 0,
        oldest_bare_days=int(ages[~with_stickers].max()) if (~with_stickers).any() else 0,
        stale_within_k=all(key in recent or (key[0] in deleted and deleted[key[0]] > window) for key in stale),
        missing_within_k=all(key in recent if key[0] in shown else key in quiet_recent for key in missing),
        events_state=plan.events,
        bare_days=bare_days,
        unannounced=summary.unannounced,
        with_stickers=int(with_stickers.sum()),
    )


def as_dict(check: DayCheck) -> dict[str, object]:
    return {**dataclasses.asdict(check), "day": check.day.isoformat(), "differing_share": check.differing_share}
