"""What became of each video of a fetch, and the counts of a whole fetch: the records the fan-out hands over."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["answered", "not_found", "failed", "carried"]
STATUSES: tuple[Status, ...] = ("answered", "not_found", "failed")  # the outcomes of a video asked
CARRIED = "carried"  # a video not asked that day: its last answer, carried into the day's snapshot


@dataclass
class Outcome:
    """What became of one video: answered (with VOD's JSON answer), not found, or failed with a reason."""

    video_id: str
    status: Status
    fetched_at: str  # ISO 8601 UTC, when the final answer arrived
    attempts: int
    region: str | None = None
    request_id: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    reason: str | None = None  # why the day's plan asked it (refresh.REASONS); None when carried
    carried_from: str | None = None  # carried: the day (YYYY-MM-DD) of the answer it holds
    carried_status: str | None = None  # carried: that answer's outcome (answered or not_found)
    response: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class FetchSummary:
    """Counts of one day's fetch. Reconciles: asked == answered + not_found + failed, and the day's
    videos == asked + carried."""

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
    resumed: int = 0  # outcomes kept from an earlier, interrupted fetch of the day (not called again)
    carried: int = 0  # videos not asked: their last answer carried into the day
    carried_stickers: int = 0  # items in the carried answers
    unannounced: int = 0  # videos a sweep found with more stickers than their last answer, no event said so

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        if outcome.status == "answered":
            self.stickers += sticker_count(outcome.response)

    def carry_over(self, kept: dict[str, dict[str, Any]]) -> None:
        """Adds the outcomes an interrupted fetch of the day had already made durable."""
        for record in kept.values():
            setattr(self, record["status"], getattr(self, record["status"]) + 1)
            self.stickers += record["stickers"]
        self.asked += len(kept)
        self.resumed += len(kept)


def utc_now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def sticker_count(response: dict[str, Any] | None) -> int:
    items = (response or {}).get("DynamicImageList")
    return len(items) if isinstance(items, list) else 0
