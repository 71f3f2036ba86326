from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.client import Credentials, VodClient
from pipeline.layout import Layout
from pipeline.localvod import LocalVodService, ServiceConfig, write_videos_csv

KEY_ID = "test-access-key-id"
KEY_SECRET = "test-secret-Zq8Lw3Kp9Vx2"


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
