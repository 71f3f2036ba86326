"""Knowing the account: its videos discovered in every region, past VOD's 5,000 cap, new ones found by the
next walk, deleted ones by the full walk; each video fetched in its region and every lake row saying it."""

import datetime as dt

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from localvod import LocalVodAccount, ServiceConfig
from pipeline import snapshot
from pipeline.errors import ConfigurationError
from pipeline.settings import VodSettings, endpoints_from_env, source_from_env, vod_from_env
from pipeline.store import lake
from pipeline.store.videos import read_video_set, write_video_set
from pipeline.vod.client import Credentials
from pipeline.vod.errors import CredentialsRejected, PermissionDenied, UnusableListing
from tests.conftest import KEY_ID, KEY_SECRET, TODAY
from tests.test_report import svg_texts

DAY1, DAY2 = TODAY - dt.timedelta(days=1), TODAY
REGIONS = ("cn-shanghai", "ap-southeast-1")


def account(*, regions=REGIONS, shared_limits=True, **config):
    base = {"access_key_id": KEY_ID, "access_key_secret": KEY_SECRET, "calls_per_second": None, "catalog_size": 120, **config}
    return LocalVodAccount(ServiceConfig(**base), regions, shared_limits=shared_limits)


def clients(local, **settings):
    return VodSettings(Credentials(KEY_ID, KEY_SECRET), endpoints=dict(local.endpoints), **settings).clients()


def catalog(local, region):
    return set(local.services[region].catalog.video_ids())


def discover(layout, local, day, **options):
    with clients(local) as by_region:
        return snapshot.discover_video_set(layout, day, by_region, today=day, **options)


def videos_table(layout, day):
    """The account's videos as the day's discovery left them (under staging/ until the day's audit)."""
    return lake.read_partition(layout, "videos", day, path=lake.staged_or_committed(layout, "videos", day))


@pytest.mark.server
def test_a_walk_finds_every_video_when_more_than_5000_were_created_within_one_second(layout):
    with account(regions=("cn-shanghai",), catalog_size=8000, same_second_videos=5200) as local:
        videos, found = discover(layout, local, DAY2)
        stats = local.services["cn-shanghai"].stats
    assert set(videos.ids) == catalog(local, "cn-shanghai")
    assert len(videos.ids) == 8000  # each once
    assert found.regions["cn-shanghai"].listed == 8000
    # the crowded second, and only it, was read with SearchMedia's ScrollToken
    assert 5200 / 100 <= stats["actions"]["SearchMedia"]["answered"] <= 5200 / 100 + 2
    titles = videos_table(layout, DAY2)["title"]
    assert titles.notna().all()  # SearchMedia was asked for the fields the table keeps


@pytest.mark.server
def test_a_video_deleted_while_the_pages_are_read_costs_no_other_video():
    from pipeline.vod import discovery

    with account(regions=("cn-shanghai",), catalog_size=450) as local, clients(local) as by_region:
        deleted = []

        def on_answer(region, action, params, answer):
            # right after the first page, delete one of its videos: every later page shifts by one, and
            # the video that moved onto the first page would fall between the pages
            if not deleted and params.get("PageNo") == "1":
                deleted.append(answer.document["VideoList"]["Video"][5]["VideoId"])
                local.delete(deleted[0])

        walked = discovery.walk_regions(by_region, {}, on_answer=on_answer)["cn-shanghai"]
        now = catalog(local, "cn-shanghai")
    assert now <= set(walked.videos) and len(now) == 449  # every video still there, the deleted one as read
    assert walked.rereads == 1


@pytest.mark.server
def test_discovery_retries_throttling_and_server_faults_like_the_fetch_and_loses_no_video(layout):
    # 0.2 of calls faulty: a call fails all six attempts once in 64,000 (at 0.4, once in 244, which a walk
    # of some hundred calls met on some days)
    with account(catalog_size=1500, server_error_rate=0.1, throttle_rate=0.1, retry_after_ms=10) as local:
        videos, found = discover(layout, local, DAY2)
        faults = sum(s["actions"]["GetVideoList"]["faults"] for s in local.stats.values())
    assert set(videos.ids) == catalog(local, "cn-shanghai") | catalog(local, "ap-southeast-1")
    assert faults > 0 and found.retries >= faults


@pytest.mark.server
def test_a_video_uploaded_between_two_runs_is_found_by_the_next_walk_without_walking_everything_again(layout):
    with account(catalog_size=900) as local:
        first, _ = discover(layout, local, DAY1)
        new = local.upload("ap-southeast-1", count=1)
        calls_before = sum(s["actions"]["GetVideoList"]["answered"] for s in local.stats.values())
        second, found = discover(layout, local, DAY2)
        calls = sum(s["actions"]["GetVideoList"]["answered"] for s in local.stats.values()) - calls_before
    assert set(second.ids) == set(first.ids) | set(new)
    assert second.regions[second.ids.index(new[0])] == "ap-southeast-1"
    assert {w.kind for w in found.regions.values()} == {"incremental"}
    assert found.regions["ap-southeast-1"].new == 1
    assert calls < 900 / 100  # not the whole account again
    table = videos_table(layout, DAY2).set_index("video_id")
    assert table.loc[new[0], "first_seen"] > table.loc[first.ids[0], "first_seen"]


@pytest.mark.server
def test_a_full_walk_notices_a_deleted_video_keeps_it_marked_and_leaves_it_out_of_the_day(layout):
    with account() as local:
        first, _ = discover(layout, local, DAY1)
        gone = first.ids[3]
        local.delete(gone)
        second, found = discover(layout, local, DAY2, full_walk_days=1)
    assert {w.kind for w in found.regions.values()} == {"full"}
    assert gone not in second.ids and len(second.ids) == len(first.ids) - 1
    assert sum(w.deleted for w in found.regions.values()) == 1
    table = videos_table(layout, DAY2).set_index("video_id")
    assert bool(table.loc[gone, "deleted_upstream"]) and pd.notna(table.loc[gone, "deleted_at"])
    assert not table.drop(index=gone)["deleted_upstream"].any()
    before = videos_table(layout, DAY1).set_index("video_id")
    # Listed again or not, every video keeps when it was first seen; only when it was last seen moves on
    assert table["first_seen"].sort_index().equals(before["first_seen"].sort_index())
    assert (table.drop(index=gone)["last_seen"] > before.drop(index=gone)["last_seen"]).all()
    assert list(table.sort_values(["region", "creation_time"], kind="stable").index) == list(table.index)  # the table's order


@pytest.mark.parametrize("not_found", ["list", "all"])
@pytest.mark.server
def test_a_deletion_is_confirmed_whichever_way_get_video_infos_answers_for_ids_it_does_not_know(layout, not_found):
    # VOD documents NonExistVideoIds and also InvalidVideo.NotFound, without saying when it answers which
    with account(regions=("cn-shanghai",), infos_not_found=not_found) as local:
        first, _ = discover(layout, local, DAY1)
        for video_id in first.ids[:3]:
            local.delete(video_id)
        second, found = discover(layout, local, DAY2, full_walk_days=1)
        asked = local.stats["cn-shanghai"]["actions"]["GetVideoInfos"]
    assert found.regions["cn-shanghai"].deleted == 3 and set(second.ids) == set(first.ids[3:])
    assert asked["answered"] + asked["rejected"] == (1 if not_found == "list" else 4)  # 20 ids a call; then one by one


@pytest.mark.server
def test_a_listing_that_ignores_start_time_stops_the_walk_instead_of_going_round_forever(layout):
    with account(regions=("cn-shanghai",), catalog_size=5200, list_ignores_start_time=True) as local:
        with pytest.raises(UnusableListing, match=r"^VOD \(cn-shanghai\) answered UnusableListing: GetVideoList listed video"):
            discover(layout, local, DAY2)
        calls = local.stats["cn-shanghai"]["actions"]["GetVideoList"]["answered"]
    assert calls <= 2 * 50  # the second window showed it: no third
    assert not layout.day_videos(DAY2).exists()


@pytest.mark.server
def test_a_scroll_token_expiring_mid_walk_restarts_the_crowded_walk_then_stops_with_a_clear_message(layout):
    # the token outlives no request here: every walk of the crowded second fails on its second page
    with account(regions=("cn-shanghai",), catalog_size=5600, same_second_videos=5200, scroll_token_ttl_s=0.0) as local:
        with pytest.raises(
            UnusableListing,
            match=r"^VOD \(cn-shanghai\) answered UnusableListing: SearchMedia's ScrollToken expired during each of 4 walks",
        ):
            discover(layout, local, DAY2)
        search = local.stats["cn-shanghai"]["actions"]["SearchMedia"]
    assert (search["answered"], search["rejected"]) == (4, 4)  # four first pages, four expired second pages


@pytest.mark.server
def test_a_permission_taken_away_mid_walk_stops_every_region_at_once_with_its_error(layout):
    with account(catalog_size=3000, forbidden_after_calls=12) as local:  # 30 pages a region
        with pytest.raises(PermissionDenied, match=r"^VOD \((cn-shanghai|ap-southeast-1)\) answered Forbidden"):
            discover(layout, local, DAY2)
        calls = sum(s["requests"] for s in local.stats.values())
    assert calls < 2 * 30  # the pages after the refusal were never asked


@pytest.mark.server
def test_a_lake_restored_without_the_videos_table_gets_a_full_walk_not_an_account_of_new_videos_only(layout):
    import shutil

    with account() as local:
        first, _ = discover(layout, local, DAY1)
        shutil.rmtree(layout.staging_root / "videos")  # the raw walk summaries say a full walk was done
        second, found = discover(layout, local, DAY2)
    assert {w.kind for w in found.regions.values()} == {"full"}
    assert set(second.ids) == set(first.ids)


@pytest.mark.server
def test_the_incremental_walk_does_not_notice_deletions_until_the_weekly_full_walk(layout):
    with account() as local:
        first, _ = discover(layout, local, DAY1)
        local.delete(first.ids[0])
        _, found = discover(layout, local, DAY2)  # default: a full walk every 7 days
    table = videos_table(layout, DAY2).set_index("video_id")
    assert {w.kind for w in found.regions.values()} == {"incremental"}
    assert not bool(table.loc[first.ids[0], "deleted_upstream"])  # still known: ListDynamicImage will say not found


@pytest.mark.server
def test_a_region_whose_credentials_are_refused_stops_the_walk_with_one_message_naming_it(layout):
    with account(regions={"cn-shanghai": {}, "ap-southeast-1": {"access_key_id": "another-account-key"}}) as local:
        with pytest.raises(CredentialsRejected) as caught:
            discover(layout, local, DAY2)
    message = str(caught.value)
    assert message.startswith("VOD (ap-southeast-1) answered InvalidAccessKeyId.NotFound")
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in message
    assert not layout.day_videos(DAY2).exists()  # no video set for the day from half an account


@pytest.mark.server
def test_a_day_over_two_regions_asks_each_video_in_its_own_region_and_every_lake_row_says_it(layout):
    with account(catalog_size=150) as local:
        videos, _ = discover(layout, local, DAY2)
        with clients(local) as by_region:
            summary = snapshot.fetch_day(layout, DAY2, by_region, concurrency=8, today=DAY2)
        snapshot.normalize_day(layout, DAY2)
        answered = {r: local.services[r].stats["actions"]["ListDynamicImage"]["answered"] for r in REGIONS}
    assert summary.asked == 300 and summary.answered == 300
    assert answered == {"cn-shanghai": 150, "ap-southeast-1": 150}  # never asked in the wrong region
    home = {v: r for r in REGIONS for v in catalog(local, r)}
    for table in ("video_fetches", "stickers", "videos"):
        rows = pq.read_table(lake.partition_path(layout, table, DAY2), columns=["video_id", "region"]).to_pandas()
        assert len(rows) and (rows["region"] == rows["video_id"].map(home)).all(), table


@pytest.mark.server
def test_a_day_written_before_regions_were_recorded_still_publishes_with_a_null_region(layout):
    from pipeline.publish import warehouse

    with account(regions=("cn-shanghai",), catalog_size=50) as local, clients(local) as by_region:
        discover(layout, local, DAY2)
        snapshot.fetch_day(layout, DAY2, by_region, today=DAY2)
        snapshot.normalize_day(layout, DAY2)
    for table in ("stickers", "quarantine", "video_fetches"):  # as the pipeline wrote them before
        path = lake.partition_path(layout, table, DAY2)
        pq.write_table(pq.read_table(path).drop_columns(["region"]), path)
    counts = warehouse.publish(layout)
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        regions = con.execute("SELECT count(*), count(region) FROM video_sticker_stats").fetchone()
        stickers = con.execute("SELECT count(*), count(region) FROM latest_stickers").fetchone()
    assert regions == (50, 0) and stickers == (counts["stickers"], 0) and counts["stickers"] > 0


def test_regions_sharing_the_budget_are_interleaved_by_need_so_they_finish_together():
    from pipeline.vod.fetch import by_need

    ids = [f"a{i}" for i in range(300)] + [f"b{i}" for i in range(100)]
    order = [region for region, _ in by_need(ids, ["a"] * 300 + ["b"] * 100)]
    assert sorted(order) == ["a"] * 300 + ["b"] * 100
    for first in (100, 200, 400):  # at any point, each region has had its share of the calls
        assert order[:first].count("a") == pytest.approx(first * 3 / 4, abs=1)


@pytest.mark.server
def test_with_a_budget_each_a_slow_region_never_holds_another_back(layout):
    # ap-southeast-1 answers in 150 ms, cn-shanghai at once: in one queue, the slow region's calls would
    # take every worker in turn and hold cn-shanghai to its pace
    regions = {"cn-shanghai": {}, "ap-southeast-1": {"latency_ms": 150.0, "latency_sigma": 0.01}}
    with account(regions=regions, shared_limits=False, catalog_size=40) as local:
        videos = [(v, r) for r in REGIONS for v in sorted(catalog(local, r))]
        write_video_set(layout.day_videos(DAY2), [v for v, _ in videos], [r for _, r in videos])
        with clients(local, shared_limits=False, concurrency=2) as by_region:
            summary = snapshot.fetch_day(layout, DAY2, by_region, concurrency=2, today=DAY2)
        fast, slow = (local.services[r].answer_times() for r in REGIONS)
    assert summary.answered == 80
    assert max(fast) < sorted(slow)[len(slow) // 4]  # all of cn-shanghai before a quarter of the slow region


def test_through_dagster_the_account_is_discovered_and_analysts_see_titles_next_to_sticker_counts(env, instance):
    from tests.test_dagster import run_day

    with account(catalog_size=60) as local:
        layout = env(
            local.services["cn-shanghai"],
            VIDEO_SOURCE="vod",
            VOD_ENDPOINT=None,
            VOD_REGIONS=",".join(REGIONS),
            VOD_ENDPOINTS=",".join(f"{r}={e}" for r, e in local.endpoints.items()),
        )
        run_day(instance, day=TODAY.isoformat())
        titles = {v: local.services[r].catalog.video(v)["Title"] for r in REGIONS for v in catalog(local, r)}
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        stats = con.execute("SELECT video_id, region, title, stickers FROM video_sticker_stats").df()
        videos = con.execute("SELECT count(*), count(DISTINCT region) FROM videos WHERE NOT deleted_upstream").fetchone()
    assert len(stats) == 120 and videos == (120, 2)
    assert (stats["title"] == stats["video_id"].map(titles)).all()
    top = stats.sort_values(["stickers", "video_id"], ascending=[False, True]).iloc[0]
    report = layout.report(TODAY).read_text(encoding="utf-8")
    assert f"{top['title'][:40]} ({top['video_id'][:8]})" in report


def test_through_dagster_a_region_refusing_the_credentials_fails_the_run_with_one_line_naming_it(env, instance):
    from tests.test_dagster import run_day

    with account(regions={"cn-shanghai": {}, "ap-southeast-1": {"access_key_id": "another-account-key"}}) as local:
        env(
            local.services["cn-shanghai"],
            VIDEO_SOURCE="vod",
            VOD_ENDPOINT=None,
            VOD_REGIONS=",".join(REGIONS),
            VOD_ENDPOINTS=",".join(f"{r}={e}" for r, e in local.endpoints.items()),
        )
        result = run_day(instance, day=TODAY.isoformat(), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    first_line = failure.event_specific_data.error.message.splitlines()[0]
    assert failure.step_key == "videos"
    assert "VOD (ap-southeast-1) refused the call with InvalidAccessKeyId.NotFound: check ALIBABA_CLOUD_ACCESS_KEY_ID" in first_line


@pytest.mark.server
def test_a_day_set_kept_before_regions_were_recorded_is_fetched_in_the_deployment_region(layout):
    with account(regions=("ap-southeast-1",), catalog_size=30) as local, clients(local) as by_region:
        ids = sorted(catalog(local, "ap-southeast-1"))
        layout.day_videos(DAY2).parent.mkdir(parents=True)
        layout.day_videos(DAY2).write_text("video_id\n" + "".join(f"{i}\n" for i in ids))  # as written before
        summary = snapshot.fetch_day(layout, DAY2, by_region, today=DAY2)
    assert summary.answered == 30


def test_videos_csv_names_each_video_region_and_a_contradiction_stops_before_any_call(tmp_path):
    path = tmp_path / "videos.csv"
    path.write_text("video_id,region\nv1,cn-shanghai\nv2,ap-southeast-1\n", encoding="utf-8")
    videos = read_video_set(path, REGIONS)
    assert list(zip(videos.ids, videos.regions, strict=True)) == [("v1", "cn-shanghai"), ("v2", "ap-southeast-1")]
    with pytest.raises(ConfigurationError, match=r"'ap-southeast-1' \(line 3\).*Add them to VOD_REGIONS"):
        read_video_set(path, ("cn-shanghai",))
    path.write_text("video_id\nv1\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="no region column, but VOD_REGIONS lists 2 regions"):
        read_video_set(path, REGIONS)
    assert read_video_set(path, ("ap-southeast-1",)).regions == ["ap-southeast-1"]


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        ({"VOD_REGION": "cn-beijing", "VOD_REGIONS": "cn-shanghai,ap-southeast-1"}, "disagree: set VOD_REGIONS alone"),
        ({"VOD_REGIONS": "cn-shanghai,mars-1"}, "Unknown VOD region 'mars-1'"),
        ({"VOD_REGIONS": "cn-shanghai,cn-shanghai"}, "lists a region twice"),
        ({"VOD_REGIONS": "cn-shanghai,cn-hangzhou"}, "served by one endpoint"),
        (
            {"VOD_REGIONS": "cn-shanghai", "VOD_ENDPOINTS": "ap-southeast-1=http://127.0.0.1:1"},
            "which VOD_REGIONS (cn-shanghai) does not list",
        ),
        ({"VOD_REGIONS": "cn-shanghai,ap-southeast-1", "VOD_ENDPOINT": "http://127.0.0.1:1"}, "VOD_ENDPOINT is for one region"),
        ({"VOD_ENDPOINTS": "cn-shanghai"}, "give region=address pairs"),
        ({"VOD_ENDPOINTS": "cn-shangai=http://127.0.0.1:1"}, "Unknown VOD region 'cn-shangai' (VOD_ENDPOINTS)"),
        ({"VOD_REGION": "cn-beijing", "VOD_ENDPOINT": "https://vod.ap-southeast-1.aliyuncs.com"}, "is ap-southeast-1's VOD host"),
    ],
)
def test_a_contradictory_region_setting_names_what_to_fix(variables, words):
    with pytest.raises(ConfigurationError) as caught:
        endpoints_from_env(variables)
    assert words in str(caught.value)


def test_an_endpoint_at_a_region_own_host_says_its_region_so_rows_are_not_mislabelled():
    assert endpoints_from_env({"VOD_ENDPOINT": "https://vod.ap-southeast-1.aliyuncs.com"}) == {
        "ap-southeast-1": "https://vod.ap-southeast-1.aliyuncs.com"
    }
    assert list(endpoints_from_env({"VOD_ENDPOINT": "http://127.0.0.1:18080"})) == ["cn-shanghai"]  # the default


def test_several_regions_each_get_their_address_and_share_one_budget_unless_told_otherwise():
    variables = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
        "VOD_REGIONS": "cn-shanghai,ap-southeast-1",
        "VOD_ENDPOINTS": "cn-shanghai=http://127.0.0.1:18080",
    }
    settings = vod_from_env(variables)
    assert settings.endpoints == {"cn-shanghai": "http://127.0.0.1:18080", "ap-southeast-1": "https://vod.ap-southeast-1.aliyuncs.com"}
    with settings.clients() as shared:
        assert shared["cn-shanghai"].limiter is shared["ap-southeast-1"].limiter
    with vod_from_env({**variables, "VOD_RATE_LIMITS": "per-region"}).clients() as separate:
        assert separate["cn-shanghai"].limiter is not separate["ap-southeast-1"].limiter
    with pytest.raises(ConfigurationError, match="VOD_RATE_LIMITS='both' is not one of shared, per-region"):
        vod_from_env({**variables, "VOD_RATE_LIMITS": "both"})
    with pytest.raises(ConfigurationError, match="VIDEO_SOURCE='api' is not one of csv, vod"):
        source_from_env({"VIDEO_SOURCE": "api"})


HOSTILE_IDS = {
    "with,comma": "a comma would split the day's set into another id and a region",
    "with\nnewline": "a line break would start a line of its own",
    "trailing-newline\n": "a pattern anchored with $ lets a trailing line break through",
    "x" * 65: "longer than VOD's ids",
    "émoji-😀": "not letters, digits, - and _",
}


@pytest.mark.server
def test_a_discovered_id_that_is_not_a_vod_video_id_is_set_aside_with_its_reason_and_the_day_goes_on(layout):
    from pipeline.publish import report, warehouse

    with account(regions=("cn-shanghai",), catalog_size=5) as local:
        titles = {"good-id_1": "Win $$ now", "good-id_2": "Top $10 & $20 deals", "good-id_3": r"$\alpha$ \$ {x}_1"}
        good = local.upload("cn-shanghai", count=3, ids=list(titles), titles=list(titles.values()))
        drawn = [v for v in good if local.services["cn-shanghai"].catalog.stickers(v, 0)]
        local.upload("cn-shanghai", count=len(HOSTILE_IDS), ids=list(HOSTILE_IDS), titles=["hostile"] * len(HOSTILE_IDS))
        videos, _ = discover(layout, local, DAY2)
        with clients(local) as by_region:
            summary = snapshot.fetch_day(layout, DAY2, by_region, concurrency=8, today=DAY2)
        asked = local.services["cn-shanghai"].stats["actions"]["ListDynamicImage"]
        expected = catalog(local, "cn-shanghai") - set(HOSTILE_IDS)
    # The day's set holds every well-formed id once, in its region; the day's copy reads back the same
    assert set(videos.ids) == expected and set(good) <= set(videos.ids) and len(videos.ids) == 8
    kept = snapshot.read_day_set(layout.day_videos(DAY2))
    assert (kept.ids, kept.regions) == (videos.ids, videos.regions) and set(kept.regions) == {"cn-shanghai"}
    # Each hostile id is set aside with where it came from and why, for the videos asset's log and metadata
    assert sorted(value for _, value, _ in videos.rejected) == sorted(HOSTILE_IDS)
    problems = "\n".join(videos.problems())
    assert "cn-shanghai: 'with,comma' is not a VOD video id (letters, digits, - and _ only)" in problems
    assert f"cn-shanghai: {'x' * 65!r} is not a VOD video id (at most 64 characters)" in problems
    # ... and never asked: the day goes on, every well-formed video fetched
    assert summary.asked == summary.answered == 8 and asked["answered"] + asked.get("rejected", 0) == 8
    report_ = snapshot.normalize_day(layout, DAY2)
    assert report_.videos == {"answered": 8}
    # The account's videos table keeps each as VOD listed it (Parquet holds any text exactly)
    table = lake.read_partition(layout, "videos", DAY2)
    assert set(HOSTILE_IDS) <= set(table["video_id"]) and len(table) == 8 + len(HOSTILE_IDS)
    warehouse.publish(layout)
    page = report.render(layout, DAY2).path.read_text(encoding="utf-8")
    # A title with $ is drawn as written, the day's report never broken by one (every video here is in its top 15)
    texts = [text for chart in report.draw_charts(report.read(layout.warehouse, DAY2)) for text in svg_texts(chart.svg)]
    assert drawn and all(f"{titles[v]} ({v[:8]})" in texts for v in drawn)
    assert "<svg" in page
