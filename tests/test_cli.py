"""The command line a newcomer uses, as real processes: the demo end to end, a day run, the video-set
writer, help and exit codes."""

import argparse
import csv
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import duckdb
import pytest

import localvod.cli
from localvod import Catalog
from pipeline import cli
from pipeline.store.videos import read_video_set
from tests.conftest import KEY_ID, KEY_SECRET, TODAY, write_videos

CLI = [sys.executable, "-m", "pipeline.cli"]
REPO = Path(__file__).resolve().parents[1]


def snapshot_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.server
def test_demo_runs_a_day_in_its_own_folders_and_never_touches_real_data(tmp_path):
    # A user's real deployment in the working directory: a video set, a day of the lake, a Dagster instance.
    real_data, real_home = tmp_path / "data", tmp_path / "dagster_home"
    real_data.mkdir()
    (real_data / "videos.csv").write_text("video_id\nreal-video-1\nreal-video-2\n")
    (real_data / "lake" / "stickers" / "snapshot_date=2026-11-01").mkdir(parents=True)
    (real_data / "lake" / "stickers" / "snapshot_date=2026-11-01" / "part-0.parquet").write_bytes(b"a real day")
    real_home.mkdir()
    (real_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    before = snapshot_of(tmp_path)
    run = subprocess.run(
        [*CLI, "demo", "--videos", "150"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(PIPELINE_DATA_DIR=str(real_data), DAGSTER_HOME=str(real_home)),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert {k: v for k, v in snapshot_of(tmp_path).items() if not k.startswith("demo/")} == before
    data, home = tmp_path / "demo" / "data", tmp_path / "demo" / "dagster_home"
    assert "videos_asked       150" in run.stdout  # the demo account's videos, discovered in its two regions
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        asked, answered = con.execute("SELECT videos_asked, videos_answered FROM fetch_log").fetchall()[0]
        regions = dict(con.execute("SELECT region, count(title) FROM video_sticker_stats GROUP BY region").fetchall())
    assert (asked, answered) == (150, 150)
    assert regions == {"cn-shanghai": 90, "ap-southeast-1": 60}  # every video with its title
    assert any((home / "history").iterdir())  # the run is in the Dagster instance, for `make dev` to show
    assert (home / "dagster.yaml").read_text() == (REPO / "dagster_home" / "dagster.yaml").read_text()
    report = next(line.split()[3] for line in run.stdout.splitlines() if line.startswith("Look at it: "))
    assert (tmp_path / report).resolve() == next((data / "reports").glob("snapshot_date=*/stickers.html")).resolve()


@pytest.mark.parametrize("command", ["demo", "dev"])
@pytest.mark.server
def test_demo_and_dev_refuse_a_folder_holding_real_data(tmp_path, command):
    real_data = tmp_path / "data"
    real_data.mkdir()
    (real_data / "videos.csv").write_text("video_id\nreal-video-1\n")
    before = snapshot_of(tmp_path)
    run = subprocess.run(
        [*CLI, command, "--data-dir", str(real_data), "--dagster-home", str(tmp_path / "home")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert run.returncode == 2, run.stderr
    assert "--data-dir" in run.stderr and "videos.csv" in run.stderr and "never writes over real data" in run.stderr
    assert snapshot_of(tmp_path) == before  # nothing written, not even the demo's own Dagster home


@pytest.mark.server
def test_videos_command_writes_the_catalog_ids(tmp_path):
    out = tmp_path / "videos.csv"
    subprocess.run(
        [*CLI, "videos", "--out", str(out), "--catalog-size", "40", "--count", "10", "--unknown", "2"], check=True, capture_output=True
    )
    with open(out, newline="") as f:
        ids = [row["video_id"] for row in csv.DictReader(f)]
    catalog = set(Catalog(size=40).video_ids())
    assert len(ids) == 12 and sum(i in catalog for i in ids) == 10


@pytest.mark.server
def test_videos_command_writes_each_region_ids_with_their_region(tmp_path):
    out = tmp_path / "videos.csv"
    regions = ("cn-shanghai", "ap-southeast-1")
    subprocess.run(
        [*CLI, "videos", "--out", str(out), "--catalog-size", "20", "--regions", ",".join(regions)], check=True, capture_output=True
    )
    videos = read_video_set(out, regions)
    assert sorted(zip(videos.regions, videos.ids, strict=True)) == sorted(
        (region, video_id) for region in regions for video_id in Catalog(size=20, region=region).video_ids()
    )


SUBCOMMANDS = ("run", "demo", "dev", "serve", "videos", "events", "staged", "recover", "alert-test", "query")
LOCAL_SERVICE_COMMANDS = ("serve", "videos")  # the local VOD service's own command line (localvod.cli)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any pipeline setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "VOD_", "DAGSTER_HOME", "PIPELINE_"))}
    return {**env, **extra}


@pytest.mark.server
def test_every_subcommand_has_help_with_the_exit_codes():
    top = subprocess.run([*CLI, "--help"], capture_output=True, text=True)
    assert top.returncode == 0
    for command in SUBCOMMANDS:
        assert command in top.stdout
    for command in SUBCOMMANDS:
        run = subprocess.run([*CLI, command, "--help"], capture_output=True, text=True)
        assert run.returncode == 0 and run.stdout.startswith(f"usage: vod-stickers {command}")
        if command in LOCAL_SERVICE_COMMANDS:
            assert "2  an option to fix" in run.stdout
        else:
            assert "2  bad configuration" in run.stdout and "3  the Dagster run failed" in run.stdout


def test_every_option_of_every_subcommand_says_what_it_is_for():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) == set(SUBCOMMANDS)
    local = next(a for a in localvod.cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(local) == set(LOCAL_SERVICE_COMMANDS)
    for name, command in [*((n, c) for n, c in commands.items() if n not in LOCAL_SERVICE_COMMANDS), *local.items()]:
        assert command.description, name
        unexplained = [a.option_strings for a in command._actions if not a.help]
        assert unexplained == [], name


@pytest.mark.server
def test_run_with_a_missing_credential_exits_2_naming_the_variable(tmp_path):
    data = tmp_path / "data"
    run = subprocess.run(
        [*CLI, "run", "--day", TODAY.isoformat()],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(ALIBABA_CLOUD_ACCESS_KEY_ID="some-id", PIPELINE_DATA_DIR=str(data), DAGSTER_HOME=str(tmp_path / "home")),
    )
    assert run.returncode == 2
    assert run.stderr.splitlines()[0].startswith("vod-stickers: ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set")
    assert not (tmp_path / "home").exists()  # nothing was run


@pytest.mark.server
def test_run_with_a_bad_day_or_no_video_set_exits_2(tmp_path):
    bad_day = subprocess.run([*CLI, "run", "--day", "2026-13-01"], capture_output=True, text=True)
    assert bad_day.returncode == 2 and "not a day (YYYY-MM-DD)" in bad_day.stderr
    no_set = subprocess.run(
        [*CLI, "run"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(ALIBABA_CLOUD_ACCESS_KEY_ID="id", ALIBABA_CLOUD_ACCESS_KEY_SECRET="secret", PIPELINE_DATA_DIR=str(tmp_path / "data")),
    )
    assert no_set.returncode == 2 and "No video set at" in no_set.stderr


def test_a_run_that_fails_exits_3_and_says_why(tmp_path, vod_service):
    service = vod_service(catalog_size=20, calls_per_second=None)
    data = tmp_path / "data"
    write_videos(service, data / "videos.csv")
    run = subprocess.run(
        [*CLI, "run", "--day", TODAY.isoformat()],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env=clean_env(
            ALIBABA_CLOUD_ACCESS_KEY_ID=KEY_ID,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET="a-wrong-secret-Xy7",
            VOD_ENDPOINT=service.endpoint,
            PIPELINE_DATA_DIR=str(data),
            DAGSTER_HOME=str(tmp_path / "home"),
        ),
    )
    assert run.returncode == 3
    assert "SignatureDoesNotMatch" in run.stderr and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in run.stderr
    assert "a-wrong-secret-Xy7" not in run.stdout + run.stderr
    assert run.stderr.rstrip().splitlines()[-1].startswith(f"vod-stickers: the run of {TODAY} failed")
    assert "\r" not in run.stderr  # no progress bar when the output is not a terminal


def test_run_in_a_terminal_shows_a_progress_bar_of_the_fetch(tmp_path, vod_service):
    service = vod_service(catalog_size=40, calls_per_second=None)
    data = tmp_path / "data"
    write_videos(service, data / "videos.csv")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    run = subprocess.Popen(
        [*CLI, "run", "--day", TODAY.isoformat()],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=clean_env(
            ALIBABA_CLOUD_ACCESS_KEY_ID=KEY_ID,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=KEY_SECRET,
            VOD_ENDPOINT=service.endpoint,
            PIPELINE_DATA_DIR=str(data),
            DAGSTER_HOME=str(tmp_path / "home"),
        ),
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert run.wait(timeout=300) == 0
    text = screen.decode(errors="replace")
    assert f"Fetching {TODAY}: 100%" in text and "40/40" in text
    assert f"Snapshot day {TODAY} done" in text
    assert "INFO" not in text  # in a terminal, Dagster's INFO lines give way to the bar


@pytest.mark.server
def test_run_with_an_unknown_asset_exits_2_naming_it(tmp_path):
    run = subprocess.run(
        [*CLI, "run", "--day", TODAY.isoformat(), "--assets", "stickers,stikers"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(PIPELINE_DATA_DIR=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "home")),
    )
    assert run.returncode == 2
    assert "no asset named 'stikers'" in run.stderr and "videos,sticker_responses,stickers,warehouse,report" in run.stderr
    assert not (tmp_path / "home").exists()  # nothing was run


@pytest.mark.server
def test_run_of_a_past_day_never_fetched_exits_2_naming_the_days_that_can_be_redone(tmp_path):
    data = tmp_path / "data"
    (data / "raw" / "snapshot_date=2026-11-02").mkdir(parents=True)
    (data / "raw" / "snapshot_date=2026-11-02" / "answers.jsonl").write_text("")
    (data / "videos.csv").parent.mkdir(exist_ok=True)
    (data / "videos.csv").write_text("video_id\nsome-video\n")
    run = subprocess.run(
        [*CLI, "run", "--day", "2026-11-03"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(
            ALIBABA_CLOUD_ACCESS_KEY_ID="id",
            ALIBABA_CLOUD_ACCESS_KEY_SECRET="secret",
            PIPELINE_DATA_DIR=str(data),
            DAGSTER_HOME=str(tmp_path / "home"),
        ),
    )
    assert run.returncode == 2
    first = run.stderr.splitlines()[0]
    assert first.startswith("vod-stickers: 2026-11-03 is over and its fetch never finished: VOD answers only about now")
    assert first.endswith("redone without calling VOD: 2026-11-02")
    assert not (tmp_path / "home").exists() and not (data / "raw" / "snapshot_date=2026-11-03").exists()


def test_a_day_is_redone_from_its_kept_answers_without_videos_csv_or_credentials(tmp_path, vod_service):
    from pipeline import snapshot
    from pipeline.store.layout import Layout
    from tests.conftest import make_client

    service = vod_service(catalog_size=20, calls_per_second=None)
    layout = Layout(tmp_path / "data")
    write_videos(service, layout.videos_csv)
    day = cli.dt.date(2026, 11, 20)
    snapshot.take_video_set(layout, day, today=day)
    with make_client(service) as client:
        snapshot.fetch_day(layout, day, client, today=day)
    layout.videos_csv.unlink()  # the set has changed since; the day's answers are what count
    run = subprocess.run(
        [*CLI, "run", "--day", day.isoformat(), "--assets", "stickers,warehouse"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env=clean_env(PIPELINE_DATA_DIR=str(layout.root), DAGSTER_HOME=str(tmp_path / "home")),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT videos_answered FROM fetch_log").fetchall() == [(20,)]
    assert service.stats["requests"] == 20  # the fetch's calls only


@pytest.mark.server
def test_the_product_loads_without_the_local_vod_service():
    """Only the demo, dev, serve and videos commands import the stand-in, when they run."""
    code = "import sys, pipeline.cli, pipeline.definitions; print(sorted(m for m in sys.modules if m.split('.')[0] == 'localvod'))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
