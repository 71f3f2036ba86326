"""The video set: ``videos.csv`` with a ``video_id`` column and an optional ``region`` one, checked before
anything is called; and the day's copy of the set, each video with its region."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from pipeline.errors import ConfigurationError
from pipeline.store.files import atomic_write
from pipeline.store.objects import Location
from pipeline.vod.regions import DEFAULT_REGION, REGIONS

# What a VOD video id is made of. Checked with fullmatch: a $ anchor would let a trailing line break through.
VIDEO_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
VIDEO_ID_MAX = 64


def id_array(values: Sequence[str] | pd.Series | pd.Index) -> pa.Array:
    """Video ids or regions (a list, or a pandas column or index of text) as one Arrow array, to match them with
    ``pyarrow.compute`` (hashed in Arrow, not as a million Python objects)."""
    array = pa.array(values.array if isinstance(values, pd.Index | pd.Series) else values, pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def video_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a VOD video id, or None if it can: the one rule for ids from ``videos.csv``
    and from VOD itself (an id becomes a line of the day's set and a parameter of VOD's calls)."""
    if VIDEO_ID.fullmatch(value):
        return None
    if len(value) > VIDEO_ID_MAX:
        return f"is not a VOD video id (at most {VIDEO_ID_MAX} characters)"
    return "is not a VOD video id (letters, digits, - and _ only)"


@dataclass
class VideoSet:
    ids: list[str]
    regions: list[str] = field(default_factory=list)  # each id's region, in the same order
    blank: int = 0
    duplicates: int = 0
    # (where: "line 6" of videos.csv or the region VOD listed it in, the id as written, why it was set aside)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = []
        if self.blank:
            out.append(f"{self.blank} blank video_id value(s) skipped")
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate video_id value(s) fetched once")
        for where, value, reason in self.rejected[:20]:
            out.append(f"{where}: {value[:80]!r} {reason}")
        if len(self.rejected) > 20:
            out.append(f"... and {len(self.rejected) - 20} more ids that are not VOD video ids")
        return out


def read_video_set(path: Location, regions: Sequence[str] = (DEFAULT_REGION,)) -> VideoSet:
    """The distinct, well-formed video ids of a CSV, in file order, each with its region; what was skipped
    is counted. Without a ``region`` column every video is in the one configured region; a region the
    deployment does not follow, or a set of several regions without the column, is a ConfigurationError."""
    if not path.exists():
        raise ConfigurationError(
            f"No video set at {path}: write a CSV with a video_id column there "
            "(`vod-stickers videos` writes one for the local VOD service), or set VIDEO_SOURCE=vod to "
            "discover the account's videos"
        )
    with path.open("r", newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise ConfigurationError(f"The video set {path} is empty: it needs a header line with video_id")
        names = {name.strip(): name for name in reader.fieldnames}
        if "video_id" not in names:
            raise ConfigurationError(f"The video set {path} has no video_id column (columns: {', '.join(reader.fieldnames)})")
        key, region_key = names["video_id"], names.get("region")
        if region_key is None and len(regions) > 1:
            raise ConfigurationError(
                f"The video set {path} has no region column, but VOD_REGIONS lists {len(regions)} regions "
                f"({', '.join(regions)}): add a region column saying where each video is stored, or list one region"
            )
        videos = VideoSet(ids=[])
        seen: set[str] = set()
        strange: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            value = (row.get(key) or "").strip()
            region = (row.get(region_key) or "").strip() if region_key else regions[0]
            if not value:
                videos.blank += 1
            elif problem := video_id_problem(value):
                videos.rejected.append((f"line {line}", value, problem))
            elif value in seen:
                videos.duplicates += 1
            elif region not in regions:
                strange.setdefault(region, line)
            else:
                seen.add(value)
                videos.ids.append(value)
                videos.regions.append(region)
    if strange:
        shown = ", ".join(f"{r!r} (line {line})" if r else f"a blank region (line {line})" for r, line in strange.items())
        known = " (not a VOD region)" if any(r not in REGIONS for r in strange) else ""
        raise ConfigurationError(
            f"The video set {path} names regions the deployment does not follow: {shown}{known}. "
            f"Add them to VOD_REGIONS (now {', '.join(regions)}) or fix the region column"
        )
    if not videos.ids:
        raise ConfigurationError(f"The video set {path} has no usable video id: " + "; ".join(videos.problems() or ["no rows"]))
    return videos


def listed_set(ids: Iterable[str], regions: Iterable[str]) -> VideoSet:
    """The set of the videos VOD listed, each in its region, checked as ``videos.csv``'s ids are: one that
    is not a VOD video id is set aside with its region and reason (it would split into the day's set, and
    into VOD's calls)."""
    videos = VideoSet(ids=[])
    for video_id, region in zip(ids, regions, strict=True):
        if (problem := video_id_problem(video_id)) is None:
            videos.ids.append(video_id)
            videos.regions.append(region)
        else:
            videos.rejected.append((region, video_id, problem))
    return videos


def write_video_set(path: Location, ids: Sequence[str], regions: Sequence[str]) -> None:
    """The day's copy of the set: ``video_id,region`` lines."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write("video_id,region\n")
        f.writelines(f"{i},{r}\n" for i, r in zip(ids, regions, strict=True))


def read_day_set(path: Location, default_region: str = DEFAULT_REGION) -> VideoSet:
    """A set written by ``write_video_set`` (already checked); one kept before regions were recorded (a lone
    ``video_id`` column) is in ``default_region``."""
    ids, regions = [], []
    named: dict[str, str] = {}  # each region's name held once, not once a video
    with path.open("r", encoding="utf-8") as f:
        with_region = next(f, "").strip().endswith(",region")
        for line in f:
            if line := line.strip():
                video_id, _, region = line.partition(",")
                ids.append(video_id)
                regions.append(named.setdefault(region, region) if with_region else default_region)
    return VideoSet(ids=ids, regions=regions)
