from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from localvod import LocalVodService, ServiceConfig, write_videos_csv
from pipeline import settings
from pipeline.store import objects
from pipeline.store.layout import Layout
from pipeline.vod.client import Credentials, VodClient
from tests.support.seaweedfs import LocalS3

KEY_ID = "test-access-key-id"
KEY_SECRET = "test-secret-Zq8Lw3Kp9Vx2"
REPO = Path(__file__).resolve().parents[1]


def _today_with_time_to_spare(spare: dt.timedelta = dt.timedelta(minutes=20)) -> dt.date:
    """Today (UTC), the day the tests fetch through Dagster: VOD answers only about now, so the pipeline
    fetches no other day. A session starting in the last minutes of a day waits for the next one, so
    that no test's day ends while it runs."""
    now = dt.datetime.now(dt.UTC)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    if midnight - now < spare:
        wait = (midnight - now).total_seconds() + 1
        print(f"tests: {wait:.0f} s to midnight UTC; waiting for the next day before fetching today's", file=sys.stderr)
        time.sleep(wait)
    return dt.datetime.now(dt.UTC).date()


TODAY = _today_with_time_to_spare()


# What a test needs beyond this process, as markers (pyproject.toml lists them): `make test-fast` runs the
# tests with none of them. Tests taking these fixtures are marked by the fixture; a module that starts its
# own says so with `pytestmark`; and a test that is not marked but starts one fails, naming its marker.
SERVER_FIXTURES = frozenset({"vod_service", "service", "local_s3", "s3_layout", "dagster_home"})
DAGSTER_FIXTURES = frozenset({"instance", "dagster_home"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SERVER_FIXTURES:
            item.add_marker("server")
        if used & DAGSTER_FIXTURES:
            item.add_marker("dagster")


def _refuse(marker: str, what: str) -> Callable[..., None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"this test {what}: mark it {marker} (@pytest.mark.{marker}), so make test-fast leaves it out")

    return refuse


@contextlib.contextmanager
def _in_process_only(item: pytest.Item) -> Iterator[None]:
    """While a test make test-fast runs (marked neither server, dagster nor browser) is set up and runs, with
    the fixtures of any scope it needs: no socket listens, no process starts, no Dagster instance is made."""
    if any(item.get_closest_marker(marker) for marker in ("server", "dagster", "browser")):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "listen", _refuse("server", "starts a server"))
        patch.setattr(subprocess.Popen, "__init__", _refuse("server", "starts a process"))
        patch.setattr(dg.DagsterInstance, "__init__", _refuse("dagster", "makes a Dagster instance"))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _in_process_only(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _in_process_only(item):
        return (yield)


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    """A Dagster instance directory set up as the repository's own (its pools and run monitoring), with
    its storage created, for runs started by the ``dagster`` CLI or ``vod-stickers``."""
    home = tmp_path / "dagster_home_cli"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home)
    dg.DagsterInstance.from_config(str(home)).dispose()
    return home


@pytest.fixture
def vod_service() -> Iterator[Callable[..., LocalVodService]]:
    """Starts local VOD services on free loopback ports: ``vod_service(latency_ms=5, ...)``."""
    started: list[LocalVodService] = []

    def start(**overrides: object) -> LocalVodService:
        config = ServiceConfig(**{"access_key_id": KEY_ID, "access_key_secret": KEY_SECRET, **overrides})
        service = LocalVodService(config).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def service(vod_service: Callable[..., LocalVodService]) -> LocalVodService:
    """A quiet, unthrottled local VOD service with a 200-video catalog."""
    return vod_service(catalog_size=200, calls_per_second=None)


def make_client(service: LocalVodService, **overrides: object) -> VodClient:
    settings: dict[str, object] = {"calls_per_second": 1000.0, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
    settings.update(overrides)
    credentials = settings.pop("credentials", Credentials(KEY_ID, KEY_SECRET))
    return VodClient(credentials, endpoint=service.endpoint, **settings)  # type: ignore[arg-type]


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "data")


def write_videos(service: LocalVodService, path: Path, *, unknown: int = 0) -> None:
    """A videos.csv of every video of the service's catalog, plus ``unknown`` ids it does not know."""
    write_videos_csv(path, seed=service.catalog.seed, size=service.catalog.size, unknown=unknown)


def expected_stickers(service: LocalVodService) -> int:
    return sum(len(service.catalog.stickers(v, 0)) for v in service.catalog.video_ids())


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A temporary Dagster instance for runs executed in process."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture
def env(monkeypatch, tmp_path):
    """The environment an operator sets, pointing at a local VOD service."""

    def apply(service, **extra):
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
        monkeypatch.setenv("VOD_ENDPOINT", service.endpoint)
        monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
        for name, value in extra.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return Layout(tmp_path / "data")

    return apply


def daily_snapshot_command(partition: str) -> list[str]:
    """The command an operator runs to execute one partition of the daily job with the ``dagster`` CLI."""
    tags = json.dumps({"dagster/partition": partition})
    return [sys.executable, "-m", "dagster", "job", "execute", "-m", "pipeline.definitions", "-j", "daily_snapshot", "--tags", tags]


def process_env(service: LocalVodService, layout: Layout, dagster_home: Path, **variables: str) -> dict[str, str]:
    """The environment of a ``dagster`` or ``vod-stickers`` process an operator starts against ``service``."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "PIPELINE_DATA_DIR": str(layout.root),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
        "VOD_ENDPOINT": service.endpoint,
        **variables,
    }


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    """A real S3-compatible server (SeaweedFS) on loopback, shared by the session; each test takes a bucket."""
    with LocalS3(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_layout(local_s3: LocalS3, tmp_path: Path, request: pytest.FixtureRequest) -> Layout:
    """The data directory as a prefix of a fresh bucket on the local S3 server (events kept locally)."""
    bucket = local_s3.create_bucket(f"t{os.urandom(6).hex()}")
    store = settings.store_from_env(local_s3.env())
    return Layout(objects.location(f"s3://{bucket}/data", store), lease_s=5, inbox=tmp_path / "events" / "inbox.sqlite")
