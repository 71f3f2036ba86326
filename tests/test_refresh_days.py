"""The snapshot's promises, kept over days of a local account whose stickers change and whose callbacks are
sometimes lost, checked against what the account really held at each run."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import refresh
from tests.support.simulation import simulate

pytestmark = pytest.mark.server

K = 3


def test_a_week_keeps_every_promise_of_the_snapshot(tmp_path):
    checks = list(
        simulate(
            tmp_path / "data",
            videos_per_region=150,
            days=7,
            change_rate=0.15,
            loss_rate=0.25,
            policy=refresh.RefreshPolicy(every_days=K),
            calls_per_second=3000.0,
            uploads_per_day=4,
            deletes_per_day=3,
        )
    )
    assert [c.day for c in checks] == [dt.date(2026, 11, 2) + dt.timedelta(days=n) for n in range(7)]
    first, later = checks[0], checks[1:]
    assert first.asked == first.videos == 300 and first.stale_rows == first.missing_rows == 0
    assert [c.videos for c in checks] == [300 + 4 * n for n in range(7)]  # uploads join; deleted videos stay listed
    for check in later:
        # Asked only where the answer can differ: a sweep of a third, and the announced videos
        assert check.asked < check.videos * 0.75, check
        assert check.asked + check.carried == check.videos
        # A video with a delivered event shows its new sticker that day
        assert check.announced_videos > 0 and check.announced_wrong == 0, check
        # No answer in the snapshot is older than K days
        assert check.oldest_row_days < K, check
        # A sticker deleted upstream is gone within K days; a lost callback delays a sticker at most K days
        assert check.stale_within_k and check.missing_within_k, check
    assert max(c.oldest_row_days for c in later) == K - 1  # rows were carried, as long as allowed
    # The lost callbacks and the unannounced deletions did leave the snapshot behind the truth for a while
    assert sum(c.stale_rows for c in later) > 0 and sum(c.missing_rows for c in later) > 0
