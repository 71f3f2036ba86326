"""Fan-out over many videos: one outcome per video, counts that reconcile, a fatal error stops early."""

import pytest

from pipeline.vod.client import Credentials
from pipeline.vod.errors import CredentialsRejected
from pipeline.vod.fetch import fetch_all
from tests.conftest import KEY_ID, make_client


def one_queue(client, ids):
    """fetch_all's clients and queues for one client of the deployment's region, its videos in one queue."""
    return {"": client}, [[("", video_id) for video_id in ids]]


def test_every_video_gets_exactly_one_outcome(vod_service):
    service = vod_service(catalog_size=150, calls_per_second=None, server_error_rate=0.1, fault_seed=1)
    ids = service.catalog.video_ids() + ["f" * 32, "e" * 32]
    outcomes, progress = [], []
    with make_client(service, max_attempts=10) as client:
        summary = fetch_all(*one_queue(client, ids), total=len(ids), concurrency=8, on_outcome=outcomes.append, on_progress=progress.append)
    assert sorted(o.video_id for o in outcomes) == sorted(ids)
    assert (summary.asked, summary.answered, summary.not_found, summary.failed) == (152, 150, 2, 0)
    assert summary.stickers == sum(len(service.catalog.stickers(v, 0)) for v in service.catalog.video_ids())
    assert summary.calls == 152 + summary.retries and summary.retries > 0
    assert progress[-1].done == 152


def test_videos_that_keep_failing_are_recorded_with_their_error(vod_service):
    service = vod_service(catalog_size=10, calls_per_second=None, server_error_rate=1.0)
    outcomes = []
    with make_client(service, max_attempts=2) as client:
        summary = fetch_all(*one_queue(client, service.catalog.video_ids()), total=10, concurrency=4, on_outcome=outcomes.append)
    assert summary.failed == 10
    assert all(o.status == "failed" and o.error_code in ("InternalError", "ServiceUnavailable") and o.attempts == 2 for o in outcomes)
    assert all(o.request_id for o in outcomes)


def test_rejected_credentials_stop_the_fan_out_instead_of_failing_every_video(vod_service):
    service = vod_service(catalog_size=500, calls_per_second=None)
    outcomes = []
    with make_client(service, credentials=Credentials(KEY_ID, "wrong")) as client:
        with pytest.raises(CredentialsRejected):
            fetch_all(*one_queue(client, service.catalog.video_ids()), total=500, concurrency=4, on_outcome=outcomes.append)
    assert service.stats["requests"] <= 8  # the calls already under way, not 500
