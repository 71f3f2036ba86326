"""Hive-partitioned Parquet replaced atomically, and the DuckDB warehouse swapped in whole."""

import dataclasses
import datetime as dt
import os
import subprocess
import sys

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipeline import snapshot
from pipeline.publish import warehouse
from pipeline.store import lake
from pipeline.store.files import write_json
from pipeline.vod.outcome import FetchSummary
from tests.test_normalize import answered, item, write_answers

D1, D2 = dt.date(2026, 11, 19), dt.date(2026, 11, 20)


def write_day(layout, day, n_stickers, *, bad=0):
    """One day of n good stickers (and ``bad`` quarantined ones) through the stickers asset's path: the
    answer file, normalized into the lake, and the fetch summary."""
    items = [item(DynamicImageId=f"s{i}", VideoId="v1", Format="gif" if i % 3 else "webp") for i in range(n_stickers)]
    items += [item(DynamicImageId=f"b{i}", VideoId="v1", FileSize="N/A") for i in range(bad)]
    layout.answers(day).parent.mkdir(parents=True, exist_ok=True)
    summary = FetchSummary(
        asked=2,
        answered=2,
        stickers=len(items),
        calls=2,
        seconds=0.5,
        started_at="2026-11-20T08:00:00Z",
        finished_at="2026-11-20T08:00:01Z",
    )
    write_json(layout.fetch_summary(day), dataclasses.asdict(summary))
    write_answers(layout.answers(day), [answered("v1", *items), answered("v2")])
    return snapshot.normalize_day(layout, day)


def test_partitions_are_hive_folders_every_reader_understands(layout):
    write_day(layout, D1, 3)
    write_day(layout, D2, 5)
    assert sorted(p.name for p in layout.lake_table("stickers").iterdir()) == ["snapshot_date=2026-11-19", "snapshot_date=2026-11-20"]
    # pyarrow datasets, pandas and DuckDB all see the partition column.
    dataset = ds.dataset(layout.lake_table("stickers"), partitioning="hive")
    assert dataset.count_rows() == 8
    frame = pd.read_parquet(layout.lake_table("stickers"))
    assert frame.groupby(frame["snapshot_date"].astype(str)).size().to_dict() == {"2026-11-19": 3, "2026-11-20": 5}
    rows = duckdb.execute(
        f"SELECT snapshot_date, count(*) FROM read_parquet('{layout.lake_table('stickers')}/*/*.parquet', hive_partitioning=true) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [(D1, 3), (D2, 5)]


def test_rewriting_a_day_replaces_it_whole(layout):
    write_day(layout, D1, 5)
    write_day(layout, D1, 2)
    files = list(layout.lake_partition("stickers", D1).iterdir())
    assert [f.name for f in files] == ["part-0.parquet"]  # no temporary or stale file left behind
    assert len(lake.read_partition(layout, "stickers", D1)) == 2


def test_a_failed_write_leaves_the_old_partition_in_place(layout):
    write_day(layout, D1, 4)
    with pytest.raises(RuntimeError):
        with lake.PartitionWriter(layout, "stickers", D1) as writer:
            writer.write(lake.read_partition(layout, "stickers", D1).head(1))
            raise RuntimeError("worker died")
    assert len(lake.read_partition(layout, "stickers", D1)) == 4
    assert [f.name for f in layout.lake_partition("stickers", D1).iterdir()] == ["part-0.parquet"]


def day_as_read(layout, day):
    """What a reader going through the pipeline sees of the day: rows of each table."""
    return {table: len(lake.read_partition(layout, table, day)) for table in ("stickers", "quarantine", "video_fetches")}


def test_a_day_is_replaced_all_or_nothing_when_a_rename_fails_part_way(layout, monkeypatch):
    write_day(layout, D1, 4, bad=1)
    old = day_as_read(layout, D1)
    replace = os.replace

    def quarantine_fails_once(src, dst):
        if "quarantine" in str(dst) and not failed:
            failed.append(dst)
            raise OSError("disk gone for a moment")
        replace(src, dst)

    failed = []
    monkeypatch.setattr(os, "replace", quarantine_fails_once)
    with pytest.raises(OSError, match="disk gone"):
        write_day(layout, D1, 2, bad=3)
    assert failed  # the stickers table was renamed, the quarantine's rename failed
    # The next reader finishes the day's replacement before it reads: every table is the new day.
    assert day_as_read(layout, D1) == {"stickers": 2, "quarantine": 3, "video_fetches": 2} != old
    assert warehouse.publish(layout)["stickers"] == 2
    assert not list((layout.root / "lake" / ".tmp").glob("*"))  # no journal or temporary file left


def test_a_day_whose_normalization_fails_keeps_every_table_old(layout, monkeypatch):
    write_day(layout, D1, 4, bad=1)
    old = day_as_read(layout, D1)
    write = lake.PartitionWriter.write

    def video_fetches_fail(writer, rows):
        if writer.table == "video_fetches":  # written after stickers and quarantine
            raise OSError("no space left")
        write(writer, rows)

    monkeypatch.setattr(lake.PartitionWriter, "write", video_fetches_fail)
    with pytest.raises(OSError, match="no space left"):
        write_day(layout, D1, 2, bad=3)
    monkeypatch.undo()
    assert day_as_read(layout, D1) == old
    assert not list((layout.root / "lake" / ".tmp").glob("*"))


def test_a_killed_writers_temporary_file_is_removed_by_the_days_next_write_once_idle(layout):
    spool = layout.root / "lake" / ".tmp"
    spool.mkdir(parents=True)
    dead = spool / f".stickers.snapshot_date={D1}.part-0.parquet.0123.tmp"  # left by a writer killed an hour ago
    live = spool / f".stickers.snapshot_date={D1}.part-0.parquet.4567.tmp"  # a writer still at work
    other = spool / f".stickers.snapshot_date={D2}.part-0.parquet.89ab.tmp"
    for path in (dead, live, other):
        path.write_bytes(b"PAR1")
    for path in (dead, other):
        os.utime(path, (0, 0))
    write_day(layout, D1, 2)
    assert sorted(spool.iterdir()) == sorted([live, other])


def test_publish_builds_every_table_and_summaries_describe_the_newest_day(layout):
    write_day(layout, D1, 3, bad=1)
    write_day(layout, D2, 6, bad=2)
    counts = warehouse.publish(layout)
    assert counts["stickers"] == 9 and counts["quarantine"] == 3
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        log = con.execute(
            "SELECT snapshot_date, videos_asked, videos_answered, stickers_returned, stickers_typed, rows_quarantined FROM fetch_log ORDER BY 1"
        ).fetchall()
        assert log == [(D1, 2, 2, 4, 3, 1), (D2, 2, 2, 8, 6, 2)]
        videos = dict(con.execute("SELECT video_id, stickers FROM video_sticker_stats").fetchall())
        assert videos == {"v1": 6, "v2": 0}  # a video without stickers is still listed
        formats = dict(con.execute("SELECT format, stickers FROM format_stats").fetchall())
        assert formats == {"gif": 4, "webp": 2}
        assert con.execute("SELECT sum(stickers) FROM daily_sticker_stats").fetchone()[0] == 6
        per_day = con.execute("SELECT snapshot_date, count(*) FROM stickers GROUP BY 1 ORDER BY 1").fetchall()
        assert per_day == [(D1, 3), (D2, 6)]
        assert con.execute("SELECT DISTINCT snapshot_date FROM latest_stickers").fetchall() == [(D2,)]


def test_an_open_reader_keeps_its_view_and_never_blocks_a_publish(layout):
    write_day(layout, D1, 3)
    warehouse.publish(layout)
    reader = duckdb.connect(str(layout.warehouse), read_only=True)
    try:
        write_day(layout, D2, 5)
        warehouse.publish(layout)  # would fail or wait if it needed the reader's file
        assert reader.execute("SELECT count(*) FROM stickers").fetchone()[0] == 3
    finally:
        reader.close()
    with duckdb.connect(str(layout.warehouse), read_only=True) as fresh:
        assert fresh.execute("SELECT count(*) FROM stickers").fetchone()[0] == 8
    assert sorted(p.name for p in layout.warehouse.parent.glob("*warehouse*")) == ["warehouse.duckdb"]


@pytest.mark.server
def test_the_warehouse_opens_read_only_from_another_directory_and_process(layout, tmp_path):
    write_day(layout, D1, 3)
    warehouse.publish(layout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = f"import duckdb; print(duckdb.connect({str(layout.warehouse)!r}, read_only=True).execute('SELECT count(*) FROM stickers').fetchone()[0])"
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


@pytest.mark.server
def test_the_duckdb_cli_opens_the_warehouse_read_only(layout):
    write_day(layout, D1, 3)
    warehouse.publish(layout)
    cli = os.path.join(os.path.dirname(sys.executable), "duckdb")
    out = subprocess.run(
        [cli, "-readonly", "-csv", str(layout.warehouse), "-c", "SELECT count(*) AS n FROM stickers"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["n", "3"]


def test_publishing_an_empty_lake_gives_empty_tables(layout):
    counts = warehouse.publish(layout)
    assert set(counts) == set(warehouse.TABLE_NAMES) and not any(counts.values())
    assert os.path.exists(layout.warehouse)


def test_a_publish_that_fails_halfway_leaves_the_old_warehouse_and_no_temporary_file(layout):
    write_day(layout, D1, 4)
    warehouse.publish(layout)
    published = layout.warehouse.read_bytes()
    write_day(layout, D2, 3)
    damaged = lake.partition_path(layout, "video_fetches", D2)
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # a partition cut short on disk

    with pytest.raises(Exception, match="(?i)parquet"):
        warehouse.publish(layout)
    assert layout.warehouse.read_bytes() == published  # analysts keep the last good warehouse
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT snapshot_date, count(*) FROM stickers GROUP BY 1").fetchall() == [(D1, 4)]
    assert sorted(p.name for p in layout.root.iterdir() if p.is_file()) == ["warehouse.duckdb"]


def without_account(layout):
    """The lake as written before rows said their account: every file without the column."""
    for path in (layout.root / "lake").rglob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["account"]), path)


@pytest.mark.parametrize("upgraded", [False, True], ids=["every file from before", "the newest day after"])
def test_days_written_before_accounts_say_default_and_still_join(layout, upgraded):
    write_day(layout, D1, 3)
    write_day(layout, D2, 2)
    without_account(layout)
    if upgraded:
        write_day(layout, D2, 2)  # the newest day written again, with the column
    warehouse.publish(layout)
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT DISTINCT account FROM stickers").fetchall() == [("default",)]
        assert con.execute("SELECT account, video_id, stickers FROM video_sticker_stats ORDER BY video_id").fetchall() == [
            ("default", "v1", 2),
            ("default", "v2", 0),
        ]
        assert con.execute("SELECT account, videos, stickers_typed FROM fetch_log ORDER BY snapshot_date").fetchall() == [
            ("default", 2, 3),
            ("default", 2, 2),
        ]
        gone = con.execute("SELECT dynamic_image_id, present, disappeared FROM sticker_history ORDER BY 1").fetchall()
    assert gone == [("s0", True, False), ("s1", True, False), ("s2", False, True)]
