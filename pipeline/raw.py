"""The raw store: one JSON line per video and day, holding VOD's answer exactly as it came.

A day's answers are appended to ``answers.jsonl.partial`` as they arrive and flushed in small batches,
then renamed to ``answers.jsonl`` once every video has its outcome. Normalization reads only the
finished file, so it can be redone any time without calling VOD again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["answered", "not_found", "failed"]
STATUSES: tuple[Status, ...] = ("answered", "not_found", "failed")


@dataclass
class Outcome:
    """What became of one video: answered (with VOD's JSON answer), not found, or failed with a reason."""

    video_id: str
    status: Status
    fetched_at: str  # ISO 8601 UTC, when the final answer arrived
    attempts: int
    request_id: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    response: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class FetchSummary:
    """Counts of one day's fetch. Reconciles: asked == answered + not_found + failed."""

    asked: int = 0
    answered: int = 0
    not_found: int = 0
    failed: int = 0
    stickers: int = 0
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    seconds: float = 0.0
    started_at: str | None = None
    finished_at: str | None = None

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        if outcome.status == "answered" and outcome.response:
            items = outcome.response.get("DynamicImageList")
            self.stickers += len(items) if isinstance(items, list) else 0


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class AnswerWriter:
    """Appends outcomes to a day's partial answer file; ``commit()`` renames it into place."""

    def __init__(self, path: Path, *, flush_every: int = 200):
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.flush_every = flush_every
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.partial, "w", encoding="utf-8")
        self._pending = 0

    def write(self, outcome: Outcome) -> None:
        self._file.write(json.dumps(asdict(outcome), ensure_ascii=False, separators=(",", ":")) + "\n")
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._pending = 0

    def commit(self) -> None:
        self.flush()
        self._file.close()
        os.replace(self.partial, self.path)

    def close(self) -> None:
        """Keeps what was written (durable) without marking the day finished."""
        if not self._file.closed:
            self.flush()
            self._file.close()


def read_answers(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a finished answer file, one dict per video."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Writes a small JSON document atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_summary(path: Path) -> FetchSummary:
    return FetchSummary(**json.loads(path.read_text(encoding="utf-8")))
