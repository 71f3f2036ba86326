"""The video set: ``videos.csv`` with a ``video_id`` column, checked before anything is called."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ConfigurationError
from pipeline.store.files import atomic_write

VIDEO_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass
class VideoSet:
    ids: list[str]
    blank: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, id as written)

    def problems(self) -> list[str]:
        out = []
        if self.blank:
            out.append(f"{self.blank} blank video_id value(s) skipped")
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate video_id value(s) fetched once")
        for line, value in self.rejected[:20]:
            out.append(f"line {line}: {value[:80]!r} is not a VOD video id (letters, digits, - and _ only)")
        if len(self.rejected) > 20:
            out.append(f"... and {len(self.rejected) - 20} more ids that are not VOD video ids")
        return out


def read_video_set(path: Path) -> VideoSet:
    """The distinct, well-formed video ids of a CSV, in file order; what was skipped is counted."""
    if not path.exists():
        raise ConfigurationError(
            f"No video set at {path}: write a CSV with a video_id column there "
            "(`vod-stickers videos` writes one for the local VOD service)"
        )
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise ConfigurationError(f"The video set {path} is empty: it needs a header line with video_id")
        if "video_id" not in [name.strip() for name in reader.fieldnames]:
            raise ConfigurationError(
                f"The video set {path} has no video_id column (columns: {', '.join(reader.fieldnames)})"
            )
        key = next(name for name in reader.fieldnames if name.strip() == "video_id")
        videos = VideoSet(ids=[])
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            value = (row.get(key) or "").strip()
            if not value:
                videos.blank += 1
            elif not VIDEO_ID.match(value):
                videos.rejected.append((line, value))
            elif value in seen:
                videos.duplicates += 1
            else:
                seen.add(value)
                videos.ids.append(value)
    if not videos.ids:
        raise ConfigurationError(f"The video set {path} has no usable video id: " + "; ".join(videos.problems() or ["no rows"]))
    return videos


def write_video_ids(path: Path, ids: list[str]) -> None:
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write("video_id\n")
        f.writelines(f"{i}\n" for i in ids)


def read_video_ids(path: Path) -> list[str]:
    """Ids written by ``write_video_ids`` (already checked)."""
    with open(path, encoding="utf-8") as f:
        next(f, None)
        return [line.strip() for line in f if line.strip()]
