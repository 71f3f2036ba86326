"""Apache Spark reads a lake the pipeline wrote, sharing no code with the Arrow, Polars and DuckDB readers:
every day's rows, the partition as a date, instants in UTC, integers that may be missing kept as integers."""

import datetime as dt
import os
import shutil

import duckdb
import pytest

from localvod import LocalVodService, ServiceConfig, write_videos_csv
from pipeline import snapshot
from pipeline.store.layout import Layout
from tests.conftest import KEY_ID, KEY_SECRET, make_client

pyspark = pytest.importorskip("pyspark", reason="pyspark is in the test extra: pip install -r requirements.txt")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs a Java runtime: run `make system-packages` (installs openjdk-17-jre-headless)", allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

# pyspark warns that it is not tested with pandas 3; these tests hand it no pandas frame.
pytestmark = [
    pytest.mark.browser,  # a JVM
    pytest.mark.server,  # the lake it reads is a day fetched from the local VOD service
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

D1, D2 = dt.date(2026, 11, 21), dt.date(2026, 11, 22)
INSTANTS = {"stickers": ("creation_time", "url_expires_at", "fetched_at"), "video_fetches": ("fetched_at",)}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """The lake folder of two days the pipeline fetched from the local VOD service and wrote: 60 videos
    on day 1, the last 10 deleted upstream on day 2, 3 ids VOD never knew; one connection in five is
    dropped and a video is tried twice, so some videos' outcomes are failures with no HTTP status (the
    local service's faults are drawn from the seed and the call alone: seed 2 drops both tries of 3 videos
    of day 1)."""
    layout = Layout(tmp_path_factory.mktemp("spark") / "data")
    write_videos_csv(layout.videos_csv, unknown=3, seed=7, size=60)
    for day, size, seed in ((D1, 60, 2), (D2, 50, 22)):
        config = ServiceConfig(
            access_key_id=KEY_ID,
            access_key_secret=KEY_SECRET,
            catalog_size=size,
            calls_per_second=None,
            drop_rate=0.2,
            fault_seed=seed,
        )
        with LocalVodService(config).start() as service:
            snapshot.take_video_set(layout, day, today=day)
            with make_client(service, max_attempts=2) as client:
                snapshot.fetch_day(layout, day, client, concurrency=4, today=day)
        snapshot.normalize_day(layout, day)
    return layout.lake_root


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """A small local Spark: one core, little memory, no web UI, bound to loopback, time zone set to UTC."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    scratch = tmp_path_factory.mktemp("spark-scratch")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("lake-reads")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.local.dir", str(scratch))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .getOrCreate()
    )
    yield session
    session.stop()


def duck(lake, table: str, select: str) -> list[tuple]:
    glob = str(lake / table / "*" / "*.parquet")
    source = f"read_parquet('{glob}', hive_partitioning = true, hive_types = {{'snapshot_date': DATE}})"
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(select.format(source=source)).fetchall()


@pytest.mark.parametrize("table", ["stickers", "video_fetches"])
def test_spark_counts_each_days_rows_as_duckdb_does_with_the_day_as_a_date(lake, spark, table):
    frame = spark.read.parquet(str(lake / table))
    assert frame.schema["snapshot_date"].dataType == T.DateType()
    counts = {row["snapshot_date"]: row["count"] for row in frame.groupBy("snapshot_date").count().collect()}
    expected = dict(duck(lake, table, "SELECT snapshot_date, count(*) FROM {source} GROUP BY 1"))
    assert counts == expected
    assert set(counts) == {D1, D2}
    if table == "stickers":
        assert counts[D1] > counts[D2] > 0  # the videos deleted upstream on day 2 show


@pytest.mark.parametrize("table", ["stickers", "video_fetches"])
def test_spark_reads_the_instants_as_utc_timestamps_equal_to_duckdbs(lake, spark, table):
    frame = spark.read.parquet(str(lake / table))
    for column in INSTANTS[table]:
        # TimestampType is an instant (TimestampNTZType would be a wall-clock time of no zone)
        assert frame.schema[column].dataType == T.TimestampType(), column
        # Rendered in the session's zone (UTC) and counted from the epoch: both must match DuckDB's
        ours = {
            (row[0], row[1]) for row in frame.select(F.unix_micros(column), F.date_format(column, "yyyy-MM-dd HH:mm:ss.SSSSSS")).collect()
        }
        theirs = set(duck(lake, table, f"SELECT epoch_us({column}), strftime({column}, '%Y-%m-%d %H:%M:%S.%f') FROM {{source}}"))
        assert ours == theirs, column
        if column != "url_expires_at":  # URLs signed within one second all expire at the same second
            assert len(ours) > 1, column


def test_spark_keeps_missing_integers_missing_and_the_others_integers(lake, spark):
    frame = spark.read.parquet(str(lake / "video_fetches"))
    for column in ("http_status", "stickers_returned", "attempts"):
        assert frame.schema[column].dataType == T.IntegerType(), column
    ours = frame.select("video_id", "snapshot_date", "http_status").collect()
    theirs = duck(lake, "video_fetches", "SELECT video_id, snapshot_date, http_status FROM {source}")
    assert sorted(map(tuple, ours), key=str) == sorted(theirs, key=str)
    missing = [row for row in ours if row["http_status"] is None]
    assert missing, "the history should hold videos whose HTTP status is unknown"
    assert all(isinstance(row["http_status"], int) for row in ours if row["http_status"] is not None)
