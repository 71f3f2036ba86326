"""The events a day's refresh plan took (``raw/.../events.jsonl``), typed for the lake's events table."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from pipeline.store.objects import Location
from pipeline.store.schema import EVENTS, pandas_dtypes


def type_events(path: Location, day: dt.date, run_id: str | None) -> pd.DataFrame:
    """One row per event, in arrival order; an EventTime that is not a time is null (the event is kept)."""
    # split at line feeds only: splitlines() would also cut at U+0085, U+2028 and others a body may hold
    lines = path.read_text(encoding="utf-8").split("\n") if path.exists() else []
    records = [json.loads(line) for line in lines if line.strip()]
    frame = pd.DataFrame.from_records(
        records, columns=["seq", "event_type", "video_id", "status", "event_time", "received_at", "channel", "action", "body"]
    )
    # Made text in Python, before pandas sees the column: pandas would read a missing JobId as NaN, and
    # str() would then make it the text 'nan'
    frame["job_id"] = pd.Series([_job(body) for body in frame["body"]], index=frame.index, dtype=object)
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True, errors="coerce", format="ISO8601")
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True, format="ISO8601")
    frame["snapshot_date"] = day
    frame["run_id"] = run_id
    return frame.astype(pandas_dtypes(EVENTS))[[c.name for c in EVENTS]]


def _job(body: object) -> str | None:
    job = body.get("JobId") if isinstance(body, dict) else None
    return None if job is None else str(job)
