"""The refresh plan: a day asks VOD only where the answer can differ, and still holds every video."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline import refresh, snapshot
from pipeline.errors import ConfigurationError
from pipeline.events.inbox import Inbox
from pipeline.normalize import quality
from pipeline.store import lake, raw
from pipeline.store.layout import Layout
from pipeline.store.schema import DAY_TABLES
from pipeline.store.videos import VideoSet, id_array
from tests.conftest import make_client, write_videos

DAY = dt.date(2026, 11, 2)


def run_day(layout: Layout, client, day: dt.date, policy=refresh.RefreshPolicy(), inbox: Inbox | None = None):
    """One snapshot day as its own day (VOD asked about now): take the set, fetch, normalize."""
    snapshot.take_video_set(layout, day, today=day)
    summary = snapshot.fetch_day(layout, day, client, concurrency=8, policy=policy, inbox=inbox, run_id=f"run-{day}", today=day)
    snapshot.normalize_day(layout, day)
    return summary


def fetches(layout: Layout, day: dt.date) -> pd.DataFrame:
    return lake.read_partition(layout, "video_fetches", day).set_index("video_id")


def stickers(layout: Layout, day: dt.date) -> pd.DataFrame:
    return lake.read_partition(layout, "stickers", day).drop(columns="snapshot_date").sort_values("dynamic_image_id", ignore_index=True)


def calls(service) -> int:
    return len(service.answer_times())


def test_a_day_asks_the_new_videos_and_a_sweep_and_carries_the_rest_unchanged(service, layout):
    write_videos(service, layout.videos_csv, unknown=3)
    client = make_client(service)
    first = run_day(layout, client, DAY)
    assert (first.asked, first.carried) == (203, 0)
    before = calls(service)
    second = run_day(layout, client, DAY + dt.timedelta(days=1))
    # 203 videos with an answer, every one asked at least every 7 days: a seventh of those whose answer held
    # stickers a day, and a seventh of the others (no inbox read: no longer cadence for them)
    day1 = fetches(layout, DAY)
    with_stickers = int((day1["stickers_returned"] > 0).sum())
    sweep = math.ceil(with_stickers / 7) + math.ceil((203 - with_stickers) / 7)
    assert 0 < with_stickers < 203 and sweep in (29, 30)
    assert calls(service) - before == second.asked == sweep
    assert second.carried == 203 - sweep
    day2 = fetches(layout, DAY + dt.timedelta(days=1))
    assert (day2["status"] == "carried").sum() == 203 - sweep
    assert (day2.loc[day2["status"] != "carried", "stickers_returned"] > 0).sum() == math.ceil(with_stickers / 7)
    assert set(day2.loc[day2["status"] != "carried", "reason"]) == {"sweep"}
    carried = day2[day2["status"] == "carried"]
    assert (carried["carried_from"] == DAY).all() and carried["reason"].isna().all()
    # The day is a complete snapshot: every sticker of every video, those carried exactly as last answered
    assert (
        stickers(layout, DAY + dt.timedelta(days=1))
        .drop(columns=["request_id", "fetched_at", "url_expires_at"])
        .equals(stickers(layout, DAY).drop(columns=["request_id", "fetched_at", "url_expires_at"]))
    )
    old, new = stickers(layout, DAY), stickers(layout, DAY + dt.timedelta(days=1))
    kept = new["video_id"].isin(carried.index)
    assert new[kept].reset_index(drop=True).equals(old[old["video_id"].isin(carried.index)].reset_index(drop=True))
    assert quality.fetch_reconciles(lake.committed(layout, DAY + dt.timedelta(days=1), DAY_TABLES)).passed


def _partitions(layout: Layout, day: dt.date) -> dict[str, pd.DataFrame]:
    """The day's answer tables, each sorted so that two equal days compare equal whatever the rows' order."""
    keys = {"stickers": ["dynamic_image_id"], "quarantine": ["video_id", "item_index"], "video_fetches": ["video_id"]}
    return {table: lake.read_partition(layout, table, day).sort_values(key, ignore_index=True) for table, key in keys.items()}


def test_raw_keeps_only_the_asked_answers_and_a_day_carried_from_raw_equals_one_carried_from_the_lake(service, layout):
    write_videos(service, layout.videos_csv, unknown=3)
    client = make_client(service)
    day2 = DAY + dt.timedelta(days=1)
    for day in (DAY, day2):  # both fetched, neither normalized: day 2 cannot carry from the lake
        snapshot.take_video_set(layout, day, today=day)
        snapshot.fetch_day(layout, day, client, concurrency=8, today=day)
    asked = refresh.read_plan(layout, day2).asks
    assert len(layout.answers(day2).read_text().splitlines()) == len(asked) < 203  # no carried answer copied
    snapshot.normalize_day(layout, day2)  # carried from raw/ of the day each answer was made
    from_raw = _partitions(layout, day2)
    snapshot.normalize_day(layout, DAY)
    snapshot.normalize_day(layout, day2)  # now from the lake's day 1
    from_lake = _partitions(layout, day2)
    for table, rows in from_raw.items():
        assert rows.equals(from_lake[table]), table
    fetched = from_lake["video_fetches"].set_index("video_id")
    assert (fetched["status"] == "carried").sum() == 203 - len(asked)
    assert quality.fetch_reconciles(lake.committed(layout, day2, DAY_TABLES)).passed
    # A day whose carried answers can be found nowhere stops, naming the raw file to restore
    (layout.base / "lake").rename(layout.base / "lake-aside")
    layout.answers(DAY).unlink()
    with pytest.raises(ConfigurationError, match=r"carried videos have no answer in .*snapshot_date=2026"):
        snapshot.normalize_day(layout, day2)


def test_every_video_is_asked_at_least_every_k_days_and_no_row_is_older(service, layout):
    write_videos(service, layout.videos_csv)
    client = make_client(service)
    policy = refresh.RefreshPolicy(every_days=3)
    last_asked: dict[str, dt.date] = {}
    for n in range(8):
        day = DAY + dt.timedelta(days=n)
        run_day(layout, client, day, policy)
        day_fetches = fetches(layout, day)
        assert len(day_fetches) == 200  # every video, every day
        for video_id in day_fetches.index[day_fetches["status"] != "carried"]:
            last_asked[video_id] = day
        assert max((day - asked).days for asked in last_asked.values()) < 3
        age = day - stickers(layout, day)["fetched_at"].dt.date
        assert age.max() < dt.timedelta(days=3)
    # the sweep is spread: after the first day, about a third of the videos a day
    asked = [len(refresh.read_plan(layout, DAY + dt.timedelta(days=n)).asks) for n in range(1, 8)]
    assert all(66 <= a <= 68 for a in asked), asked


def test_refresh_days_1_is_the_full_daily_sweep(service, layout):
    write_videos(service, layout.videos_csv)
    client = make_client(service)
    run_day(layout, client, DAY, refresh.RefreshPolicy(every_days=1))
    before = calls(service)
    summary = run_day(layout, client, DAY + dt.timedelta(days=1), refresh.RefreshPolicy(every_days=1))
    assert calls(service) - before == summary.asked == 200 and summary.carried == 0
    assert set(fetches(layout, DAY + dt.timedelta(days=1))["reason"]) == {"due"}


def test_an_event_has_its_video_asked_that_day_and_is_recorded_with_the_run(service, layout, tmp_path):
    write_videos(service, layout.videos_csv)
    client = make_client(service)
    inbox = Inbox(layout.events_inbox)
    run_day(layout, client, DAY, inbox=inbox)
    ids = service.catalog.video_ids()
    plan1 = refresh.read_plan(layout, DAY)
    inbox.add(
        {"EventType": "DynamicImageComplete", "VideoId": ids[5], "Status": "Success", "JobId": "j1", "EventTime": "2026-11-02T10:00:00Z"},
        channel="http",
    )
    inbox.add(
        {"EventType": "DynamicImageComplete", "VideoId": ids[6], "Status": "fail", "JobId": "j2", "EventTime": "2026-11-02T10:00:01Z"},
        channel="mns",
    )
    inbox.add(
        {"EventType": "DynamicImageComplete", "VideoId": "not-in-the-set", "Status": "success", "JobId": "j3", "EventTime": "x"},
        channel="http",
    )
    inbox.add(
        {"EventType": "SnapshotComplete", "VideoId": ids[7], "Status": "success", "EventTime": "2026-11-02T10:00:03Z"}, channel="http"
    )
    day2 = DAY + dt.timedelta(days=1)
    run_day(layout, client, day2, inbox=inbox)
    reasons = fetches(layout, day2)["reason"]
    assert reasons[ids[5]] == "event"
    assert reasons[ids[6]] != "event" and reasons[ids[7]] != "event"
    events = lake.read_partition(layout, "events", day2).set_index("job_id")
    assert events.loc["j1", "action"] == "asked" and events.loc["j1", "channel"] == "http"
    assert events.loc["j2", "action"] == "no sticker change"
    assert events.loc["j3", "action"] == "not in the video set" and pd.isna(events.loc["j3", "event_time"])
    assert (events["run_id"] == f"run-{day2}").all()
    assert plan1.events_through == 0 and refresh.read_plan(layout, day2).events_through == 4
    # The next day takes none of them again
    run_day(layout, client, day2 + dt.timedelta(days=1), inbox=inbox)
    assert lake.read_partition(layout, "events", day2 + dt.timedelta(days=1)).empty


def test_a_video_that_failed_is_asked_again_the_next_day(vod_service, layout):
    failing = vod_service(catalog_size=30, calls_per_second=None, server_error_rate=1.0)
    write_videos(failing, layout.videos_csv)
    client = make_client(failing, max_attempts=1)
    first = run_day(layout, client, DAY)
    assert first.failed == 30
    healthy = vod_service(catalog_size=30, calls_per_second=None)
    second = run_day(layout, make_client(healthy), DAY + dt.timedelta(days=1))
    assert second.answered == 30 and second.carried == 0
    assert set(fetches(layout, DAY + dt.timedelta(days=1))["reason"]) == {"failed"}


def test_the_budget_caps_the_sweep_but_never_a_video_that_must_be_asked(service, layout, caplog):
    write_videos(service, layout.videos_csv)
    client = make_client(service)
    run_day(layout, client, DAY, refresh.RefreshPolicy(budget=10))  # 200 new videos: all asked, over budget
    assert "190 videos must be asked" in caplog.text and "VOD_REFRESH_BUDGET" in caplog.text
    assert refresh.read_plan(layout, DAY).over_budget == 190
    summary = run_day(layout, client, DAY + dt.timedelta(days=1), refresh.RefreshPolicy(budget=10))
    assert summary.asked == 10 and summary.carried == 190


def test_a_week_run_in_order_then_any_day_redone_from_its_answers_gives_the_same_snapshot(service, layout):
    write_videos(service, layout.videos_csv)
    client = make_client(service)
    inbox = Inbox(layout.events_inbox)
    days = [DAY + dt.timedelta(days=n) for n in range(7)]
    digests = {}
    for n, day in enumerate(days):
        inbox.add(
            {
                "EventType": "DynamicImageComplete",
                "VideoId": service.catalog.video_ids()[n],
                "Status": "success",
                "JobId": f"j{n}",
                "EventTime": f"{day}T01:00:00Z",
            },
            channel="http",
        )
        run_day(layout, client, day, inbox=inbox)
        digests[day] = _digests(layout, day)
    before = calls(service)
    for day in reversed(days):
        # a day over is never asked again: its kept answers stand, and are typed again into the same files
        snapshot.fetch_day(layout, day, client, inbox=inbox, today=days[-1] + dt.timedelta(days=1))
        snapshot.normalize_day(layout, day)
        assert _digests(layout, day) == digests[day]
    assert calls(service) == before


def test_a_gap_in_the_chain_carries_from_the_last_day_run_and_asks_what_fell_due(service, layout):
    write_videos(service, layout.videos_csv)
    client = make_client(service)
    policy = refresh.RefreshPolicy(every_days=2)
    run_day(layout, client, DAY, policy)
    run_day(layout, client, DAY + dt.timedelta(days=1), policy)  # half the videos asked again
    later = DAY + dt.timedelta(days=3)  # day 3 never ran
    run_day(layout, client, later, policy)
    plan = refresh.read_plan(layout, later)
    assert plan.previous_day == (DAY + dt.timedelta(days=1)).isoformat()
    # Those last answered on day 1 are 3 days old and those of day 2 are 2: all are due
    assert plan.counts["due"] == 200 and plan.carried == 0


def test_a_day_redone_after_an_interruption_keeps_its_plan_and_adds_the_events_received_since(service, layout, caplog):
    write_videos(service, layout.videos_csv)
    client = make_client(service)
    run_day(layout, client, DAY)
    day2 = DAY + dt.timedelta(days=1)
    snapshot.take_video_set(layout, day2, today=day2)
    plan = refresh.plan_day(layout, day2, snapshot.read_day_set(layout.day_videos(day2)), inbox=None)  # the run that stopped
    # An event arrives before the day is run again: its video is asked too, the rest of the plan stands
    carried = next(v for v in service.catalog.video_ids() if v not in plan.asks)
    inbox = Inbox(layout.events_inbox)
    inbox.add({"EventType": "DynamicImageComplete", "VideoId": carried, "Status": "success", "JobId": "late"}, channel="http")
    snapshot.fetch_day(layout, day2, client, inbox=inbox, policy=refresh.RefreshPolicy(every_days=1), today=day2)
    redone = refresh.read_plan(layout, day2)
    assert redone.asks == {**plan.asks, carried: "event"} and redone.events_through == 1
    assert "it is kept" in caplog.text  # the settings given for the re-run wait for the next day
    snapshot.normalize_day(layout, day2)
    assert fetches(layout, day2)["reason"][carried] == "event"
    assert lake.read_partition(layout, "events", day2)["job_id"].tolist() == ["late"]


def test_an_inbox_that_is_not_the_one_the_last_plan_read_has_all_its_events_taken(service, layout, caplog):
    write_videos(service, layout.videos_csv)
    client = make_client(service)
    with Inbox(layout.events_inbox) as inbox:
        for n in range(3):
            inbox.add({"EventType": "FileUploadComplete", "VideoId": f"elsewhere{n}", "Status": "success"}, channel="http")
        run_day(layout, client, DAY, inbox=inbox)
    layout.events_inbox.unlink()  # lost, and started again empty
    with Inbox(layout.events_inbox) as fresh:
        fresh.add(
            {"EventType": "DynamicImageComplete", "VideoId": service.catalog.video_ids()[3], "Status": "success", "JobId": "j"},
            channel="http",
        )
        run_day(layout, client, DAY + dt.timedelta(days=1), inbox=fresh)
    assert "is not the one the last plan read" in caplog.text
    assert fetches(layout, DAY + dt.timedelta(days=1))["reason"][service.catalog.video_ids()[3]] == "event"


def test_a_bad_refresh_setting_stops_before_the_first_call():
    from pipeline.errors import ConfigurationError
    from pipeline.settings import refresh_from_env, vod_from_env

    base = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "k", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    vod = vod_from_env(base)
    for env, says in (
        ({"VOD_REFRESH_DAYS": "0"}, "VOD_REFRESH_DAYS"),
        ({"VOD_REFRESH_BUDGET": "many"}, "VOD_REFRESH_BUDGET"),
        ({"VOD_REFRESH_BUDGET": "10", "VOD_REFRESH_WINDOW_HOURS": "2"}, "set one"),
        ({"VOD_REFRESH_WINDOW_HOURS": "25"}, "VOD_REFRESH_WINDOW_HOURS"),
        ({"VOD_REFRESH_DAYS": "7", "VOD_REFRESH_QUIET_DAYS": "6"}, r"VOD_REFRESH_QUIET_DAYS.*at least VOD_REFRESH_DAYS \(7\)"),
    ):
        with pytest.raises(ConfigurationError, match=says):
            refresh_from_env(vod, {**base, **env})
    assert refresh_from_env(vod, base) == refresh.RefreshPolicy(every_days=7, budget=1_440_000, quiet_days=28)
    # The full daily sweep stays one: every video every day, with stickers or not
    assert refresh_from_env(vod, {**base, "VOD_REFRESH_DAYS": "1"}).bare_days == 1
    assert refresh_from_env(vod, {**base, "VOD_REFRESH_QUIET_DAYS": "7"}).bare_days == 7
    slower = {**base, "VOD_REFRESH_WINDOW_HOURS": "1", "VOD_CALLS_PER_SECOND": "50"}
    assert refresh_from_env(vod_from_env(slower), slower).budget == 180_000


def _digests(layout: Layout, day: dt.date) -> dict[str, str]:
    return {
        table: hashlib.sha256(lake.partition_path(layout, table, day).read_bytes()).hexdigest()
        for table in ("stickers", "quarantine", "video_fetches", "events")
    }


def test_a_video_deleted_upstream_with_its_event_leaves_the_snapshot_that_day(service, layout):
    write_videos(service, layout.videos_csv)  # the set still lists it: videos.csv, or discovery before its full walk
    client = make_client(service)
    inbox = Inbox(layout.events_inbox)
    run_day(layout, client, DAY, inbox=inbox)
    plan = refresh.read_plan(layout, DAY)
    gone = next(v for v in service.catalog.video_ids() if service.catalog.stickers(v, 0))
    assert gone in plan.asks and not stickers(layout, DAY)[lambda s: s["video_id"] == gone].empty
    service.catalog.delete(gone)
    inbox.add(
        {
            "EventType": "DeleteMediaComplete",
            "MediaId": gone,
            "MediaType": "video",
            "DeleteType": "all",
            "Status": "success",
            "EventTime": "2026-11-02T20:00:00Z",
        },
        channel="mns",
    )
    day2 = DAY + dt.timedelta(days=1)
    run_day(layout, client, day2, inbox=inbox)
    outcome = fetches(layout, day2).loc[gone]
    assert (outcome["status"], outcome["reason"]) == ("not_found", "event")
    assert stickers(layout, day2)[lambda s: s["video_id"] == gone].empty
    assert lake.read_partition(layout, "events", day2)["action"].tolist() == ["asked"]


@pytest.mark.server
def test_with_limits_per_region_each_region_sweeps_within_its_own_budget(tmp_path):
    from localvod import LocalVodAccount, ServiceConfig, write_videos_csv
    from pipeline.settings import VodSettings
    from pipeline.vod.client import Credentials
    from tests.conftest import KEY_ID, KEY_SECRET

    layout = Layout(tmp_path / "data")
    regions = {"cn-shanghai": {"catalog_size": 90}, "ap-southeast-1": {"catalog_size": 10}}
    config = ServiceConfig(access_key_id=KEY_ID, access_key_secret=KEY_SECRET, calls_per_second=None)
    with LocalVodAccount(config, regions, shared_limits=False) as account:
        write_videos_csv(layout.videos_csv, size=90, regions=tuple(regions))  # 90 + 90 ids: keep each region's own
        frame = pd.read_csv(layout.videos_csv)
        frame = frame[(frame["region"] == "cn-shanghai") | frame["video_id"].isin(account.services["ap-southeast-1"].catalog.video_ids())]
        frame.to_csv(layout.videos_csv, index=False)
        settings = VodSettings(Credentials(KEY_ID, KEY_SECRET), endpoints=account.endpoints, calls_per_second=1000.0, shared_limits=False)
        policy = refresh.RefreshPolicy(every_days=2, budget=20, per_region=True)
        for day in (DAY, DAY + dt.timedelta(days=1)):
            snapshot.take_video_set(layout, day, today=day, regions=list(regions))
            with settings.clients() as clients:
                snapshot.fetch_day(layout, day, clients, policy=policy, today=day)
    asked = refresh.read_plan(layout, DAY + dt.timedelta(days=1)).asks
    by_region = pd.read_csv(layout.videos_csv).set_index("video_id")["region"]
    counts = by_region[list(asked)].value_counts().to_dict()
    # cn-shanghai: half of its 90 would be swept, its budget allows 20; ap-southeast-1: half of its 10 (half of
    # those whose answer held stickers and half of the others, each rounded up)
    small = raw.read_state(layout.day_state(DAY)).loc[lambda s: s.index.isin(by_region[by_region == "ap-southeast-1"].index)]
    with_stickers = int((small["stickers"] > 0).sum())
    assert counts == {"cn-shanghai": 20, "ap-southeast-1": math.ceil(with_stickers / 2) + math.ceil((10 - with_stickers) / 2)}


def test_a_kept_plan_of_60000_videos_is_resumed_as_it_was_made(layout):
    # Resuming must cost about what making the plan did: before, each ask rebuilt the set of the day's
    # videos, and this day took minutes to resume (its lease held, no call made). The test's own runtime
    # is the guard; what it asserts is that the resumed plan asks exactly what the new one did.
    previous, day = DAY, DAY + dt.timedelta(days=1)
    ids = [hashlib.md5(str(n).encode()).hexdigest() for n in range(60_000)]
    answered = ids[:50_000]  # the other 10,000 are new on the day
    lines = []
    for n, video_id in enumerate(answered):
        status = "failed" if n % 50 == 0 else "answered"
        carried_from = (previous - dt.timedelta(days=2)).isoformat() if n % 5 == 1 else None
        lines.append(json.dumps({"video_id": video_id, "status": status, "carried_from": carried_from}))
    layout.answers(previous).parent.mkdir(parents=True, exist_ok=True)
    layout.answers(previous).write_text("\n".join(lines) + "\n", encoding="utf-8")
    inbox = Inbox(layout.events_inbox)
    for video_id in answered[3:300:7]:
        inbox.add({"EventType": "DynamicImageComplete", "VideoId": video_id, "Status": "success", "JobId": "j"}, channel="http")
    videos = VideoSet(ids=ids, regions=["cn-shanghai"] * len(ids))
    policy = refresh.RefreshPolicy(every_days=2)

    made = refresh.plan_day(layout, day, videos, policy, inbox=inbox)
    assert {reason for reason in made.asks.values()} == set(refresh.REASONS)  # every kind of ask is resumed
    assert len(made.asks) > 30_000
    resumed = refresh.plan_day(layout, day, videos, policy, inbox=inbox)
    assert list(resumed.asks.items()) == list(made.asks.items())
    assert refresh.read_plan(layout, day).asks == made.asks


def test_a_refresh_policy_refuses_a_budget_below_one_call_and_a_quiet_cadence_below_k():
    from pipeline.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="VOD_REFRESH_BUDGET must be at least 1"):
        refresh.RefreshPolicy(budget=0)
    with pytest.raises(ConfigurationError, match="VOD_REFRESH_QUIET_DAYS must be at least VOD_REFRESH_DAYS"):
        refresh.RefreshPolicy(every_days=7, quiet_days=3)


def _plan_by_hand(day, videos, last, announced, policy, bare_days, bare_due):
    """The plan's rules, one video at a time: must-asks (new, failed, event, due), then within each region
    group and each cohort (answers with stickers every K days first, those without every bare_days) the
    oldest answers, ties taken by id, until the cohort's daily share or the budget runs out. And how many
    must-asks are beyond the budget."""
    reason, age = {}, {}
    for video_id, _ in videos:
        state = last.get(video_id)
        if state is not None and state["answered_on"] is not None:
            age[video_id] = (day - state["answered_on"]).days
        bare = state is not None and state["stickers"] == 0
        if state is None:
            reason[video_id] = "new"
        elif state["status"] == "failed":
            reason[video_id] = "failed"
        elif video_id in announced:
            reason[video_id] = "event"
        elif video_id in age and age[video_id] >= (bare_due if bare else policy.every_days):
            reason[video_id] = "due"
    groups = {}
    for video_id, region in videos:
        groups.setdefault(region if policy.per_region else "account", []).append(video_id)
    over = 0
    for members in groups.values():
        must = sum(v in reason for v in members)
        over += 0 if policy.budget is None else max(0, must - policy.budget)
        room = None if policy.budget is None else policy.budget - must
        for with_stickers, every in ((True, policy.every_days), (False, bare_days)):
            cohort = [v for v in members if v in age and (last[v]["stickers"] != 0) == with_stickers]
            share = math.ceil(len(cohort) / every) - sum(reason.get(v) == "due" for v in cohort)
            share = share if room is None else min(share, room)
            if share > 0:
                for video_id in sorted((v for v in cohort if v not in reason), key=lambda v: (-age[v], v))[:share]:
                    reason[video_id] = "sweep"
                    room = None if room is None else room - 1
    return {video_id: reason[video_id] for video_id, _ in videos if video_id in reason}, over


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# events stopped: the videos without stickers are swept every K days, not every Q
@example(
    videos=[("cn-shanghai", ("answered", 1, 0), False)] * 10,
    every_days=2,
    budget=None,
    per_region=False,
    extra_quiet=4,
    stopped=True,
    catching_up=0,
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["cn-shanghai", "ap-southeast-1"]),
            st.one_of(
                st.none(), st.tuples(st.sampled_from(["answered", "not_found", "failed", "carried"]), st.integers(0, 9), st.integers(0, 2))
            ),
            st.booleans(),
        ),
        max_size=60,
    ),
    st.integers(1, 6),
    st.one_of(st.none(), st.integers(1, 30)),
    st.booleans(),
    st.integers(0, 4),
    st.booleans(),
    st.integers(0, 4),
)
def test_a_new_plan_asks_exactly_what_its_rules_say(videos, every_days, budget, per_region, extra_quiet, stopped, catching_up):
    # Videos "v00".."v59", in the set's order, with their last state (None: never answered; a failed one holds
    # no answer) and whether an event announced them.
    policy = refresh.RefreshPolicy(every_days=every_days, budget=budget, per_region=per_region, quiet_days=every_days + extra_quiet)
    ids = [f"v{n:02d}" for n in range(len(videos))][::-1]  # the set's order is not the ids' order
    last = {
        video_id: {
            "status": state[0],
            "answered_on": None if state[0] == "failed" else DAY - dt.timedelta(days=state[1]),
            "stickers": state[2],
        }
        for video_id, (_, state, _) in zip(ids, videos, strict=True)
        if state is not None
    }
    frame = pd.DataFrame(
        {
            "region": pd.array([r for (r, s, _) in videos if s is not None], dtype="str"),
            "status": pd.array([last[v]["status"] for v in last], dtype="str"),
            "answer": pd.array([None if last[v]["status"] == "failed" else "answered" for v in last], dtype="str"),
            "answered_on": pd.to_datetime(pd.Series([last[v]["answered_on"] for v in last], dtype="object"))
            .astype("datetime64[ns]")
            .to_numpy(),
            "stickers": np.asarray([last[v]["stickers"] for v in last], dtype="int32"),
        },
        index=pd.Index(list(last), name="video_id", dtype="str"),
    )
    announced = {v for v, (_, _, event) in zip(ids, videos, strict=True) if event}
    members = VideoSet(ids=ids, regions=[region for region, _, _ in videos])
    # Events arriving: videos without stickers on the quiet cadence; stopped: every K days, those already
    # older than K caught up over the days (their due age lowered step by step)
    bare_days = policy.every_days if stopped else policy.bare_days
    bare_due = max(policy.every_days, policy.bare_days - catching_up) if stopped else policy.bare_days
    groups = pd.factorize(pd.Series(members.regions, dtype="object"))[0] if per_region else [0] * len(ids)
    asks, over = refresh._choose(
        DAY,
        id_array(ids),
        np.asarray(groups, dtype=np.int64),
        frame,
        np.isin(ids, list(announced)),
        policy,
        bare_days,
        bare_due,
    )
    expected, expected_over = _plan_by_hand(DAY, list(zip(ids, members.regions, strict=True)), last, announced, policy, bare_days, bare_due)
    assert list(asks.items()) == list(expected.items())
    assert over == expected_over


def test_a_day_whose_set_is_empty_is_fetched_and_kept_empty(service, layout):
    # An account with no live video yet (discovery found none): the day is fetched, asks nothing, and its
    # state and snapshot are empty rather than the fetch failing after its plan.
    from pipeline.store.videos import write_video_set

    write_video_set(layout.day_videos(DAY), [], [])
    with make_client(service) as client:
        summary = snapshot.fetch_day(layout, DAY, client, today=DAY)
    assert (summary.asked, summary.carried) == (0, 0)
    assert raw.read_state(layout.day_state(DAY)).empty
    snapshot.normalize_day(layout, DAY)
    assert fetches(layout, DAY).empty
