"""Benchmark inputs, made once and kept under benchmarks/.data/ (ignored by git)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

from pipeline import snapshot
from pipeline.store import lake
from pipeline.store.files import write_json
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.schema import ANSWER_TABLES, TABLES
from pipeline.vod.local import Catalog
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
