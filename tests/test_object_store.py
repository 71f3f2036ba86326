"""The data directory on an object store: a real S3-compatible server (SeaweedFS) on loopback, started by
the tests. A day there is the same day as on disk, read back by the readers of docs/data.md; a store's refusals
stop the run before the first VOD call, saying what to fix."""

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import s3fs
from s3fs.utils import FileExpired

from pipeline import snapshot
from pipeline.publish import warehouse
from pipeline.store import lake, objects
from pipeline.store.layout import Layout
from pipeline.store.lease import DayBusy
from tests import test_lake_and_warehouse as on_disk
from tests.conftest import KEY_ID, KEY_SECRET, TODAY, daily_snapshot_command, make_client, write_videos
from tests.test_checks import damaged, replaced, rewrite_file
from tests.test_discovery import account, clients, discover
from tests.test_lake_and_warehouse import D1, day_as_read, write_day
from tests.test_secrets import dagster_places

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


def test_the_documented_readers_read_a_day_on_the_store(vod_service, s3_layout, local_s3, monkeypatch, tmp_path):
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

    # The lines of docs/data.md, "Reading the Parquet lake", for a data directory on a store
    con = duckdb.connect()
    con.register_filesystem(s3fs.S3FileSystem())
    stickers = con.sql(f"SELECT * FROM read_parquet('{lake}/*/*.parquet', hive_partitioning = true)")
    assert len(stickers) == expected and dict(zip(stickers.columns, stickers.types, strict=False))["snapshot_date"] == "DATE"

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


# One process's whole day against the store, as a second machine would run it; prints what happened.
DAY_IN_A_CHILD = """
import datetime as dt, json, sys
from pipeline import settings, snapshot
from pipeline.store.lease import DayBusy
from pipeline.vod.client import Credentials, VodClient
endpoint, key_id, secret, day, steps = sys.argv[1:]
layout = settings.lake_from_env().layout()
day = dt.date.fromisoformat(day)
try:
    if "fetch" in steps:
        with VodClient(Credentials(key_id, secret), endpoint=endpoint, calls_per_second=100) as client:
            snapshot.fetch_day(layout, day, client, concurrency=8, today=day)
    if "normalize" in steps:
        snapshot.normalize_day(layout, day)
except DayBusy as busy:
    print(json.dumps({"busy": str(busy)}))
else:
    print(json.dumps({"done": True}))
"""


def child_env(local_s3, layout, **extra):
    return {
        **os.environ,
        **local_s3.env(),
        "PIPELINE_DATA_DIR": f"s3://{layout.root.path}",
        "PIPELINE_LEASE_SECONDS": "5",
        "VOD_EVENTS_INBOX": str(layout.events_inbox),
        "PYTHONWARNINGS": "ignore",
        **extra,
    }


def day_in_a_child(service, local_s3, layout, steps="fetch,normalize"):
    return subprocess.Popen(
        [sys.executable, "-c", DAY_IN_A_CHILD, service.endpoint, KEY_ID, KEY_SECRET, DAY.isoformat(), steps],
        env=child_env(local_s3, layout),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_two_runs_racing_on_one_day_cannot_both_write_it(vod_service, s3_layout, local_s3, tmp_path):
    service = vod_service(catalog_size=300)  # 100 calls/s: each fetch takes about 3 s, so the two overlap
    write_videos(service, tmp_path / "videos.csv")
    s3_layout.videos_csv.write_bytes((tmp_path / "videos.csv").read_bytes())
    snapshot.take_video_set(s3_layout, DAY, today=DAY)

    runs = [day_in_a_child(service, local_s3, s3_layout) for _ in range(2)]
    results = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted("done" if "done" in r else "busy" for r in results) == ["busy", "done"]
    busy = next(r["busy"] for r in results if "busy" in r)
    assert busy.startswith(f"Snapshot day {DAY} is being written by a run (pid ") and "two runs cannot write one day" in busy
    assert service.stats["requests"] == 300  # the loser asked VOD nothing
    assert len(s3_layout.answers(DAY).read_text().splitlines()) == 300
    assert not s3_layout.raw_dir(DAY).joinpath("writer.lease").exists()  # the winner let go of the day


def test_a_killed_run_resumes_from_the_answers_kept_on_the_store(vod_service, s3_layout, local_s3, tmp_path):
    service = vod_service(catalog_size=600, latency_ms=20)  # 100 calls/s: about 6 s to fetch
    write_videos(service, tmp_path / "videos.csv")
    s3_layout.videos_csv.write_bytes((tmp_path / "videos.csv").read_bytes())
    snapshot.take_video_set(s3_layout, DAY, today=DAY)

    child = day_in_a_child(service, local_s3, s3_layout, steps="fetch")
    batches = s3_layout.answers_in_progress(DAY)
    try:
        deadline = time.monotonic() + 60
        while not (batches.exists() and sum(p.read_text().count("\n") for p in batches.glob("*.jsonl")) >= 200):
            assert child.poll() is None and time.monotonic() < deadline, "no batch of answers reached the store"
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    kept = sum(p.read_text().count("\n") for p in batches.glob("*.jsonl"))
    assert 200 <= kept < 600 and not s3_layout.answers(DAY).exists()

    # The dead run's lease holds the day until it lapses (5 s here), then the day resumes
    with make_client(service, calls_per_second=100) as client:
        with pytest.raises(DayBusy, match="its lease runs until"):
            snapshot.fetch_day(s3_layout, DAY, client, concurrency=8, today=DAY)
        time.sleep(5.5)
        before = service.stats["requests"]
        summary = snapshot.fetch_day(s3_layout, DAY, client, concurrency=8, today=DAY)
    assert summary.resumed == kept and summary.calls - summary.retries == 600 - kept
    assert service.stats["requests"] - before == summary.calls
    lines = [json.loads(line) for line in s3_layout.answers(DAY).read_text().splitlines()]
    assert len(lines) == 600 and len({r["video_id"] for r in lines}) == 600
    assert not batches.exists() or not list(batches.glob("*.jsonl"))


def answered(layout, content):
    """The day's answers replaced by ``content``, its fetch summary by none (so it is made from the answers,
    and the day passes its audit)."""
    layout.answers(DAY).write_bytes(content)
    objects.remove(layout.fetch_summary(DAY))


def test_readers_scanning_while_a_day_is_rewritten_see_the_old_day_or_the_new_whole(vod_service, s3_layout, local_s3, tmp_path):
    service = vod_service(catalog_size=200, calls_per_second=None)
    write_videos(service, tmp_path / "videos.csv")
    s3_layout.videos_csv.write_bytes((tmp_path / "videos.csv").read_bytes())
    run_day(service, s3_layout)
    answers = s3_layout.answers(DAY).read_bytes()
    half = b"".join(answers.splitlines(keepends=True)[:100])
    counts = {}
    for name, content in (("half", half), ("whole", answers)):
        answered(s3_layout, content)
        snapshot.normalize_day(s3_layout, DAY)
        counts[name] = {t: lake.parquet_file(s3_layout, t, DAY).metadata.num_rows for t in ("stickers", "video_fetches")}
    assert counts["half"] != counts["whole"]

    stop, seen, failures = threading.Event(), [], []
    fs = pafs.S3FileSystem(access_key=local_s3.key_id, secret_key=local_s3.secret, endpoint_override=local_s3.endpoint, scheme="http")

    def scan():
        while not stop.is_set():
            try:
                seen.append(("stickers", ds.dataset(f"{s3_layout.root.path}/lake/stickers", filesystem=fs, partitioning=HIVE).count_rows()))
                frame = pd.read_parquet(f"s3://{s3_layout.root.path}/lake/video_fetches", storage_options=s3_layout.root.storage_options)
                seen.append(("video_fetches", len(frame)))
            except Exception as err:  # noqa: BLE001 - what the reader met; it reads again
                failures.append(err)

    readers = [threading.Thread(target=scan) for _ in range(2)]
    for reader in readers:
        reader.start()
    for content in (half, answers) * 3:
        answered(s3_layout, content)
        snapshot.normalize_day(s3_layout, DAY)
    stop.set()
    for reader in readers:
        reader.join()

    # Every read that returned saw the old day or the new one whole, never a mix, a duplicate or nothing
    assert len(seen) > 10
    for table in ("stickers", "video_fetches"):
        counts_seen = {n for t, n in seen if t == table}
        assert counts_seen <= {counts["half"][table], counts["whole"][table]}, table
    assert {n for t, n in seen if t == "stickers"} == {counts["half"]["stickers"], counts["whole"]["stickers"]}
    # A scan that listed a file just before it was replaced can fail reading it (S3 has no rename, and a
    # reader takes the size from the listing): it fails loudly, s3fs naming the changed ETag, pyarrow a
    # bad footer, and the next read is right. A missing file or a folder marker is never met.
    assert not [f for f in failures if isinstance(f, FileNotFoundError)]
    assert all(isinstance(f, FileExpired) or "magic bytes" in str(f) for f in failures), failures


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"AWS_SECRET_ACCESS_KEY": "a-wrong-secret-Qz4"}, "SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY"),
        ({"AWS_ACCESS_KEY_ID": "nobody"}, "check AWS_ACCESS_KEY_ID"),
        ({"PIPELINE_DATA_DIR": "s3://no-such-bucket-here/data"}, "the bucket does not exist"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot be reached: check AWS_ENDPOINT_URL"),
        ({"AWS_SECRET_ACCESS_KEY": None}, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
    ],
)
def test_a_store_that_refuses_stops_the_run_before_the_first_call_saying_what_to_fix(
    vod_service, s3_layout, local_s3, tmp_path, change, expected
):
    service = vod_service(catalog_size=20, calls_per_second=None)
    env = {
        k: v for k, v in child_env(local_s3, s3_layout, **{k: v for k, v in change.items() if v}).items() if change.get(k, "") is not None
    }
    env.update(
        ALIBABA_CLOUD_ACCESS_KEY_ID=KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=KEY_SECRET,
        VOD_ENDPOINT=service.endpoint,
        DAGSTER_HOME=str(tmp_path / "home"),
    )
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--day", DAY.isoformat()], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr.splitlines()[0]
    assert "a-wrong-secret-Qz4" not in run.stdout + run.stderr and local_s3.secret not in run.stdout + run.stderr
    assert service.stats["requests"] == 0 and not (tmp_path / "home").exists()


def test_the_analysts_shell_queries_a_warehouse_on_the_store_offline(vod_service, s3_layout, local_s3, tmp_path):
    service = vod_service(catalog_size=60, calls_per_second=None)
    write_videos(service, tmp_path / "videos.csv")
    s3_layout.videos_csv.write_bytes((tmp_path / "videos.csv").read_bytes())
    run_day(service, s3_layout)
    with warehouse.connect(s3_layout.warehouse) as con:
        expected = con.execute("SELECT (SELECT count(*) FROM stickers), (SELECT sum(stickers_typed) FROM fetch_log)").fetchone()
    assert expected[0] > 0
    # The shell is the DuckDB CLI: with httpfs loaded from its package (this machine has no internet)
    query = "SELECT (SELECT count(*) FROM stickers) AS rows, (SELECT sum(stickers_typed) FROM fetch_log) AS typed"
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "query", "-csv", "-c", query],
        env=child_env(local_s3, s3_layout),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == f"{expected[0]},{expected[1]}"
    assert local_s3.secret not in run.stdout + run.stderr


def test_a_day_through_dagster_on_the_store_keeps_every_secret_out(vod_service, s3_layout, local_s3, tmp_path, dagster_home):
    vod_secret = "SECRET-ak-on-store-5Hn2"
    service = vod_service(catalog_size=80, calls_per_second=None, access_key_secret=vod_secret, server_error_rate=0.1)
    write_videos(service, tmp_path / "videos.csv")
    s3_layout.videos_csv.write_bytes((tmp_path / "videos.csv").read_bytes())
    env = {
        **child_env(local_s3, s3_layout),
        "DAGSTER_HOME": str(dagster_home),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": vod_secret,
        "VOD_ENDPOINT": service.endpoint,
    }
    run = subprocess.run(
        daily_snapshot_command(TODAY.isoformat()),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    answers = s3_layout.answers(TODAY).read_text()
    tokens = {m.group(1) for m in re.finditer(r"auth_key=([^&\"\s]+)", answers)}
    assert len(tokens) > 100

    places = {"run output": run.stdout + run.stderr, **dagster_places(dagster_home)}
    for key in s3_layout.root.fs.find(s3_layout.root.path):
        name = key.removeprefix(s3_layout.root.path + "/")
        if name.endswith(".parquet"):
            places[name] = json.dumps(
                pq.read_table(key, filesystem=pafs.PyFileSystem(pafs.FSSpecHandler(s3_layout.root.fs))).to_pylist(), default=str
            )
        elif not name.endswith(".duckdb"):
            places[name] = s3_layout.root.fs.cat_file(key).decode("utf-8", "replace")
    with warehouse.connect(s3_layout.warehouse) as con:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            places[f"warehouse {table}"] = json.dumps(con.execute(f'SELECT * FROM "{table}"').fetchall(), default=str)

    assert any(p.startswith("lake/stickers/") for p in places) and f"reports/snapshot_date={TODAY}/stickers.html" in places
    assert len([p for p in places if p.startswith("metadata")]) >= 4
    everywhere = [(place, secret[:10]) for place, text in places.items() for secret in (local_s3.secret, vod_secret) if secret in text]
    assert everywhere == []
    # VOD's signed URLs stay in raw/, which keeps VOD's answers as they came
    outside_raw = [
        (place, token[:8]) for place, text in places.items() if not place.startswith("raw/") for token in tokens if token in text
    ]
    assert outside_raw == []


def pending_uploads(layout):
    bucket, prefix = layout.root.path.split("/", 1)
    return layout.root.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix).get("Uploads", [])


def test_a_day_on_the_store_is_replaced_all_or_nothing_when_a_completion_fails_part_way(s3_layout, monkeypatch):
    write_day(s3_layout, D1, 4, bad=1)
    old = day_as_read(s3_layout, D1)
    complete, failed = objects.complete, []

    def quarantine_fails_once(ref, pending):
        if "/quarantine/" in pending.key and not failed:
            failed.append(pending.key)
            raise OSError("store gone for a moment")
        return complete(ref, pending)

    monkeypatch.setattr(objects, "complete", quarantine_fails_once)
    with pytest.raises(OSError, match="store gone"):
        write_day(s3_layout, D1, 2, bad=3)
    assert failed and list((s3_layout.root / "lake" / ".tmp").glob("*.replace.json"))  # the journal stays
    # The next reader finishes the day's replacement before it reads: every table is the new day.
    assert day_as_read(s3_layout, D1) == {"stickers": 2, "quarantine": 3, "video_fetches": 2} != old
    assert warehouse.publish(s3_layout)["stickers"] == 2
    assert not list((s3_layout.root / "lake" / ".tmp").glob("*")) and pending_uploads(s3_layout) == []


def test_a_day_on_the_store_whose_normalization_fails_keeps_every_table_old(s3_layout, monkeypatch):
    on_disk.test_a_day_whose_normalization_fails_keeps_every_table_old(s3_layout, monkeypatch)  # the disk's test
    assert pending_uploads(s3_layout) == []


def test_a_day_on_the_store_that_fails_its_audit_is_held_in_staging_and_the_lake_keeps_its_version(s3_layout, monkeypatch):
    write_day(s3_layout, D1, 4, bad=1)
    old = day_as_read(s3_layout, D1)
    lake_objects = [key for key in all_objects(s3_layout) if "/lake/" in key]
    with monkeypatch.context() as patch:
        damaged(patch, lambda staged: rewrite_file(staged["stickers"], lambda t: replaced(t, "format", "png")))
        report = write_day(s3_layout, D1, 2, bad=3)
    assert not report.committed and list(report.audit.failed) == ["known_formats"]
    assert day_as_read(s3_layout, D1) == old
    assert [key for key in all_objects(s3_layout) if "/lake/" in key] == lake_objects
    assert pending_uploads(s3_layout) == []  # the day's uploads to the lake were dropped, not left to linger
    [held] = snapshot.staged_days(s3_layout)
    assert held.day == D1 and held.rows == {"stickers": 2, "quarantine": 3, "video_fetches": 2, "events": 0}
    assert pq.read_table(held.files["stickers"].path, filesystem=s3_layout.root.fs)["format"][0].as_py() == "png"

    assert write_day(s3_layout, D1, 2, bad=3).committed  # redone without the defect: committed, nothing held
    assert day_as_read(s3_layout, D1) == {"stickers": 2, "quarantine": 3, "video_fetches": 2}
    assert snapshot.staged_days(s3_layout) == [] and pending_uploads(s3_layout) == []


def test_a_day_discovered_on_the_store_publishes_its_videos_with_its_audited_tables(s3_layout):
    with account(regions=("cn-shanghai",), catalog_size=40) as local:
        videos, _ = discover(s3_layout, local, DAY)
        assert lake.partition_days(s3_layout, "videos") == [] and lake.partition_days(s3_layout, "videos", staging=True) == [DAY]
        with clients(local) as by_region:
            snapshot.fetch_day(s3_layout, DAY, by_region, concurrency=8, today=DAY)
    assert snapshot.normalize_day(s3_layout, DAY).committed
    assert sorted(lake.read_partition(s3_layout, "videos", DAY)["video_id"]) == sorted(videos.ids)
    assert snapshot.staged_days(s3_layout) == [] and pending_uploads(s3_layout) == []
    assert not [key for key in all_objects(s3_layout) if "/staging/" in key or key.endswith(".replace.json")]


def test_a_file_read_and_uploaded_in_many_parts_on_the_store_is_the_same_bytes(s3_layout, tmp_path, monkeypatch):
    """A growing file's parts sent at most two at once while the file grows faster than the store takes
    them, and ranges read ahead: the bytes on the store and read back are the file's, in order."""
    source = tmp_path / "grown.bin"
    data = os.urandom(23 << 20)  # not a whole number of parts
    target = objects.remote(s3_layout.root / "parts" / "grown.bin")
    call_s3 = target.fs.call_s3

    def slow(method, *args, **kwargs):  # a store slower than the writer
        if method == "upload_part":
            time.sleep(0.3)
        return call_s3(method, *args, **kwargs)

    monkeypatch.setattr(target.fs, "call_s3", slow)
    upload = objects.GrowingUpload(source, target, part_size=5 << 20, at_once=2)
    source.write_bytes(data)
    upload.grown()  # four whole parts at once
    assert sum(not part.done() for part in upload._parts) <= 2  # the others wait, not queued in memory
    assert objects.complete(target, upload.finish())
    with objects._AheadReader(target, block=3 << 20, ahead=3) as reader:
        read = bytearray(len(data) + 1)
        assert reader.readinto(read) == len(data)
    assert bytes(read[: len(data)]) == data


@pytest.mark.parametrize("extra", [-1, 1 << 20])
def test_a_store_sending_other_than_the_range_asked_fails_the_read_and_never_grows_past_it(s3_layout, monkeypatch, extra):
    """A store (or whatever answers in its name) that sends fewer bytes than a range, or streams on past it:
    the read fails naming the file, and never holds more than the range."""
    target = s3_layout.root / "answers.jsonl"
    objects.upload(_file_of(s3_layout, 1 << 20), objects.remote(target))
    store = objects.remote(target).fs
    call_s3 = store._call_s3
    held = []

    class Body:  # the store's answer, one megabyte at a time, ``extra`` bytes more (or fewer) than asked
        def __init__(self, size):
            self.left = size

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return False

        async def read(self, amount):
            piece = b"x" * max(0, min(amount, self.left))
            self.left -= len(piece)
            return piece

    async def hostile(method, *args, **kwargs):
        answer = await call_s3(method, *args, **kwargs)
        if method == "get_object":
            first, last = (int(n) for n in kwargs["Range"].removeprefix("bytes=").split("-"))
            answer["Body"] = Body(last - first + 1 + extra)
        return answer

    monkeypatch.setattr(store, "_call_s3", hostile)
    with pytest.raises(OSError, match="answers.jsonl: the store sent") as raised:
        with objects.open_read(target) as reader:
            held.append(reader.read())
    assert not held
    assert "more than" in str(raised.value) if extra > 0 else "of the" in str(raised.value)


def _file_of(layout, size):
    path = layout.events_inbox.parent / "some.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"y" * size)
    return path
