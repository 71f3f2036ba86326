"""Nothing lost between two writes of a day: two commits of one day each land whole, every writer of a day
holds its lease, and a day whose fetch summary was lost is still normalized, audited and published."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from pipeline import snapshot
from pipeline.publish import warehouse
from pipeline.store import files, lake
from pipeline.store.layout import PARTITION_KEY
from pipeline.store.lease import DayBusy, DayLease
from pipeline.store.schema import DAY_TABLES, VIDEOS, arrow_schema
from tests.conftest import TODAY, make_client, write_videos
from tests.test_discovery import account, discover
from tests.test_lake_and_warehouse import write_day

DAY = dt.date(2026, 11, 20)


def test_two_commits_of_one_day_interleaved_both_land(layout, monkeypatch):
    """Discovery's videos and normalization's tables of one day, both writing at once, their commits
    interleaved: the second writes its journal while the first has written its own and renamed nothing yet."""
    write_day(layout, DAY, 3)
    videos, typed = lake.DayWriter(layout, DAY, ("videos",)), lake.DayWriter(layout, DAY, ("stickers", "quarantine"))
    videos["videos"].write(_two_videos())
    typed["stickers"].write(lake.read_partition(layout, "stickers", DAY).head(2))
    roll_forward, interleaved = files._roll_forward, []

    def roll_forward_after_the_other_commit(journal):
        if not interleaved:  # the first commit stops here, its journal written; the other commits whole
            interleaved.append(journal)
            typed.commit()
        roll_forward(journal)

    monkeypatch.setattr(files, "_roll_forward", roll_forward_after_the_other_commit)
    videos.commit()
    monkeypatch.undo()
    assert interleaved
    assert len(lake.read_partition(layout, "videos", DAY)) == 2
    assert len(lake.read_partition(layout, "stickers", DAY)) == 2
    assert not list((layout.lake_root / ".tmp").glob("*"))  # every journal finished, no file left to be removed later


def _two_videos() -> pa.Table:
    seen = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
    rows = [
        {"video_id": v, "region": "cn-shanghai", "first_seen": seen, "last_seen": seen, "deleted_upstream": False} for v in ("v1", "v2")
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema(VIDEOS, without=(PARTITION_KEY,)))


@pytest.mark.server
def test_discovery_waits_for_no_one_holding_the_day_and_writes_nothing(layout):
    local = account(regions=("cn-shanghai",))
    with local, DayLease(layout, TODAY, run_id="another-run"):
        with pytest.raises(DayBusy, match="another-run"):
            discover(layout, local, TODAY)
    assert lake.partition_days(layout, "videos") == []


def test_a_finished_day_whose_fetch_summary_was_lost_is_normalized_audited_and_published(service, layout):
    write_videos(service, layout.videos_csv)
    snapshot.take_video_set(layout, DAY, today=DAY)
    with make_client(service) as client:
        fetched = snapshot.fetch_day(layout, DAY, client, concurrency=8, today=DAY)
    layout.fetch_summary(DAY).unlink()  # as a kill between the answers' commit and the summary left it

    later = DAY + dt.timedelta(days=1)
    again = snapshot.fetch_day(layout, DAY, client, concurrency=8, today=later)  # the day is over: its answers stand
    outcomes = ("asked", "answered", "not_found", "failed", "stickers", "carried", "carried_stickers")
    assert {k: getattr(again, k) for k in outcomes} == {k: getattr(fetched, k) for k in outcomes}
    report = snapshot.normalize_day(layout, DAY)
    assert report.committed and report.audit.checks["fetch_reconciles"].passed
    warehouse.publish(layout)
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT videos_asked, videos_answered FROM fetch_log").fetchall() == [(fetched.asked, fetched.answered)]


def test_a_fetch_killed_after_its_summary_and_before_its_answers_are_in_place_is_resumed_not_lost(service, layout, monkeypatch):
    write_videos(service, layout.videos_csv)
    snapshot.take_video_set(layout, DAY, today=DAY)
    write_json = files.write_json

    def killed_after_writing(path, payload):
        write_json(path, payload)
        if path == layout.fetch_summary(DAY):
            raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(snapshot, "write_json", killed_after_writing)
    with make_client(service) as client, pytest.raises(KeyboardInterrupt):
        snapshot.fetch_day(layout, DAY, client, concurrency=8, today=DAY)
    monkeypatch.undo()
    assert not layout.answers(DAY).exists()  # unfinished: the next fetch finishes it
    with make_client(service) as client:
        summary = snapshot.fetch_day(layout, DAY, client, concurrency=8, today=DAY)
    assert summary.resumed == summary.asked and summary.calls == 0  # nothing asked twice
    assert snapshot.normalize_day(layout, DAY).committed
    assert dataclasses.asdict(snapshot.fetch_summary(layout, DAY)) == dataclasses.asdict(summary)
    assert lake.committed(layout, DAY, DAY_TABLES).fetch_summary() == summary
