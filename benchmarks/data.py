"""Benchmark inputs, made once and kept under benchmarks/.data/ (ignored by git)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

from localvod import Catalog
from pipeline import snapshot
from pipeline.store import lake
from pipeline.store.files import write_json
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.schema import ANSWER_TABLES, TABLES
from pipeline.vod.outcome import FetchSummary, Outcome

DATA = Path(__file__).resolve().parent / ".data"
DAY = dt.date(2026, 1, 1)


def raw_day(*, rows: int | None = None, videos: int | None = None) -> Layout:
    """A data directory whose day ``DAY`` holds finished raw answers: for at least ``rows`` stickers,
    or for exactly ``videos`` videos, from the local service's catalog (about 4.5 stickers a video)."""
    root = DATA / (f"raw-{rows}-rows" if rows else f"raw-{videos}-videos")
    layout = Layout(root)
    path = layout.answers(DAY)
    if path.exists():
        return layout
    catalog = Catalog(size=videos or rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = layout.answers_in_progress(DAY)
    signed_at = int(time.time())
    stickers = answered = 0
    with open(partial, "w", encoding="utf-8") as f:
        for video_id in catalog.video_ids():
            if rows and stickers >= rows:
                break
            items = catalog.stickers(video_id, signed_at)
            request_id = str(uuid.uuid4()).upper()
            outcome = Outcome(
                video_id=video_id,
                status="answered",
                fetched_at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                attempts=1,
                request_id=request_id,
                http_status=200,
                response={"RequestId": request_id, "DynamicImageList": items},
            )
            f.write(json.dumps(dataclasses.asdict(outcome), separators=(",", ":")) + "\n")
            stickers += len(items)
            answered += 1
    os.replace(partial, path)
    summary = FetchSummary(asked=answered, answered=answered, stickers=stickers, calls=answered, seconds=answered / 100)
    write_json(layout.fetch_summary(DAY), dataclasses.asdict(summary))
    return layout


def stickers_in(layout: Layout) -> int:
    """Sticker items in the day's raw answers."""
    return snapshot.fetch_summary(layout, DAY).stickers


def lake_of_days(videos: int, days: int) -> Layout:
    """A data directory whose lake holds ``days`` daily snapshots of ``videos`` videos each (one real
    normalized day, linked under every day's partition folder) and their fetch summaries."""
    base = raw_day(videos=videos)
    columns = [c.name for c in TABLES["stickers"] if c.name != PARTITION_KEY]
    made = lake.partition_path(base, "stickers", DAY)
    if not made.exists() or lake.parquet_file(base, "stickers", DAY).schema_arrow.names != columns:
        snapshot.normalize_day(base, DAY)  # none yet, or made before the schema changed
    layout = Layout(DATA / f"lake-{videos}-videos-{days}-days")
    summary = snapshot.fetch_summary(base, DAY)
    for i in range(days):
        day = DAY + dt.timedelta(days=i)
        for table in ANSWER_TABLES:
            source, target = lake.partition_path(base, table, DAY), lake.partition_path(layout, table, day)
            if not target.exists() or not target.samefile(source):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.unlink(missing_ok=True)
                os.link(source, target)
        write_json(layout.fetch_summary(day), dataclasses.asdict(summary))
    return layout


# --- a year of days, made synthetically ---------------------------------------------------------------------

YEAR_START = dt.date(2025, 1, 1)
LIFETIME_DAYS = 180  # a sticker slot's sticker is replaced every LIFETIME_DAYS, at its own phase
GAP_DAYS = 1  # ... after a day with no sticker in the slot (vanished one day, a new one the next)


def year_lake(videos: int, days: int) -> Layout:
    """A data directory of ``days`` daily snapshots of ``videos`` videos, made synthetically (about 3.26
    stickers a video, a few hundred vanishing and as many new ones a day, most videos carried), written
    day by day with the lake's own writer, with each day's fetch summary. Made once; a day already
    written is kept, so an interrupted making resumes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    layout = Layout(DATA / f"year-{videos}-videos-{days}-days")
    done = layout.root / "made.json"
    if done.exists():
        return layout
    rng = np.random.default_rng(23)
    video_ids = pa.array([f"{i:08x}" + "0" * 24 for i in range(videos)])  # 32 characters, as VOD's ids
    titles = pa.array([f"Video {i:,}: a clip of the year" for i in range(videos)])
    per_video = rng.poisson(3.26, videos)
    slots = int(per_video.sum())
    slot_video = np.repeat(np.arange(videos), per_video)
    phase = rng.integers(0, LIFETIME_DAYS, slots)
    slot_prefix = pa.array([f"{s:028x}" for s in range(slots)])  # with "-<generation>", about 32 characters
    is_gif = rng.random(slots) < 0.55
    base_size = rng.integers(20_000, 2_000_000, slots)
    duration = np.round(rng.uniform(1, 10, slots), 3)
    fps = pa.array(rng.choice([10, 15, 24], slots), mask=rng.random(slots) < 0.01, type=pa.int32())  # 1% unknown
    width = rng.choice([320, 480, 640], slots).astype(np.int32)
    epoch_us = int(dt.datetime.combine(YEAR_START, dt.time(), dt.UTC).timestamp() * 1_000_000)
    day_us = 86_400_000_000
    ts = pa.timestamp("us", tz="UTC")
    for n in range(days):
        day = YEAR_START + dt.timedelta(days=n)
        if lake.partition_path(layout, "video_fetches", day).exists():
            continue
        age = (n + phase) % LIFETIME_DAYS
        present = age >= GAP_DAYS
        generation = (n + phase) // LIFETIME_DAYS
        born_us = epoch_us + (n - age) * day_us + (phase * 997 % 86_400) * 1_000_000
        fetched_us = epoch_us + n * day_us + 7_200_000_000 + slot_video * 50_000
        sticker_id = pc.binary_join_element_wise(slot_prefix, pc.cast(pa.array(generation), pa.string()), "-")
        day_key = f"{n:04x}"
        stickers = pa.table(
            {
                "video_id": pc.take(video_ids, pa.array(slot_video)),
                "region": pa.repeat(pa.scalar("cn-shanghai"), slots),
                "dynamic_image_id": sticker_id,
                "job_id": pc.binary_join_element_wise("job-", sticker_id, ""),
                "format": pa.array(np.where(is_gif, "gif", "webp")),
                "creation_time": pa.array(born_us, ts),
                "duration_s": duration,
                "fps": fps,
                "width": width,
                "height": (width * 9 // 16).astype(np.int32),
                "file_size_bytes": base_size + generation * 101,
                "file_url": pc.binary_join_element_wise(
                    "https://outin-example.oss-cn-shanghai.aliyuncs.com/stickers/", sticker_id, ".gif", ""
                ),
                "url_expires_at": pa.array(fetched_us + 3_600_000_000, ts),
                "request_id": pc.binary_join_element_wise("REQ-", day_key, pc.take(video_ids, pa.array(slot_video)), ""),
                "fetched_at": pa.array(fetched_us, ts),
            }
        ).filter(pa.array(present))
        returned = np.bincount(slot_video[present], minlength=videos).astype(np.int32)
        draw = rng.random(videos)
        status = np.where(draw < 0.15, "answered", np.where(draw < 0.151, "failed", np.where(draw < 0.152, "not_found", "carried")))
        # A video's stickers change only on a day VOD answered for it (else its last answer is carried)
        status[np.unique(slot_video[(n > 0) & ((age == 0) | (age == GAP_DAYS))])] = "answered"
        carried = status == "carried"
        failed = status == "failed"
        video_fetched_us = epoch_us + n * day_us + 7_200_000_000 + np.arange(videos) * 50_000
        fetches = pa.table(
            {
                "video_id": video_ids,
                "region": pa.repeat(pa.scalar("cn-shanghai"), videos),
                "status": status,
                "stickers_returned": np.where((status == "answered") | carried, returned, 0).astype(np.int32),
                "error_code": pa.array(np.where(failed, "Timeout", None)),
                "error_message": pa.array(np.where(failed, "no answer in 10 s", None)),
                "request_id": pc.binary_join_element_wise("REQ-", day_key, video_ids, ""),
                "http_status": pa.array(np.where(status == "not_found", 404, 200), mask=failed, type=pa.int32()),
                "attempts": np.where(failed, 6, 1).astype(np.int32),
                "fetched_at": pa.array(video_fetched_us, ts),
                "reason": pa.array(np.where(carried, None, "due")),
                "carried_from": pa.array(
                    ((day - dt.date(1970, 1, 1)).days - 1 - (draw * 6).astype(np.int32)).astype(np.int32), mask=~carried, type=pa.int32()
                ).cast(pa.date32()),
                "carried_status": pa.array(np.where(carried, "answered", None)),
            }
        )
        listed = pa.table(
            {
                "video_id": video_ids,
                "region": pa.repeat(pa.scalar("cn-shanghai"), videos),
                "title": titles,
                "status": pa.repeat(pa.scalar("Normal"), videos),
                "creation_time": pa.array(epoch_us - np.arange(videos) * 60_000_000, ts),
                "duration_s": np.full(videos, 60.0),
                "size_bytes": np.full(videos, 50_000_000, dtype=np.int64),
                "first_seen": pa.array(np.full(videos, epoch_us), ts),
                "last_seen": pa.array(np.full(videos, epoch_us + n * day_us), ts),
                "deleted_upstream": np.zeros(videos, dtype=bool),
                "deleted_at": pa.nulls(videos, ts),
            }
        )
        with lake.DayWriter(layout, day, ("stickers", "video_fetches", "videos")) as writer:
            for table, rows in (("stickers", stickers), ("video_fetches", fetches), ("videos", listed)):
                for chunk in rows.to_batches(max_chunksize=200_000):
                    writer[table].write(pa.Table.from_batches([chunk]))
            writer.commit()
        asked = int((~carried).sum())
        summary = FetchSummary(
            asked=asked,
            answered=int((status == "answered").sum()),
            not_found=int((status == "not_found").sum()),
            failed=int(failed.sum()),
            stickers=int(returned[status == "answered"].sum()),
            calls=asked,
            seconds=asked / 100,
            started_at=f"{day.isoformat()}T02:00:00Z",
            finished_at=f"{day.isoformat()}T02:30:00Z",
            carried=int(carried.sum()),
            carried_stickers=int(returned[carried].sum()),
        )
        write_json(layout.fetch_summary(day), dataclasses.asdict(summary))
    write_json(done, {"videos": videos, "days": days})
    return layout
