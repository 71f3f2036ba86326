"""Several accounts in one deployment (VOD_ACCOUNTS_FILE), run for real: one local VOD service serving
each account's catalog to its own AccessKey, Dagster partitions of day x account in a temporary
instance, the Parquet lake and the DuckDB warehouse on disk."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from localvod import LocalVodService, ServiceConfig, catalog_ids, write_videos_csv
from pipeline import settings
from pipeline.errors import ConfigurationError
from pipeline.store.layout import Layout
from pipeline.vod.client import Credentials, VodClient
from pipeline.vod.errors import VideoNotFound
from tests.conftest import KEY_ID, KEY_SECRET, REPO, TODAY
from tests.test_alerts import Ticks, alert_env, due_day, receiver  # noqa: F401 - fixtures
from tests.test_secrets import dagster_places

B_KEY, B_SECRET = "account-b-key-id", "account-b-secret-Wm7"
WRONG_SECRET = "not-the-secret-of-b-0000"

ACCOUNTS_TOML = """\
[accounts.retail]
access_key_id_env = "RETAIL_ACCESS_KEY_ID"
access_key_secret_env = "RETAIL_ACCESS_KEY_SECRET"
regions = ["cn-shanghai"]
endpoints = {{ cn-shanghai = "{endpoint}" }}

[accounts.games]
access_key_id_env = "GAMES_ACCESS_KEY_ID"
access_key_secret_env = "GAMES_ACCESS_KEY_SECRET"
regions = ["cn-shanghai"]
endpoints = {{ cn-shanghai = "{endpoint}" }}
calls_per_second = 50

[accounts.broken]
access_key_id_env = "BROKEN_ACCESS_KEY_ID"
access_key_secret_env = "BROKEN_ACCESS_KEY_SECRET"
regions = ["cn-shanghai"]
endpoints = {{ cn-shanghai = "{endpoint}" }}
"""

SECRETS = {
    "RETAIL_ACCESS_KEY_ID": KEY_ID,
    "RETAIL_ACCESS_KEY_SECRET": KEY_SECRET,
    "GAMES_ACCESS_KEY_ID": B_KEY,
    "GAMES_ACCESS_KEY_SECRET": B_SECRET,
    "BROKEN_ACCESS_KEY_ID": B_KEY,
    "BROKEN_ACCESS_KEY_SECRET": WRONG_SECRET,
}


@pytest.fixture
def service():
    config = ServiceConfig(
        access_key_id=KEY_ID,
        access_key_secret=KEY_SECRET,
        catalog_size=60,
        calls_per_second=None,
        accounts={"b": {"access_key_id": B_KEY, "access_key_secret": B_SECRET, "catalog_size": 40}},
    )
    with LocalVodService(config) as svc:
        yield svc


@pytest.fixture
def deployment(service, tmp_path, monkeypatch) -> Iterator[Layout]:
    """The environment of a deployment of three accounts, each with its video set; the Dagster definitions
    loaded afresh, as a code location reads VOD_ACCOUNTS_FILE when it loads."""
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(ACCOUNTS_TOML.format(endpoint=service.endpoint))
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "VOD_ENDPOINT", "VOD_REGION", "VOD_REGIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**SECRETS, "VOD_ACCOUNTS_FILE": str(accounts), "PIPELINE_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    layout = Layout(tmp_path / "data")
    catalogs = {"retail": service.catalog, "games": service.accounts["b"].catalog, "broken": service.accounts["b"].catalog}
    for name, catalog in catalogs.items():
        write_videos_csv(layout.of_account(name).videos_csv, seed=catalog.seed, size=catalog.size)
    with definitions_loaded_afresh():
        yield layout


@contextlib.contextmanager
def definitions_loaded_afresh():
    """The Dagster definitions imported anew inside the block, and the ones from before put back after it."""

    def ours(name: str) -> bool:
        return name == "pipeline.definitions" or name.startswith("pipeline.defs")

    before = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in before:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(before)


def stickers_of(catalog) -> int:
    return sum(len(catalog.stickers(v, 0)) for v in catalog.video_ids())


def run(instance, account: str, assets: list[str] | None = None) -> dg.ExecuteInProcessResult:
    from pipeline.definitions import defs
    from pipeline.defs.partitions import partition_key

    job = defs().resolve_job_def("daily_snapshot")
    return job.execute_in_process(
        partition_key=partition_key(TODAY, account),
        instance=instance,
        asset_selection=[dg.AssetKey(name) for name in assets] if assets else None,
        raise_on_error=False,
    )


def test_each_account_is_fetched_into_its_own_files_and_one_with_bad_credentials_fails_alone(deployment, service, instance):
    retail, games, broken = (run(instance, name) for name in ("retail", "games", "broken"))
    assert retail.success and games.success
    assert not broken.success
    failure = next(e for e in broken.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "sticker_responses"
    said = failure.step_failure_data.user_failure_data.description
    assert said.startswith("Account broken: VOD (cn-shanghai) refused the call with SignatureDoesNotMatch")
    assert "check BROKEN_ACCESS_KEY_ID and BROKEN_ACCESS_KEY_SECRET" in said and "ALIBABA_CLOUD" not in said

    partition = deployment.lake_partition("stickers", TODAY)
    assert sorted(p.name for p in partition.iterdir()) == ["part-games.parquet", "part-retail.parquet"]
    assert not deployment.of_account("broken").answers(TODAY).exists()

    # The reader line of docs/data.md sees every account's rows, each saying its account
    rows = pd.read_parquet(deployment.lake_table("stickers"))
    assert rows.groupby("account", observed=True).size().to_dict() == {
        "games": stickers_of(service.accounts["b"].catalog),
        "retail": stickers_of(service.catalog),
    }
    with duckdb.connect(str(deployment.warehouse), read_only=True) as con:
        log = con.execute(
            "SELECT account, videos_asked, videos_answered, stickers_typed FROM fetch_log WHERE snapshot_date = ? ORDER BY account", [TODAY]
        ).fetchall()
        per_video = dict(con.execute("SELECT account, count(*) FROM video_sticker_stats GROUP BY account").fetchall())
        typed = dict(con.execute("SELECT account, count(*) FROM stickers GROUP BY account").fetchall())
    assert log == [
        ("games", 40, 40, stickers_of(service.accounts["b"].catalog)),
        ("retail", 60, 60, stickers_of(service.catalog)),
    ]
    assert per_video == {"games": 40, "retail": 60}
    assert typed == {"games": stickers_of(service.accounts["b"].catalog), "retail": stickers_of(service.catalog)}
    # Each account was asked with its own keys, each of its videos once: no account's calls went to another
    assert service.stats["answered"] == 60 and service.accounts["b"].stats["answered"] == 40


def test_an_accounts_day_is_redone_alone_and_the_others_files_stay(deployment, instance):
    assert run(instance, "retail").success and run(instance, "games").success
    partition = deployment.lake_partition("stickers", TODAY)
    before = {p.name: p.stat().st_mtime_ns for p in partition.iterdir()}
    redone = run(instance, "games", ["stickers", "warehouse"])
    assert redone.success
    after = {p.name: p.stat().st_mtime_ns for p in partition.iterdir()}
    assert after["part-retail.parquet"] == before["part-retail.parquet"]
    assert after["part-games.parquet"] != before["part-games.parquet"]
    materialized = instance.fetch_materializations(dg.AssetKey("stickers"), limit=10).records
    assert sorted(r.partition_key for r in materialized) == sorted([f"games|{TODAY}", f"games|{TODAY}", f"retail|{TODAY}"])


def test_the_schedule_runs_each_accounts_day_and_the_ui_shows_day_by_account(deployment):
    from pipeline.definitions import defs

    loaded = defs()
    job = loaded.resolve_job_def("daily_snapshot")
    assert isinstance(job.partitions_def, dg.MultiPartitionsDefinition)
    assert {d.name for d in job.partitions_def.partitions_defs} == {"day", "account"}
    # A backfill runs each account's day as a run of its own, tagged with its account (no range policy)
    assert loaded.resolve_assets_def("sticker_responses").backfill_policy is None
    schedule = loaded.resolve_schedule_def("daily_snapshot_schedule")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=dt.datetime.combine(TODAY, dt.time(2), dt.UTC))
        requests = schedule.evaluate_tick(context).run_requests
    assert sorted((r.tags["dagster/partition/account"], r.tags["dagster/partition/day"]) for r in requests) == [
        ("broken", TODAY.isoformat()),
        ("games", TODAY.isoformat()),
        ("retail", TODAY.isoformat()),
    ]


def test_the_run_queue_gives_each_account_a_lane_of_its_own(dagster_home):
    """Each account's lane: every instance configuration limits queued runs per value of the account's
    partition tag, and Dagster takes the repository's (the dagster_home fixture loads it)."""
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        assert instance.get_concurrency_config().run_queue_config.tag_concurrency_limits == [
            {"key": "dagster/partition/account", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
    finally:
        instance.dispose()
    for path in ("deploy/celery/dagster.yaml", "deploy/k8s/dagster.yaml"):
        runs = yaml.safe_load((REPO / path).read_text())["concurrency"]["runs"]
        assert runs["tag_concurrency_limits"] == [
            {"key": "dagster/partition/account", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ], path


def test_the_cli_runs_an_accounts_day_refuses_one_without_an_account_and_keeps_every_secret(deployment, service, dagster_home, tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    cli = [sys.executable, "-m", "pipeline.cli", "run"]
    refused = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "VOD_ACCOUNTS_FILE lists the accounts retail, games, broken: name the account" in refused.stderr
    unknown = subprocess.run([*cli, "--account", "sales"], env=env, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "VOD_ACCOUNTS_FILE has no account 'sales'" in unknown.stderr
    done = subprocess.run([*cli, "--account", "games"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Snapshot day {TODAY} of account games done" in done.stdout
    assert [p.name for p in deployment.lake_partition("stickers", TODAY).iterdir()] == ["part-games.parquet"]
    # Redoing the day from its kept answers calls no VOD, so it needs none of the account's keys
    keyless = {k: v for k, v in env.items() if not k.startswith("GAMES_")}
    redone = subprocess.run(
        [*cli, "--account", "games", "--assets", "stickers,warehouse,report"], env=keyless, capture_output=True, text=True, timeout=600
    )
    assert redone.returncode == 0, redone.stderr[-2000:]
    failed = subprocess.run([*cli, "--account", "broken"], env=env, capture_output=True, text=True, timeout=600)
    assert failed.returncode == 3
    assert "Account broken: VOD (cn-shanghai) refused the call with SignatureDoesNotMatch" in failed.stdout + failed.stderr

    # No account's secret reached the runs' output, the instance, the lake or the warehouse
    places = {"run output": done.stdout + done.stderr + failed.stdout + failed.stderr, **dagster_places(dagster_home)}
    for path in (deployment.root / "lake").rglob("*.parquet"):
        places[str(path)] = json.dumps(pq.read_table(path).to_pylist(), default=str)
    with duckdb.connect(str(deployment.warehouse), read_only=True) as con:
        for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            places[f"warehouse {name}"] = json.dumps(con.execute(f'SELECT * FROM "{name}"').fetchall(), default=str)
    assert len([p for p in places if p.startswith("metadata")]) >= 4
    assert [(place, secret[:8]) for place, text in places.items() for secret in (B_SECRET, WRONG_SECRET) if secret in text] == []


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ('[accounts.Retail]\naccess_key_id_env = "A"\naccess_key_secret_env = "B"\n', "an account's name is its partition key"),
        ('[accounts.retail]\naccess_key_id_env = "A"\n', "access_key_secret_env missing"),
        ('[accounts.retail]\naccess_key_id_env = "A"\naccess_key_secret_env = "B"\nregion = "cn-shanghai"\n', "unknown key 'region'"),
        ('[accounts.retail]\naccess_key_id_env = "A"\naccess_key_secret_env = "B"\nregions = ["mars-1"]\n', "Unknown VOD region 'mars-1'"),
        (
            '[accounts.retail]\naccess_key_id_env = "A"\naccess_key_secret_env = "B"\ncalls_per_second = "fast"\n',
            "calls_per_second = 'fast' is not a number",
        ),
        ("[retail]\n", "unknown table 'retail'"),
        ("accounts = 3\n", "lists no account"),
        ("[accounts.retail\n", "is not valid TOML"),
        ('[accounts.default]\naccess_key_id_env = "A"\naccess_key_secret_env = "B"\n', "not 'default'"),
        (
            '[accounts.retail]\naccess_key_id_env = "A"\naccess_key_secret_env = "B"\ncalls_per_second = 0\n',
            "calls_per_second = 0 is not a positive",
        ),
        ('[accounts.retail]\naccess_key_id_env = "A"\naccess_key_secret_env = "B"\nconcurrency = 0\n', "concurrency = 0 is not"),
    ],
)
def test_a_wrong_accounts_file_stops_the_run_naming_the_account_and_the_key(tmp_path, toml, error):
    path = tmp_path / "accounts.toml"
    path.write_text(toml)
    environ = {"VOD_ACCOUNTS_FILE": str(path), "A": "key-id", "B": "secret"}
    with pytest.raises(ConfigurationError, match=error):
        settings.vod_from_env(environ, account="retail")


def test_an_account_without_its_keys_in_the_environment_is_refused_naming_the_variables(tmp_path):
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS_TOML.format(endpoint="http://127.0.0.1:9"))
    environ = {"VOD_ACCOUNTS_FILE": str(path), "RETAIL_ACCESS_KEY_ID": "id"}
    with pytest.raises(ConfigurationError, match="Account retail: RETAIL_ACCESS_KEY_SECRET is not set"):
        settings.vod_from_env(environ, account="retail")
    games = settings.vod_from_env({**environ, "GAMES_ACCESS_KEY_ID": "g", "GAMES_ACCESS_KEY_SECRET": "s"}, account="games")
    assert games.calls_per_second == 50 and games.regions == ["cn-shanghai"]


def test_each_accounts_videos_are_discovered_with_its_own_keys(deployment, service, instance, monkeypatch):
    monkeypatch.setenv("VIDEO_SOURCE", "vod")
    assert run(instance, "retail").success and run(instance, "games").success
    assert not run(instance, "broken").success  # its walk of the account is refused: nothing of it is written
    assert sorted(p.name for p in deployment.lake_partition("videos", TODAY).iterdir()) == ["part-games.parquet", "part-retail.parquet"]
    with duckdb.connect(str(deployment.warehouse), read_only=True) as con:
        found = con.execute(
            "SELECT account, list(video_id ORDER BY video_id) FROM latest_videos GROUP BY account ORDER BY account"
        ).fetchall()
    assert found == [
        ("games", sorted(service.accounts["b"].catalog.video_ids())),
        ("retail", sorted(service.catalog.video_ids())),
    ]


def test_alerts_name_the_account_whose_run_failed_or_whose_day_is_late(deployment, instance, receiver, alert_env):
    robot = receiver("dingtalk")
    alert_env(robot, SNAPSHOT_DEADLINE_HOUR="1")
    failures = Ticks(instance, "alert_on_failure")
    failures.tick()  # the sensor starts: from now on
    assert not run(instance, "broken", ["videos", "sticker_responses"]).success
    failures.tick()
    assert len(robot.posts) == 1
    assert f"Snapshot day {TODAY} of account broken failed" in robot.accepted[0]
    assert "Account broken: VOD (cn-shanghai) refused the call with SignatureDoesNotMatch" in robot.accepted[0]

    day = due_day(1)
    for account in ("retail", "games"):
        for asset in ("stickers", "warehouse"):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=f"{account}|{day}"))
    Ticks(instance, "alert_on_late_day").tick()
    assert len(robot.posts) == 2
    assert f"Snapshot day {day} of account broken is late" in robot.accepted[1]
    assert "retail" not in robot.accepted[1] and "games" not in robot.accepted[1]


@pytest.mark.server
def test_the_local_service_serves_another_account_from_the_command_line():
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "serve",
            "--port",
            "0",
            "--catalog-size",
            "5",
            "--access-key-id",
            KEY_ID,
            "--access-key-secret",
            KEY_SECRET,
            "--account",
            f"games={B_KEY}:{B_SECRET}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = [serve.stdout.readline(), serve.stdout.readline()]
        endpoint = banner[0].split(" at ", 1)[1].split(" ", 1)[0]
        assert f"and account games: AccessKeyId {B_KEY}, 5 videos (seed 8)" in banner[1]
        games = catalog_ids(8, 5)
        with VodClient(Credentials(B_KEY, B_SECRET), endpoint=endpoint, max_attempts=1) as client:
            assert client.list_dynamic_image(games[0]).http_status == 200  # answered: the video is that account's
        with VodClient(Credentials(KEY_ID, KEY_SECRET), endpoint=endpoint, max_attempts=1) as client:
            with pytest.raises(VideoNotFound):
                client.list_dynamic_image(games[0])
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def test_a_key_given_where_its_variables_name_belongs_is_refused_and_never_repeated(tmp_path):
    path = tmp_path / "accounts.toml"
    secret = "wJalrXUt/nFEMI+K7MDENG"
    path.write_text(f'[accounts.retail]\naccess_key_id_env = "A"\naccess_key_secret_env = "{secret}"\n')
    with pytest.raises(ConfigurationError, match="access_key_secret_env is not the name of an environment variable") as refused:
        settings.vod_from_env({"VOD_ACCOUNTS_FILE": str(path), "A": "key-id"}, account="retail")
    assert secret not in str(refused.value)


def test_each_account_receives_its_own_events(tmp_path):
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[accounts.retail]\naccess_key_id_env = "R_ID"\naccess_key_secret_env = "R_SECRET"\nevents_port = 9091\n'
        'callback_url = "https://hooks.example.com/retail"\ncallback_keys_env = "R_CALLBACK"\n'
        'mns_endpoint = "http://127.0.0.1:9"\nmns_queue = "retail-events"\n\n'
        '[accounts.games]\naccess_key_id_env = "G_ID"\naccess_key_secret_env = "G_SECRET"\n'
    )
    environ = {
        "VOD_ACCOUNTS_FILE": str(path),
        "R_ID": "rk",
        "R_SECRET": "rs",
        "R_CALLBACK": "retail-auth-key",
        "G_ID": "gk",
        "G_SECRET": "gs",
        # the deployment's own settings are no account's
        "VOD_MNS_ENDPOINT": "http://127.0.0.1:8",
        "VOD_MNS_QUEUE": "deployment-queue",
        "VOD_CALLBACK_KEYS": "deployment-key",
        "VOD_CALLBACK_URL": "https://hooks.example.com/deployment",
    }
    retail = settings.events_from_env(environ, account="retail")
    assert (retail.port, retail.mns_queue, retail.callback.url, retail.callback.keys) == (
        9091,
        "retail-events",
        "https://hooks.example.com/retail",
        ("retail-auth-key",),
    )
    assert retail.credentials.access_key_id == "rk"  # its queue is read with its own keys
    games = settings.events_from_env(environ, account="games")
    assert (games.mns_queue, games.callback) == (None, None)
    # A callback key named in the file but not set stops the receiver, as unset AccessKey variables stop a run:
    # it never falls back to taking the account's callbacks unauthenticated
    del environ["R_CALLBACK"]
    with pytest.raises(ConfigurationError, match="Account retail: R_CALLBACK is not set") as refused:
        settings.events_from_env(environ, account="retail")
    assert "retail-auth-key" not in str(refused.value)


def test_an_unreadable_accounts_file_fails_every_run_and_writes_nothing(deployment, instance, tmp_path):
    (tmp_path / "accounts.toml").write_text("[accounts.retail\n")  # broken after the deployment was set up
    (tmp_path / "data" / "videos.csv").write_text("video_id\nabc\n")  # a set at the top, as one account had
    with definitions_loaded_afresh():
        result = run(instance, None)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "videos"
    assert "is not valid TOML" in failure.step_failure_data.user_failure_data.description
    assert not (tmp_path / "data" / "raw").exists()
