"""Where everything lives under the data directory: the data contract's paths, written down once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

PARTITION_KEY = "snapshot_date"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def videos_csv(self) -> Path:
        return self.root / "videos.csv"

    def raw_dir(self, day: dt.date) -> Path:
        return self.root / "raw" / f"{PARTITION_KEY}={day.isoformat()}"

    def day_videos(self, day: dt.date) -> Path:
        """The video set as it was taken for that day."""
        return self.raw_dir(day) / "videos.csv"

    def answers(self, day: dt.date) -> Path:
        return self.raw_dir(day) / "answers.jsonl"

    def answers_in_progress(self, day: dt.date) -> Path:
        """Where the answers of a fetch under way accumulate, one line per video, until renamed to answers."""
        return self.raw_dir(day) / "answers.jsonl.partial"

    def discovery_answers(self, day: dt.date) -> Path:
        """VOD's answers to the day's walk of the account (GetVideoList, SearchMedia, GetVideoInfos)."""
        return self.raw_dir(day) / "discovery.jsonl"

    def discovery_summary(self, day: dt.date) -> Path:
        return self.raw_dir(day) / "discovery.json"

    def fetch_summary(self, day: dt.date) -> Path:
        return self.raw_dir(day) / "fetch.json"

    def plan(self, day: dt.date) -> Path:
        """Which videos the day's fetch asks and why, and which events it took (``refresh.plan_day``)."""
        return self.raw_dir(day) / "plan.json"

    def plan_asks(self, day: dt.date) -> Path:
        """The videos the day's plan asks, each with its reason."""
        return self.raw_dir(day) / "plan.csv"

    def day_events(self, day: dt.date) -> Path:
        """The events the day's plan took from the inbox, as VOD sent them, with what the plan did."""
        return self.raw_dir(day) / "events.jsonl"

    @property
    def events_inbox(self) -> Path:
        """VOD's events as they arrive (``events.inbox.Inbox``)."""
        return self.root / "events" / "inbox.sqlite"

    def lake_table(self, table: str) -> Path:
        return self.root / "lake" / table

    def lake_partition(self, table: str, day: dt.date) -> Path:
        return self.lake_table(table) / f"{PARTITION_KEY}={day.isoformat()}"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def report(self, day: dt.date) -> Path:
        """The HTML report of a snapshot day."""
        return self.root / "reports" / f"{PARTITION_KEY}={day.isoformat()}" / "stickers.html"
