"""Data-quality checks of one day of the lake. Each returns a ``CheckResult`` a person can read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pipeline.store import lake
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.schema import TABLES, arrow_schema
from pipeline.vod.api import FORMATS
from pipeline.vod.outcome import FetchSummary


@dataclass
class CheckResult:
    passed: bool
    summary: str
    metadata: dict[str, Any] = field(default_factory=dict)


def schema_matches(layout: Layout, day: dt.date) -> CheckResult:
    """The day's Parquet file has exactly the declared columns and types."""
    expected = arrow_schema(TABLES["stickers"], without=(PARTITION_KEY,))
    actual = lake.parquet_file(layout, "stickers", day).schema_arrow.remove_metadata()
    if actual.equals(expected):
        return CheckResult(True, "columns and types as declared")
    want = {f.name: str(f.type) for f in expected}
    got = {f.name: str(f.type) for f in actual}
    diffs = sorted(
        f"{name}: expected {want.get(name, 'absent')}, found {got.get(name, 'absent')}"
        for name in set(want) | set(got)
        if want.get(name) != got.get(name)
    )
    return CheckResult(False, "; ".join(diffs) or "nullability differs", {"differences": len(diffs)})


def unique_sticker_ids(layout: Layout, day: dt.date) -> CheckResult:
    """No (snapshot_date, dynamic_image_id) appears twice."""
    ids = lake.parquet_file(layout, "stickers", day).read(columns=["dynamic_image_id"]).column(0).to_pandas()
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated) == 0:
        return CheckResult(True, f"{len(ids)} sticker ids, all distinct")
    return CheckResult(
        False,
        f"{len(duplicated)} dynamic_image_id values appear more than once",
        {"duplicated_ids": len(duplicated), "examples": ", ".join(map(str, duplicated[:5]))},
    )


def known_formats(layout: Layout, day: dt.date) -> CheckResult:
    """Every format is gif or webp."""
    formats = lake.parquet_file(layout, "stickers", day).read(columns=["format"]).column(0).to_pandas()
    unknown = formats[~formats.isin(FORMATS)]
    if unknown.empty:
        return CheckResult(True, f"formats: {', '.join(sorted(formats.unique())) or 'none'}")
    return CheckResult(False, f"{len(unknown)} rows with a format other than {' or '.join(FORMATS)}", {"examples": ", ".join(unknown.unique()[:5])})


def positive_measures(layout: Layout, day: dt.date) -> CheckResult:
    """Sizes, dimensions, frame rates and durations are positive where present."""
    columns = ["file_size_bytes", "width", "height", "fps", "duration_s"]
    frame = lake.read_partition(layout, "stickers", day)[columns]
    bad = {c: int((frame[c] <= 0).fillna(False).sum()) for c in columns}
    bad = {c: n for c, n in bad.items() if n}
    if not bad:
        return CheckResult(True, f"{len(frame)} rows, all measures positive")
    return CheckResult(False, "non-positive values in " + ", ".join(f"{c} ({n})" for c, n in bad.items()), bad)


def fetch_reconciles(layout: Layout, day: dt.date, summary: FetchSummary) -> CheckResult:
    """Every video of the day has one outcome (asked or carried), and every item of the day's answers (returned
    or carried) is a sticker row or a quarantined row."""
    stickers = lake.parquet_file(layout, "stickers", day).metadata.num_rows
    quarantined = lake.parquet_file(layout, "quarantine", day).metadata.num_rows
    videos = lake.parquet_file(layout, "video_fetches", day).metadata.num_rows
    settled = summary.answered + summary.not_found + summary.failed
    metadata = {
        "asked": summary.asked,
        "answered": summary.answered,
        "not_found": summary.not_found,
        "failed": summary.failed,
        "carried": summary.carried,
        "items_returned": summary.stickers,
        "items_carried": summary.carried_stickers,
        "stickers": stickers,
        "quarantined": quarantined,
    }
    problems = []
    if settled != summary.asked:
        problems.append(f"{summary.asked} videos asked but {settled} settled (answered + not found + failed)")
    if videos != summary.asked + summary.carried:
        carried = f" + {summary.carried} carried" if summary.carried else ""
        problems.append(f"{summary.asked} videos asked{carried} but {videos} rows in video_fetches")
    items = summary.stickers + summary.carried_stickers
    if stickers + quarantined != items:
        carried = f" and {summary.carried_stickers} were carried" if summary.carried_stickers else ""
        problems.append(f"VOD returned {summary.stickers} items{carried} but {stickers} stickers + {quarantined} quarantined were written")
    if problems:
        return CheckResult(False, "; ".join(problems), metadata)
    return CheckResult(
        True,
        f"{summary.asked} asked = {summary.answered} answered + {summary.not_found} not found + {summary.failed} failed"
        f"{f', {summary.carried} carried' if summary.carried else ''}; {items} items = {stickers} stickers + {quarantined} quarantined",
        metadata,
    )
