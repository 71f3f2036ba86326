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


def test_videos_without_stickers_are_asked_less_often_while_events_arrive_and_every_promise_holds(tmp_path):
    days = dict(videos_per_region=150, days=9, change_rate=0.15, loss_rate=0.25, calls_per_second=3000.0, sticker_share=0.5)
    quiet = list(simulate(tmp_path / "quiet", policy=refresh.RefreshPolicy(every_days=K, quiet_days=6), **days))
    plain = list(simulate(tmp_path / "plain", policy=refresh.RefreshPolicy(every_days=K), **days))
    for check in quiet[1:]:
        assert check.events_state == refresh.ARRIVING and check.bare_days == 6, check
        assert check.announced_videos > 0 and check.announced_wrong == 0, check
        # A video whose answer holds stickers is asked every K days; one without, every 6
        assert check.oldest_row_days < K and check.oldest_bare_days < 6, check
        # Deleted stickers are gone within K days; a lost event delays a sticker K days, 6 on a video without
        assert check.stale_within_k and check.missing_within_k, check
    assert max(c.oldest_bare_days for c in quiet) >= K  # the longer cadence was used
    assert sum(c.missing_rows for c in quiet[1:]) > 0  # and lost events did leave stickers out for a while
    assert sum(c.calls for c in quiet[1:]) < 0.95 * sum(c.calls for c in plain[1:])  # fewer calls, the same promises


def test_when_the_events_stop_every_video_is_swept_every_k_days_again_and_the_log_says_why(tmp_path, caplog):
    checks = list(
        simulate(
            tmp_path / "data",
            videos_per_region=150,
            days=9,
            change_rate=0.15,
            loss_rate=1.0,  # VOD sends no callback: DynamicImageComplete is configured on no channel
            policy=refresh.RefreshPolicy(every_days=K, quiet_days=6),
            calls_per_second=3000.0,
            sticker_share=0.5,
        )
    )
    # Three finished days without an event, while their sweeps found new stickers: the fourth day falls back
    assert [c.events_state for c in checks] == [refresh.ARRIVING] * 3 + [refresh.STOPPED] * 6
    assert sum(c.unannounced for c in checks[1:3]) > 0
    assert [c.bare_days for c in checks[3:]] == [K] * 6
    stopped = [r.getMessage() for r in caplog.records if "DynamicImageComplete" in r.getMessage()]
    assert stopped and "found" in stopped[0] and "VOD_CALLBACK_URL" in stopped[0] and "VOD_MNS_QUEUE" in stopped[0]
    # The videos without stickers are caught up over the K days after the fall back (never older than 6 days
    # meanwhile), then asked every K days
    assert all(c.oldest_bare_days < 6 and c.oldest_row_days < K for c in checks), checks
    for check in checks[3 + K :]:
        assert check.oldest_bare_days < K, check
