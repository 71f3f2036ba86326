"""The data directory on an object store: a real S3-compatible server (SeaweedFS) on loopback, started by
the tests. A day there is the same day as on disk, read back by the README's readers; a store's refusals
stop the run before the first VOD call, saying what to fix."""

import datetime as dt

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
import s3fs

from pipeline import settings, snapshot
from pipeline.errors import ConfigurationError
from pipeline.publish import report, warehouse
from pipeline.store import objects
from pipeline.store.layout import Layout
from pipeline.store.schema import TABLES
from tests.conftest import make_client, write_videos

DAY = dt.date(2026, 11, 20)
HIVE = ds.partitioning(pa.schema([("snapshot_date", pa.date32())]), flavor="hive")


def run_day(service, layout, day=DAY):
    snapshot.take_video_set(layout, day, today=day)
    with make_client(service) as client:
        snapshot.fetch_day(layout, day, client, concurrency=8, today=day)
    snapshot.normalize_day(layout, day)
    warehouse.publish(layout)


def all_objects(layout):
    return sorted(layout.root.fs.find(layout.root.path, withdirs=True))


def test_a_day_on_the_store_is_the_day_disk_would_hold_and_leaves_no_stray_object(vod_service, s3_layout, tmp_path):
    service = vod_service(catalog_size=120, calls_per_second=None)
    write_videos(service, tmp_path / "videos.csv")
    s3_layout.videos_csv.write_bytes((tmp_path / "videos.csv").read_bytes())
    run_day(service, s3_layout)

    # The same answers normalized on disk give the same Parquet files, byte for byte
    disk = Layout(tmp_path / "disk")
    for name in ("videos.csv", "answers.jsonl", "fetch.json", "plan.json", "plan.csv"):
        target = disk.raw_dir(DAY) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((s3_layout.raw_dir(DAY) / name).read_bytes())
    snapshot.normalize_day(disk, DAY)
    for table in ("stickers", "quarantine", "video_fetches", "events"):
        on_store = (s3_layout.lake_partition(table, DAY) / "part-0.parquet").read_bytes()
        assert on_store == (disk.lake_partition(table, DAY) / "part-0.parquet").read_bytes(), table
    answers = s3_layout.answers(DAY).read_text().splitlines()
    assert len(answers) == 120

    keys = [k.removeprefix(s3_layout.root.path + "/") for k in s3_layout.root.fs.find(s3_layout.root.path)]
    in_lake = sorted(k for k in keys if k.startswith("lake/"))
    assert in_lake == sorted(f"lake/{t}/snapshot_date={DAY}/part-0.parquet" for t in ("stickers", "quarantine", "video_fetches", "events"))
    assert not [k for k in keys if "partial" in k or k.endswith("writer.lease") or ".tmp" in k], keys
    assert "warehouse.duckdb" in keys and f"reports/snapshot_date={DAY}/stickers.html" not in keys


def test_the_readme_readers_read_a_day_on_the_store(vod_service, s3_layout, local_s3, monkeypatch, tmp_path):
    service = vod_service(catalog_size=80, calls_per_second=None)
    write_videos(service, tmp_path / "videos.csv")
    s3_layout.videos_csv.write_bytes((tmp_path / "videos.csv").read_bytes())
    run_day(service, s3_layout)
    with warehouse.connect(s3_layout.warehouse) as con:
        expected = con.execute("SELECT count(*) FROM stickers").fetchone()[0]
    assert expected > 0
    for name, value in local_s3.env().items():
        monkeypatch.setenv(name, value)
    lake = f"s3://{s3_layout.root.path}/lake/stickers"

    # The lines of the README's "Reading the Parquet lake" for a data directory on a store
    con = duckdb.connect()
    con.register_filesystem(s3fs.S3FileSystem())
    stickers = con.sql(f"SELECT * FROM read_parquet('{lake}/*/*.parquet', hive_partitioning = true)")
    assert len(stickers) == expected and dict(zip(stickers.columns, stickers.types))["snapshot_date"] == "DATE"

    stickers = ds.dataset(lake, partitioning=HIVE)
    assert stickers.count_rows() == expected and stickers.schema.field("snapshot_date").type == pa.date32()

    stickers = pd.read_parquet(lake, dtype_backend="pyarrow", partitioning=HIVE)
    assert len(stickers) == expected and (stickers["snapshot_date"] == DAY).all()

    stickers = pl.scan_parquet(f"{lake}/*/*.parquet", hive_partitioning=True).collect()
    assert stickers.height == expected and stickers["snapshot_date"].dtype == pl.Date

    # And the warehouse, fetched, with the store registered
    local = tmp_path / "warehouse.duckdb"
    s3fs.S3FileSystem().get(f"s3://{s3_layout.root.path}/warehouse.duckdb", str(local))
    with duckdb.connect(str(local), read_only=True) as analyst:
        analyst.register_filesystem(s3fs.S3FileSystem())
        assert analyst.execute("SELECT count(*) FROM stickers").fetchone()[0] == expected
        assert analyst.execute("SELECT sum(stickers_typed) FROM fetch_log").fetchone()[0] == expected
