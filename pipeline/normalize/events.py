"""The events a day's refresh plan took (``raw/.../events.jsonl``), typed for the lake's events table."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from pipeline.store.schema import EVENTS, pandas_dtypes


def type_events(path: Path, day: dt.date, run_id: str | None) -> pd.DataFrame:
    """One row per event, in arrival order; an EventTime that is not a time is null (the event is kept)."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.exists() else []
    frame = pd.DataFrame.from_records(
        records, columns=["seq", "event_type", "video_id", "status", "event_time", "received_at", "channel", "action", "body"]
    )
    frame["job_id"] = [body.get("JobId") if isinstance(body, dict) else None for body in frame["body"]]
    frame["job_id"] = frame["job_id"].map(lambda job: None if job is None else str(job))
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True, errors="coerce", format="ISO8601")
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True, format="ISO8601")
    frame["snapshot_date"] = day
    frame["run_id"] = run_id
    return frame.astype(pandas_dtypes(EVENTS))[[c.name for c in EVENTS]]
