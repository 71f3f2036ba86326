"""A fetch killed with SIGKILL, then started again: only the missing videos are called, and the day's
Parquet and warehouse come out as those of a run that was never interrupted."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd

from pipeline import snapshot
from pipeline.publish import warehouse
from pipeline.store.layout import Layout
from tests.conftest import KEY_ID, KEY_SECRET, TODAY, process_env, write_videos
from tests.test_faults import stable_rows, take_day

DAY = TODAY

FETCH_IN_A_CHILD = """
import datetime as dt, sys
from pathlib import Path
from pipeline import snapshot
from pipeline.vod.client import Credentials, VodClient
from pipeline.store.layout import Layout
root, endpoint, key_id, secret, day = sys.argv[1:]
with VodClient(Credentials(key_id, secret), endpoint=endpoint, calls_per_second=100) as client:
    snapshot.fetch_day(Layout(Path(root)), dt.date.fromisoformat(day), client, concurrency=8)
"""

# Warehouse columns that depend on how the fetch went rather than on what VOD holds.
PER_RUN = {
    "calls",
    "retries",
    "throttled_answers",
    "seconds",
    "started_at",
    "finished_at",
    "request_id",
    "fetched_at",
    "url_expires_at",
    "attempts",
}


def kill_mid_fetch(layout: Layout, command: list[str], env: dict[str, str] | None = None, *, after: int = 200) -> int:
    """Starts the day's fetch in a child process, SIGKILLs it (and any process it started) once ``after``
    answers are on disk; returns how many whole outcomes the partial file holds."""
    partial = layout.answers_in_progress(DAY)
    child = subprocess.Popen(
        command,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (partial.exists() and partial.read_text().count("\n") >= after):
            assert child.poll() is None, "the fetch ended before it could be killed"
            assert time.monotonic() < deadline, "no answers arrived"
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    whole = 0
    for line in partial.read_text().splitlines():
        try:
            whole += json.loads(line)["status"] in ("answered", "not_found")
        except ValueError:
            pass  # the line being written at the kill
    return whole


def warehouse_tables(layout: Layout) -> dict[str, pd.DataFrame]:
    with warehouse.connect(layout.warehouse) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        tables = {}
        for name in names:
            frame = con.sql(f'SELECT * FROM "{name}"').to_arrow_table().to_pandas()
            frame = frame.drop(columns=[c for c in frame.columns if c in PER_RUN])
            tables[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return tables


def test_a_killed_fetch_resumes_with_only_the_missing_calls_and_the_same_outputs(vod_service, tmp_path):
    service = vod_service(catalog_size=600, latency_ms=20)  # the service's own limit: 100 calls/s
    killed, whole = Layout(tmp_path / "killed"), Layout(tmp_path / "whole")
    for layout in (killed, whole):
        write_videos(service, layout.videos_csv, unknown=10)
        snapshot.take_video_set(layout, DAY, today=DAY)

    kept = kill_mid_fetch(
        killed, [sys.executable, "-c", FETCH_IN_A_CHILD, str(killed.root), service.endpoint, KEY_ID, KEY_SECRET, DAY.isoformat()]
    )
    assert 200 <= kept < 610
    assert not killed.answers(DAY).exists()  # the day is not finished

    service.wait_until_idle()  # the killed fetch's last calls are counted before the resumed ones start
    before = service.stats["requests"]
    summary = take_day(service, killed, DAY, calls_per_second=100)
    # No video answered before the kill is asked again (retries of throttled calls aside).
    assert service.stats["requests"] - before == summary.calls
    assert summary.calls - summary.retries == 610 - kept
    assert (summary.asked, summary.resumed, summary.not_found) == (610, kept, 10)

    take_day(service, whole, DAY, calls_per_second=100)
    pd.testing.assert_frame_equal(stable_rows(killed, DAY), stable_rows(whole, DAY))
    killed_tables, whole_tables = warehouse_tables(killed), warehouse_tables(whole)
    assert killed_tables.keys() == whole_tables.keys() and "fetch_log" in killed_tables
    for name, frame in whole_tables.items():
        pd.testing.assert_frame_equal(killed_tables[name], frame, obj=name)


def test_killed_dagster_runs_are_closed_and_each_rerun_of_the_day_resumes(vod_service, tmp_path, dagster_home):
    service = vod_service(catalog_size=600, latency_ms=20)
    layout = Layout(tmp_path / "data")
    write_videos(service, layout.videos_csv, unknown=10)
    env = process_env(service, layout, dagster_home, PYTHONWARNINGS="ignore")
    cli = [sys.executable, "-m", "pipeline.cli"]
    run_day = [*cli, "run", "--day", DAY.isoformat(), "--assets"]

    # Killed once: the run stays "Started" holding the vod_api pool slot, and `recover` closes it.
    first = kill_mid_fetch(layout, [*run_day, "videos,sticker_responses"], env)
    recovered = subprocess.run([*cli, "recover"], env=env, capture_output=True, text=True, timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    assert f"for {DAY}: its process" in recovered.stdout and "1 dead run(s) closed" in recovered.stdout

    # Killed again while resuming; `run` closes that dead run itself before starting the day again.
    second = kill_mid_fetch(layout, [*run_day, "sticker_responses"], env, after=first + 150)
    rerun = subprocess.run([*run_day, "sticker_responses"], env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Closed run" in rerun.stdout

    summary = json.loads(layout.fetch_summary(DAY).read_text())
    assert first < second < 610
    assert summary["resumed"] == second and summary["calls"] - summary["retries"] == 610 - second
    assert summary["answered"] + summary["not_found"] == 610
