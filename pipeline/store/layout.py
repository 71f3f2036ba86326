"""Where everything lives under the data directory: the data contract's paths, written down once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pipeline.store.objects import Location
from pipeline.store.schema import DEFAULT_ACCOUNT

PARTITION_KEY = "snapshot_date"


@dataclass(frozen=True)
class Layout:
    """The data directory: a folder, or a prefix of an object store (``objects.Location``).

    ``lease_s`` is how long a killed run's hold on a day outlives it on an object store (``lease``);
    ``inbox`` is where VOD's events are kept, a local file (SQLite), by default under the data directory
    when that is a folder.

    ``account`` is the account's name in a deployment of several (``VOD_ACCOUNTS_FILE``): its video set, raw
    answers and events are under ``accounts/<name>/``, and its day of each lake table is the file
    ``part-<name>.parquet`` of the day's partition, beside the other accounts'. A deployment of one account
    (None) keeps them at the top and writes ``part-0.parquet``; its rows say ``default``."""

    root: Location
    lease_s: float = 60.0
    inbox: Path | None = None
    account: str | None = None

    def of_account(self, account: str | None) -> Layout:
        return dataclasses.replace(self, account=account)

    @property
    def account_name(self) -> str:
        """The account the rows written through this layout say they belong to."""
        return self.account or DEFAULT_ACCOUNT

    @property
    def base(self) -> Location:
        """Where the account's own files are: its video set, raw answers and events."""
        return self.root if self.account is None else self.root / "accounts" / self.account

    @property
    def part_file(self) -> str:
        """The name of the account's file in each partition of a lake table."""
        return "part-0.parquet" if self.account is None else f"part-{self.account}.parquet"

    @property
    def videos_csv(self) -> Location:
        return self.base / "videos.csv"

    def raw_dir(self, day: dt.date) -> Location:
        return self.base / "raw" / f"{PARTITION_KEY}={day.isoformat()}"

    def day_videos(self, day: dt.date) -> Location:
        """The video set as it was taken for that day."""
        return self.raw_dir(day) / "videos.csv"

    def answers(self, day: dt.date) -> Location:
        return self.raw_dir(day) / "answers.jsonl"

    def answers_in_progress(self, day: dt.date) -> Location:
        """Where the answers of a fetch under way accumulate, one line per video, until renamed to answers."""
        return self.raw_dir(day) / "answers.jsonl.partial"

    def discovery_answers(self, day: dt.date) -> Location:
        """VOD's answers to the day's walk of the account (GetVideoList, SearchMedia, GetVideoInfos)."""
        return self.raw_dir(day) / "discovery.jsonl"

    def discovery_summary(self, day: dt.date) -> Location:
        return self.raw_dir(day) / "discovery.json"

    def fetch_summary(self, day: dt.date) -> Location:
        return self.raw_dir(day) / "fetch.json"

    def plan(self, day: dt.date) -> Location:
        """Which videos the day's fetch asks and why, and which events it took (``refresh.plan_day``)."""
        return self.raw_dir(day) / "plan.json"

    def plan_asks(self, day: dt.date) -> Location:
        """The videos the day's plan asks, each with its reason."""
        return self.raw_dir(day) / "plan.csv"

    def day_state(self, day: dt.date) -> Location:
        """Each video of the day's finished fetch, a row each: its status, the answer it holds (of which day,
        with how many stickers). What the next day's plan builds on, without reading the answers."""
        return self.raw_dir(day) / "state.parquet"

    def day_events(self, day: dt.date) -> Location:
        """The events the day's plan took from the inbox, as VOD sent them, with what the plan did."""
        return self.raw_dir(day) / "events.jsonl"

    @property
    def events_inbox(self) -> Path:
        """VOD's events as they arrive (``events.inbox.Inbox``)."""
        if self.inbox is not None:  # one file given for the deployment: an account's events in a file of its own beside it
            return self.inbox if self.account is None else self.inbox.with_name(f"{self.inbox.stem}-{self.account}{self.inbox.suffix}")
        base = self.base
        if not isinstance(base, Path):
            raise ValueError("a data directory on an object store keeps VOD's events in a local file: give Layout(inbox=...)")
        return base / "events" / "inbox.sqlite"

    @property
    def lake_root(self) -> Location:
        return self.root / "lake"

    def lake_table(self, table: str) -> Location:
        return self.lake_root / table

    def lake_partition(self, table: str, day: dt.date) -> Location:
        return self.lake_table(table) / f"{PARTITION_KEY}={day.isoformat()}"

    @property
    def staging_root(self) -> Location:
        """Where a day that failed its audit is held, laid out as the lake is (``lake.DayWriter.hold``)."""
        return self.root / "staging"

    def staging_partition(self, table: str, day: dt.date) -> Location:
        return self.staging_root / table / f"{PARTITION_KEY}={day.isoformat()}"

    def audit(self, day: dt.date) -> Location:
        """The blocking checks' results of the day's last normalization, and whether it was committed."""
        return self.raw_dir(day) / "audit.json"

    @property
    def warehouse(self) -> Location:
        return self.root / "warehouse.duckdb"

    def report(self, day: dt.date) -> Location:
        """The HTML report of a snapshot day."""
        return self.root / "reports" / f"{PARTITION_KEY}={day.isoformat()}" / "stickers.html"
