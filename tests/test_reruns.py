"""Re-runs, concurrent runs and backfills through Dagster: the same outputs every time, no duplicate rows,
every partition and the warehouse consistent."""

import datetime as dt
import hashlib
import json
import os
import subprocess
import threading

import dagster as dg
import duckdb
import pytest

from pipeline import refresh, snapshot
from pipeline.store import lake
from tests.conftest import TODAY, daily_snapshot_command, expected_stickers, make_client, write_videos
from tests.test_dagster import DAY, run_day

ANSWER_TABLES = ("stickers", "quarantine", "video_fetches")


def lake_digest(layout, day):
    """Each lake table's partition of the day, byte for byte."""
    return {t: hashlib.sha256(lake.partition_path(layout, t, day).read_bytes()).hexdigest() for t in ANSWER_TABLES}


def warehouse_rows(layout, *tables):
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


def test_rerunning_each_step_any_number_of_times_gives_the_same_outputs(env, vod_service, instance):
    service = vod_service(catalog_size=60, calls_per_second=None, server_error_rate=0.1, fault_seed=3)
    layout = env(service)
    write_videos(service, layout.videos_csv, unknown=3)
    day = dt.date.fromisoformat(DAY)
    assert run_day(instance).success
    first_lake = lake_digest(layout, day)
    first = warehouse_rows(layout, "stickers", "video_sticker_stats", "format_stats", "daily_sticker_stats")

    for _ in range(3):  # normalization and publishing again, from the kept raw answers
        assert run_day(instance, assets=["stickers", "warehouse"]).success
        assert lake_digest(layout, day) == first_lake
        assert warehouse_rows(layout, "stickers", "video_sticker_stats", "format_stats", "daily_sticker_stats") == first
    assert run_day(instance, assets=["warehouse"]).success
    assert warehouse_rows(layout, "stickers")["stickers"] == first["stickers"]

    assert run_day(instance).success  # the whole day again, calling VOD again
    again = warehouse_rows(layout, "video_sticker_stats", "format_stats", "daily_sticker_stats")
    assert again == {k: v for k, v in first.items() if k != "stickers"}
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert (
            con.execute("SELECT count(*), count(DISTINCT dynamic_image_id) FROM stickers").fetchone() == (expected_stickers(service),) * 2
        )
        assert con.execute("SELECT count(*) FROM fetch_log").fetchone()[0] == 1


def fetched_on_its_day(service, layout, day: dt.date) -> None:
    """A past day as the daily schedule took it then, asking every video: its video set and answers kept
    under raw/."""
    snapshot.take_video_set(layout, day, today=day)
    with make_client(service, calls_per_second=100) as client:
        snapshot.fetch_day(layout, day, client, policy=refresh.RefreshPolicy(every_days=1), today=day)


def test_runs_at_once_then_a_backfill_redo_kept_days_and_refuse_a_day_never_fetched(env, vod_service, instance, dagster_home):
    service = vod_service(catalog_size=200, calls_per_second=100)
    layout = env(service, VOD_REFRESH_DAYS="1")  # today asks every video, carrying none from the kept days
    write_videos(service, layout.videos_csv, unknown=4)
    kept = ["2026-11-16", "2026-11-17"]
    for day in kept:
        fetched_on_its_day(service, layout, dt.date.fromisoformat(day))
    # (dagster_home has its storage created: two first runs racing to create the SQLite tables of a
    # brand-new instance is Dagster's own limit, not the pipeline's.)

    # Today and a kept day at once, in two processes sharing one Dagster instance and data dir.
    runs = [
        subprocess.Popen(
            daily_snapshot_command(day),
            env={**os.environ, "DAGSTER_HOME": str(dagster_home), "PYTHONWARNINGS": "ignore"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for day in (TODAY.isoformat(), kept[0])
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]

    # The video set has changed since; a backfill over the past days redoes the kept ones from their
    # answers, as taken then, without calling VOD, and refuses the day that was never fetched.
    write_videos(service, layout.videos_csv, unknown=50)
    calls = service.stats["requests"]
    for day in kept:
        assert run_day(instance, day=day).success
    never = run_day(instance, day="2026-11-18", raise_on_error=False)
    assert service.stats["requests"] == calls
    assert not never.success
    failure = next(e for e in never.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "videos"
    message = failure.event_specific_data.user_failure_data.description
    assert message.startswith("2026-11-18 is over and its fetch never finished")
    assert message.endswith(f"redone without calling VOD: 2026-11-16, 2026-11-17, {TODAY}")
    assert not layout.raw_dir(dt.date(2026, 11, 18)).exists()  # nothing filed under the refused day

    expected = expected_stickers(service)
    days = [*kept, TODAY.isoformat()]
    assert [d.isoformat() for d in lake.partition_days(layout, "stickers")] == days
    for day in days:
        summary = json.loads(layout.fetch_summary(dt.date.fromisoformat(day)).read_text())
        assert (summary["asked"], summary["answered"], summary["not_found"], summary["failed"]) == (204, 200, 4, 0)
        assert len(lake.read_partition(layout, "stickers", dt.date.fromisoformat(day))) == expected
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        per_day = con.execute("SELECT snapshot_date::VARCHAR, count(*) FROM stickers GROUP BY 1 ORDER BY 1").fetchall()
        assert per_day == [(day, expected) for day in days]
        log = con.execute(
            "SELECT snapshot_date::VARCHAR, videos_asked, videos_answered + videos_not_found + videos_failed, "
            "stickers_typed FROM fetch_log ORDER BY 1"
        ).fetchall()
        assert log == [(day, 204, 204, expected) for day in days]


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("VOD_CONCURRENCY", "0", "VOD_CONCURRENCY"),
        ("VOD_REGION", "mars-1", "Unknown VOD region 'mars-1'"),
        ("VOD_ENDPOINT", "http://vod.example.com", "plain http"),
    ],
)
def test_more_bad_settings_stop_before_the_first_call(env, vod_service, instance, variable, value, words):
    service = vod_service(catalog_size=5, calls_per_second=None)
    settings = {variable: value} if variable != "VOD_REGION" else {variable: value, "VOD_ENDPOINT": None}
    layout = env(service, **settings)
    write_videos(service, layout.videos_csv)
    result = run_day(instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert words in failure.event_specific_data.user_failure_data.description.splitlines()[0]
    assert service.stats["requests"] == 0


def test_a_data_directory_that_cannot_be_written_stops_before_the_first_call(env, vod_service, instance, tmp_path):
    service = vod_service(catalog_size=5, calls_per_second=None)
    env(service, PIPELINE_DATA_DIR=str(tmp_path / "a-file" / "data"))
    (tmp_path / "a-file").write_text("not a directory")
    result = run_day(instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    first_line = failure.event_specific_data.user_failure_data.description.splitlines()[0]
    assert "cannot be written" in first_line and "PIPELINE_DATA_DIR" in first_line
    assert service.stats["requests"] == 0


@pytest.mark.parametrize(("pool", "step"), [("vod_api", "sticker_responses"), ("warehouse", "warehouse")])
def test_a_step_waits_while_another_run_holds_its_pool(env, vod_service, dagster_home, pool, step):
    """One fetch at a time (the account's calls per second are shared by every run) and one publish at a
    time: while another run holds the pool, a day's step waits, and goes on once the pool is free."""
    service = vod_service(catalog_size=20, calls_per_second=None)
    layout = env(service)
    write_videos(service, layout.videos_csv)
    other_run = "0" * 32
    with dg.DagsterInstance.from_config(str(dagster_home)) as observer, dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        slots = observer.event_log_storage
        slots.initialize_concurrency_limit_to_default(pool)
        assert slots.claim_concurrency_slot(pool, other_run, step).is_claimed  # another day's run is at this step
        results = []
        runner = threading.Thread(target=lambda: results.append(run_day(instance, raise_on_error=False)))
        runner.start()
        try:
            blocked = wait_for_event(observer, runner, step, f"Step blocked by limit for pool {pool}")
            assert blocked, f"{step} did not wait for the {pool} pool"
            if step == "sticker_responses":
                assert service.stats["requests"] == 0
            assert not layout.warehouse.exists()
        finally:
            slots.free_concurrency_slots_for_run(other_run)
            runner.join(timeout=120)
    assert results and results[0].success
    assert service.stats["requests"] == 20 and layout.warehouse.exists()


def wait_for_event(instance, runner, step, message):
    """Whether the (only) run logs ``message`` for ``step`` before it ends."""
    while runner.is_alive():
        for run in instance.get_runs():
            if any(e.step_key == step and e.message == message for e in instance.all_logs(run.run_id)):
                return True
        runner.join(timeout=0.05)
    return False
