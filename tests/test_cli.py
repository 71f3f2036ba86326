"""The command line a newcomer uses: the demo end to end, and the video-set writer."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from pipeline.localvod import Catalog

CLI = [sys.executable, "-m", "pipeline.cli"]
REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_a_day_through_dagster_and_leaves_a_warehouse_to_query(tmp_path):
    data, home = tmp_path / "data", tmp_path / "dagster_home"
    run = subprocess.run(
        [*CLI, "demo", "--videos", "150", "--data-dir", str(data), "--dagster-home", str(home)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "VOD_", "DAGSTER_HOME"))},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "videos_asked       153" in run.stdout  # 150 catalog videos + 3 the service does not know
    assert "videos_not_found   3" in run.stdout
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        asked, answered = con.execute("SELECT videos_asked, videos_answered FROM fetch_log").fetchall()[0]
    assert (asked, answered) == (153, 150)
    assert any((home / "history").iterdir())  # the run is in the Dagster instance, for `make dev` to show


def test_videos_command_writes_the_catalog_ids(tmp_path):
    out = tmp_path / "videos.csv"
    subprocess.run([*CLI, "videos", "--out", str(out), "--catalog-size", "40", "--count", "10", "--unknown", "2"], check=True, capture_output=True)
    with open(out, newline="") as f:
        ids = [row["video_id"] for row in csv.DictReader(f)]
    catalog = set(Catalog(size=40).video_ids())
    assert len(ids) == 12 and sum(i in catalog for i in ids) == 10


def test_every_subcommand_has_help():
    for command in ("serve", "videos", "demo", "dev"):
        run = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True)
        assert run.returncode == 0 and "usage: vod-stickers" in run.stdout
