"""Readers during writes: an analyst's process querying the warehouse, and a dashboard scanning the lake,
while days are re-published and re-written. Every read sees the old data or the new, whole."""

import datetime as dt
import json
import os
import subprocess
import sys
import threading

import duckdb
import pyarrow.dataset as ds

from pipeline import snapshot
from pipeline.publish import warehouse
from pipeline.store import lake
from tests.conftest import make_client, write_videos

DAY1, DAY2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)

# An analyst's session, querying in a loop: either one read-only connection held open all along, or a
# new one per query. Each query compares the stickers table with the fetch_log in one statement.
# (Within one process DuckDB shares a file's open database between its connections, so the two
# kinds of analyst are two processes.)
ANALYST = """
import json, os, sys, duckdb
path, stop, mode = sys.argv[1:]
QUERY = (
    "SELECT (SELECT count(*) FROM stickers), (SELECT sum(stickers_typed) FROM fetch_log), "
    "(SELECT count(DISTINCT snapshot_date) FROM stickers)"
)
held = duckdb.connect(path, read_only=True) if mode == "held" else None
while not os.path.exists(stop):
    try:
        if held is not None:
            row = held.execute(QUERY).fetchone()
        else:
            with duckdb.connect(path, read_only=True) as fresh:
                row = fresh.execute(QUERY).fetchone()
        print(json.dumps(row), flush=True)
    except Exception as err:
        print(json.dumps(["error", repr(err)]), flush=True)
"""


def fetch_and_normalize(service, layout, day):
    snapshot.take_video_set(layout, day, today=day)
    with make_client(service) as client:
        snapshot.fetch_day(layout, day, client, concurrency=8, today=day)
    return snapshot.normalize_day(layout, day)


def test_an_analyst_querying_in_a_loop_sees_old_or_new_data_whole_while_publishing(vod_service, layout, tmp_path):
    service = vod_service(catalog_size=150, calls_per_second=None)
    write_videos(service, layout.videos_csv)
    one_day = fetch_and_normalize(service, layout, DAY1).stickers
    warehouse.publish(layout)

    stop = tmp_path / "stop"
    analysts = {mode: Analyst(layout.warehouse, stop, mode) for mode in ("held", "fresh")}
    old, new = (one_day, one_day, 1), (2 * one_day, 2 * one_day, 2)
    try:
        for analyst in analysts.values():  # the analysts' queries are under way
            analyst.wait_for(lambda rows: len(rows) >= 5)
        fetch_and_normalize(service, layout, DAY2)
        for _ in range(5):
            warehouse.publish(layout)  # never waits on the analysts' open connections
        published = {mode: len(analyst.rows) for mode, analyst in analysts.items()}
        analysts["fresh"].wait_for(lambda rows: new in rows[published["fresh"] :])
        analysts["held"].wait_for(lambda rows: len(rows) >= published["held"] + 5)  # still querying after
    finally:
        stop.touch()
        results = {mode: analyst.finish() for mode, analyst in analysts.items()}
    assert all(len(rows) > 10 for rows in results.values())
    assert set(results["held"]) == {old}  # the open connection keeps its consistent old view
    assert set(results["fresh"]) == {old, new}  # new connections see the old, then the new data, whole
    assert results["fresh"][-1] == new


class Analyst:
    """An analyst's process querying in a loop; its answers are collected as they come."""

    def __init__(self, path, stop, mode):
        self.process = subprocess.Popen([sys.executable, "-c", ANALYST, str(path), str(stop), mode], stdout=subprocess.PIPE, text=True)
        self.rows: list[tuple] = []
        self.ended = False
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            with self.changed:
                self.rows.append(tuple(json.loads(line)))
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def wait_for(self, condition, timeout=120):
        """Waits until the answers so far meet ``condition`` (the analyst ending first fails the test)."""
        with self.changed:
            met = self.changed.wait_for(lambda: condition(self.rows) or self.ended, timeout)
            assert met and condition(self.rows), f"the analyst's answers so far: {self.rows[-3:]}"

    def finish(self):
        self.process.wait(timeout=30)
        self.reader.join()
        return self.rows


def test_a_dashboard_scanning_the_lake_in_a_loop_never_sees_a_missing_or_half_written_day(vod_service, layout):
    service = vod_service(catalog_size=150, calls_per_second=None)
    write_videos(service, layout.videos_csv)
    for day in (DAY1, DAY2):
        fetch_and_normalize(service, layout, day)
    full = lake.read_partition(layout, "stickers", DAY2)
    half = full.iloc[: len(full) // 2]
    stickers = layout.lake_table("stickers")
    scans: list[dict[str, int] | Exception] = []
    stop = threading.Event()

    def dashboard():
        glob = str(stickers / "*" / "*.parquet")
        while not stop.is_set():
            try:
                rows = duckdb.sql(
                    f"SELECT snapshot_date::VARCHAR, count(*) FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY 1"
                ).fetchall()
                scans.append(dict(rows))
                table = ds.dataset(stickers, format="parquet", partitioning="hive").to_table(columns=["snapshot_date"])
                counts = table.group_by("snapshot_date").aggregate([([], "count_all")])
                scans.append(dict(zip(map(str, counts["snapshot_date"].to_pylist()), counts["count_all"].to_pylist(), strict=False)))
            except Exception as err:  # noqa: BLE001 - any failed read is what the test looks for
                scans.append(err)

    reader = threading.Thread(target=dashboard)
    reader.start()
    try:
        for i in range(30):  # re-write day 2, alternating a full and a half day
            with lake.PartitionWriter(layout, "stickers", DAY2) as writer:
                writer.write(half if i % 2 == 0 else full)
                writer.commit()
    finally:
        stop.set()
        reader.join()
    errors = [s for s in scans if isinstance(s, Exception)]
    assert not errors
    counts = {(s[str(DAY1)], s[str(DAY2)]) for s in scans}
    assert counts <= {(len(full), len(full)), (len(full), len(half))}
    assert len(scans) > 10
    assert os.listdir(layout.lake_partition("stickers", DAY2)) == ["part-0.parquet"]
