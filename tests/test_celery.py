"""The daily job on Dagster's Celery executor, as a deployment over several machines runs it: two workers,
Redis as the broker and the Dagster instance in PostgreSQL, all real processes on loopback
(tests/local_celery.py), against the local VOD service, with the data directory on the local S3 server. The
day comes out as the same day run in process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pytest
import yaml

from localvod import LocalVodService, ServiceConfig
from pipeline import settings
from pipeline.errors import ConfigurationError
from pipeline.store import lake
from pipeline.store.files import atomic_write
from pipeline.store.layout import Layout
from tests import local_celery
from tests.conftest import KEY_ID, KEY_SECRET, REPO, TODAY, expected_stickers, write_videos
from tests.test_crash import PER_RUN, warehouse_tables

DAY = TODAY
CHECKS = {
    f"stickers_{name}" for name in ("stickers_schema", "unique_sticker_ids", "known_formats", "positive_measures", "fetch_reconciles")
}
STEPS = {"videos", "sticker_responses", "stickers", "warehouse", "report"} | CHECKS
LAKE_TABLES = ("stickers", "quarantine", "video_fetches")


@pytest.fixture(scope="module")
def vod() -> Iterator[LocalVodService]:
    service = LocalVodService(
        ServiceConfig(access_key_id=KEY_ID, access_key_secret=KEY_SECRET, catalog_size=150, calls_per_second=None)
    ).start()
    yield service
    service.stop()


def vod_env(service: LocalVodService) -> dict[str, str]:
    return {"ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET, "VOD_ENDPOINT": service.endpoint}


@pytest.fixture(scope="module")
def data_dir(local_s3, tmp_path_factory) -> dict[str, str]:
    """The data directory the run and both workers share, as the environment gives it to them: the steps
    hand their data over through it. A prefix of a bucket on the local S3 server, as a deployment over
    several machines keeps it (``{"PIPELINE_DATA_DIR": str(tmp_path_factory.mktemp("data"))}`` runs the same
    test on a local folder all the processes share). VOD's events stay in a local file."""
    bucket = local_s3.create_bucket(f"celery{os.urandom(4).hex()}")
    events = tmp_path_factory.mktemp("events") / "inbox.sqlite"
    return {"PIPELINE_DATA_DIR": f"s3://{bucket}/data", **local_s3.env(), "VOD_EVENTS_INBOX": str(events)}


def layout_of(env: dict[str, str]) -> Layout:
    return settings.lake_from_env(env).layout()


def write_video_set(service: LocalVodService, layout: Layout) -> None:
    """The day's videos.csv in the data directory, wherever that is."""
    with atomic_write(layout.videos_csv) as path:
        write_videos(service, path, unknown=5)


@pytest.fixture(scope="module")
def celery(tmp_path_factory, vod, data_dir) -> Iterator[local_celery.Deployment]:
    write_video_set(vod, layout_of(data_dir))
    env = {**os.environ, **vod_env(vod), **data_dir}
    with local_celery.deployment(tmp_path_factory.mktemp("celery"), env, workers=2) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def shared_instance(celery) -> Iterator[dg.DagsterInstance]:
    """The deployment's instance, as the UI would open it: its database is in PostgreSQL."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in celery.env.items():
            if name.startswith("DAGSTER_PG_"):
                patch.setenv(name, value)
        with dg.DagsterInstance.from_config(str(celery.home)) as instance:
            yield instance


@pytest.fixture(scope="module")
def in_process(tmp_path_factory, vod) -> Layout:
    """The same day run in process, in a data directory of its own: what the Celery run must give."""
    root = tmp_path_factory.mktemp("in_process")
    env = {**vod_env(vod), "PIPELINE_DATA_DIR": str(root / "data")}
    layout = layout_of(env)
    write_video_set(vod, layout)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.delenv("PIPELINE_EXECUTOR", raising=False)
        from pipeline.definitions import defs

        (root / "home").mkdir()
        with dg.instance_for_test(temp_dir=str(root / "home")) as instance:
            result = defs().resolve_job_def("daily_snapshot").execute_in_process(partition_key=DAY.isoformat(), instance=instance)
    assert result.success
    return layout


def latest_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    return instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": DAY.isoformat()}), limit=1)[0]


@pytest.fixture(scope="module")
def first_run(celery, shared_instance) -> dg.DagsterRun:
    launched = local_celery.launch_day(celery.env, DAY.isoformat())
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    return latest_run(shared_instance)


def lake_rows(layout: Layout, table: str) -> pd.DataFrame:
    """The day's partition of a lake table without what depends on how the fetch went (timings, request ids)."""
    rows = lake.read_partition(layout, table, DAY)
    rows = rows.drop(columns=[c for c in rows.columns if c in PER_RUN])
    return rows.sort_values(list(rows.columns)).reset_index(drop=True)


def assert_same_day(layout: Layout, expected: Layout) -> None:
    for table in LAKE_TABLES:
        pd.testing.assert_frame_equal(lake_rows(layout, table), lake_rows(expected, table), obj=table)
    got, want = warehouse_tables(layout), warehouse_tables(expected)
    assert got.keys() == want.keys() and "fetch_log" in want
    for name, frame in want.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)


def test_a_day_on_two_celery_workers_gives_the_same_lake_and_warehouse_as_in_process(
    celery, shared_instance, first_run, in_process, data_dir, vod
):
    assert first_run.status == dg.DagsterRunStatus.SUCCESS

    # Each step ran on a worker (the UI shows which, under "Celery worker"), and both workers took steps.
    on_worker = {
        r.step_key: metadata["Celery worker"].value
        for r in shared_instance.all_logs(first_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        if "Celery worker" in (metadata := r.dagster_event.event_specific_data.metadata)
    }
    assert set(on_worker) == STEPS
    assert {worker.partition("@")[0] for worker in on_worker.values()} == set(celery.workers)
    records = shared_instance.all_logs(first_run.run_id)
    run_pid = next(r.dagster_event.pid for r in records if r.dagster_event and r.dagster_event.event_type_value == "PIPELINE_START")
    step_pids = {r.step_key: r.dagster_event.pid for r in records if r.dagster_event and r.dagster_event.event_type_value == "STEP_SUCCESS"}
    assert set(step_pids) == STEPS and run_pid not in step_pids.values()
    stored = " ".join(repr(r) for r in records)
    secrets = [KEY_SECRET, celery.env["DAGSTER_PG_PASSWORD"], *(v for k, v in data_dir.items() if "SECRET" in k)]
    assert not [secret for secret in secrets if secret in stored]

    # The steps handed their data over through the data directory: nothing but logs in the instance's folder.
    kept = [p for p in (celery.home / "storage").rglob("*") if p.is_file() and "compute_logs" not in p.parts]
    assert kept == []

    # The pools live in the shared database: the fetch's pool has its limit there, and no slot is left held.
    vod_api = shared_instance.event_log_storage.get_concurrency_info("vod_api")
    assert vod_api.slot_count == 1 and vod_api.claimed_slots == [] and vod_api.pending_steps == []

    layout = layout_of(data_dir)
    assert len(lake.read_partition(layout, "stickers", DAY)) == expected_stickers(vod)
    assert_same_day(layout, in_process)


def test_the_same_day_again_on_celery_replaces_it_whole(celery, shared_instance, first_run, in_process, data_dir, vod):
    again = local_celery.launch_day(celery.env, DAY.isoformat())
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    second = latest_run(shared_instance)
    assert second.run_id != first_run.run_id and second.status == dg.DagsterRunStatus.SUCCESS
    layout = layout_of(data_dir)
    tables = warehouse_tables(layout)
    assert len(tables["fetch_log"]) == 1 and len(tables["stickers"]) == expected_stickers(vod)
    assert_same_day(layout, in_process)


def test_an_unknown_executor_still_loads_the_code_and_fails_the_run_naming_it(monkeypatch, dagster_home, tmp_path):
    monkeypatch.setenv("PIPELINE_EXECUTOR", "threads")
    from pipeline.definitions import defs

    assert defs().resolve_job_def("daily_snapshot")  # the UI still shows the assets, the schedule, the job
    launched = local_celery.launch_day(
        {**os.environ, "DAGSTER_HOME": str(dagster_home), "PIPELINE_DATA_DIR": str(tmp_path / "data")}, DAY.isoformat()
    )
    assert launched.returncode != 0
    assert "PIPELINE_EXECUTOR='threads' is not one of in_process, multiprocess, celery, k8s" in launched.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "data").exists()  # no step ran
    checked = subprocess.run(
        [str(local_celery.BIN / "vod-stickers"), "run", "--day", DAY.isoformat()],
        env={
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "PIPELINE_DATA_DIR": str(tmp_path / "data"),
            "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 2 and "PIPELINE_EXECUTOR='threads' is not one of" in checked.stderr  # before any run


def test_every_instance_file_keeps_the_same_pools():
    """The local instance and the deployments' instances limit the same pools the same way."""
    files = [REPO / "dagster_home" / "dagster.yaml", local_celery.INSTANCE_YAML, REPO / "deploy" / "k8s" / "dagster.yaml"]
    sections = [yaml.safe_load(path.read_text())["concurrency"] for path in files]
    assert all(section == sections[0] for section in sections) and sections[0]["pools"]["default_limit"] == 1


@pytest.mark.parametrize(("executor", "module", "extra"), [("celery", "dagster_celery", "celery"), ("k8s", "dagster_k8s", "k8s")])
def test_an_executor_whose_extra_is_not_installed_fails_the_run_naming_the_extra(monkeypatch, executor, module, extra):
    """A single machine installs neither extra (make demo); choosing their executor says what to install."""
    from pipeline import definitions

    monkeypatch.setenv("PIPELINE_EXECUTOR", executor)
    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed: importing it fails
    refusing = definitions.executor_from_env()
    assert refusing.name == "misconfigured"
    with pytest.raises(ConfigurationError, match=f"install the {extra} extra .*requirements-{extra}.txt"):
        refusing.executor_creation_fn(None)


def test_an_accounts_file_that_cannot_be_read_fails_every_run_naming_it(monkeypatch, tmp_path):
    """The code still loads (one account's partitions), and no run goes ahead as if there were one account."""
    from pipeline import definitions

    path = tmp_path / "accounts.toml"
    path.write_text("[accounts.retail\n")  # not TOML
    monkeypatch.setenv("VOD_ACCOUNTS_FILE", str(path))
    refusing = definitions.executor_from_env()
    assert refusing.name == "misconfigured"
    with pytest.raises(ConfigurationError, match="accounts.toml"):
        refusing.executor_creation_fn(None)
