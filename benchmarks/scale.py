"""A day of an account at a given size, stage by stage, for ``make bench``'s scale table.

Day 1 (``DAY``) is made synthetically: every video answered (``STICKER_SHARE`` of them with 1 to 5 stickers,
the rest with none), its answers, state and video set kept as a finished fetch leaves them, and normalized
into the lake. Day 2's stages then run one at a time, each in a process of its own (``tasks.scale_stage``),
so that each one's seconds and peak memory are its own: the plan (made, then resumed), the carry (the
asked videos' answers written and the rest carried, as a fetch's commit does), normalize and write (with
the day's audit), the checks alone, publish and the report. Discovery typing types a walk's worth of
GetVideoList entries for the account's videos.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import shutil

import numpy as np
import pandas as pd

from benchmarks.data import DATA
from pipeline.store.files import write_json
from pipeline.store.layout import Layout
from pipeline.store.raw import write_state
from pipeline.store.videos import write_video_set
from pipeline.vod.outcome import FetchSummary

DAY = dt.date(2026, 3, 1)
NEXT = DAY + dt.timedelta(days=1)
STICKER_SHARE = 0.3
REGIONS = ("cn-shanghai", "ap-southeast-1")
STAGES = ("discovery", "plan", "plan_resumed", "carry", "normalize", "checks", "publish", "report")


def video_id(n: int) -> str:
    return f"{n:032x}"


def layout_of(videos: int) -> Layout:
    return Layout(DATA / f"scale-{videos}")


def prepare(videos: int) -> Layout:
    """Day 1 of ``videos`` videos, made once and kept; day 2's files removed, so its stages start anew."""
    layout = layout_of(videos)
    if layout.base.exists() and not (layout.base / ".made").exists():
        shutil.rmtree(layout.base)  # left half made
    for folder in (layout.raw_dir(NEXT), layout.lake_root, layout.staging_root, layout.base / "reports"):
        shutil.rmtree(folder, ignore_errors=True)
    layout.warehouse.unlink(missing_ok=True)
    if (layout.base / ".made").exists():
        layout.day_videos(NEXT).parent.mkdir(parents=True)
        shutil.copyfile(layout.day_videos(DAY), layout.day_videos(NEXT))
        return layout
    layout.answers(DAY).parent.mkdir(parents=True, exist_ok=True)
    ids = [video_id(n) for n in range(videos)]
    regions = [REGIONS[n % 2] for n in range(videos)]
    draw = random.Random(videos)
    counts = [draw.randint(1, 5) if draw.random() < STICKER_SHARE else 0 for _ in range(videos)]
    fetched = f"{DAY.isoformat()}T02:00:00.000000Z"
    stickers = 0
    with open(layout.answers(DAY), "w", encoding="utf-8") as out:
        for n, (vid, region, count) in enumerate(zip(ids, regions, counts, strict=True)):
            items = [_item(vid, n, k) for k in range(count)]
            stickers += count
            request = f"{n:08X}-0000-4000-8000-{n:012X}"
            record = {
                "video_id": vid,
                "status": "answered",
                "fetched_at": fetched,
                "attempts": 1,
                "request_id": request,
                "http_status": 200,
                "error_code": None,
                "error_message": None,
                "response": {"RequestId": request, "DynamicImageList": items},
                "region": region,
                "reason": "new",
            }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    write_video_set(layout.day_videos(DAY), ids, regions)
    layout.day_videos(NEXT).parent.mkdir(parents=True)
    shutil.copyfile(layout.day_videos(DAY), layout.day_videos(NEXT))
    state = pd.DataFrame(
        {
            "video_id": ids,
            "region": regions,
            "status": "answered",
            "answer": "answered",
            "answered_on": pd.Timestamp(DAY),
            "stickers": np.array(counts, dtype="int32"),
        }
    )
    write_state(layout.day_state(DAY), state.astype({"answered_on": "datetime64[ns]"}))
    summary = FetchSummary(asked=videos, answered=videos, stickers=stickers, calls=videos, seconds=videos / 100)
    write_json(layout.fetch_summary(DAY), dataclasses.asdict(summary))
    (layout.base / ".made").touch()
    return layout


def lake_day_one(layout: Layout) -> None:
    from pipeline import snapshot

    snapshot.normalize_day(layout, DAY)


def _item(vid: str, n: int, k: int) -> dict[str, str]:
    image = f"{n:028x}{k:04x}"
    fmt = "webp" if (n + k) % 5 < 3 else "gif"
    return {
        "CreationTime": f"2025-{1 + n % 12:02d}-{1 + k * 5:02d}T0{k}:{n % 60:02d}:00Z",
        "Duration": str(2 + (n + k) % 9),
        "DynamicImageId": image,
        "FileSize": str(50_000 + (n * 7919 + k) % 400_000),
        "FileURL": f"https://dynamic.vod-local.test/{vid}/image/dynamic/{image}.{fmt}?auth_key=1796470917-{image}-0-{image}",
        "Format": fmt,
        "Fps": str((10, 15, 24)[(n + k) % 3]),
        "Height": "270",
        "Width": "480",
        "JobId": f"{k:04x}{n:028x}",
        "VideoId": vid,
    }


def discovery_pages(videos: int, page: int = 100):
    """A full walk's GetVideoList pages for the account's videos, (region, entries) as VOD writes them, made as
    they are asked for (what a walk holds at once is a page)."""
    for region_index, region in enumerate(REGIONS):
        for start in range(region_index, videos, page * len(REGIONS)):
            yield (
                region,
                [
                    {
                        "VideoId": video_id(n),
                        "Title": f"video {n}",
                        "Status": "Normal",
                        "CreationTime": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T10:{n % 60:02d}:00Z",
                        "Duration": 12.5 + n % 300,
                        "Size": 1_000_000 + n,
                    }
                    for n in range(start, min(start + page * len(REGIONS), videos), len(REGIONS))
                ],
            )
