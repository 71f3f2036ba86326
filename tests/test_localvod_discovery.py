"""The local VOD service's discovery actions (GetVideoList, SearchMedia, GetVideoInfos) and its regions,
over real HTTP: the rules a client walking an account's videos would notice."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from localvod import Catalog, LocalVodAccount, LocalVodService, ServiceConfig, catalog_ids
from localvod.cli import _service_config, build_parser
from tests.test_localvod import assert_error, call_rpc, rpc_params

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def call(session: requests.Session, endpoint: str, action: str, key_id: str | None = None, **params) -> requests.Response:
    """One signed RPC call of ``action`` with ``params`` (ints are sent as text)."""
    given = {name: str(value) for name, value in params.items()}
    if key_id is not None:
        given["AccessKeyId"] = key_id
    return call_rpc(session, endpoint, rpc_params(None, Action=action, **given))


def ok(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def stamp(unix_seconds: int) -> str:
    return dt.datetime.fromtimestamp(unix_seconds, dt.UTC).strftime(TIME_FORMAT)


def listed(body: dict) -> list[str]:
    return [v["VideoId"] for v in body.get("VideoList", {}).get("Video", [])]


def searched(body: dict) -> list[str]:
    return [m["MediaId"] for m in body["MediaList"]]


def in_order(catalog: Catalog) -> list[str]:
    """Every video id in ascending (CreationTime, VideoId) order."""
    return sorted(catalog.video_ids(), key=lambda v: (catalog.creation_time(v), v))


@pytest.fixture(scope="module")
def service():
    with LocalVodService(ServiceConfig(catalog_size=300, same_second_videos=4)) as svc:
        yield svc


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


@pytest.fixture
def start():
    """Start services or accounts; all are stopped after the test."""
    started = []

    def _start(thing):
        started.append(thing.start())
        return thing

    yield _start
    for thing in started:
        thing.stop()


# --- GetVideoList --------------------------------------------------------------------------------------------


def test_video_list_window_is_inclusive_at_both_ends(service, session):
    ordered = in_order(service.catalog)
    first, last = ordered[100], ordered[140]
    start, end = service.catalog.creation_time(first), service.catalog.creation_time(last)
    body = ok(call(session, service.endpoint, "GetVideoList", StartTime=stamp(start), EndTime=stamp(end), PageSize=100))
    expected = [v for v in ordered if start <= service.catalog.creation_time(v) <= end]
    assert first in listed(body) and last in listed(body)
    assert listed(body) == expected[::-1]  # CreationTime:Desc by default
    assert body["Total"] == len(expected)
    video = body["VideoList"]["Video"][0]
    assert isinstance(video["CateId"], int) and isinstance(video["Size"], int) and isinstance(video["Duration"], float)
    assert video["Snapshots"] == {"Snapshot": [video["CoverURL"]]}
    assert video["StorageLocation"].endswith(".oss-cn-shanghai.aliyuncs.com") and video["AppId"] == "app-1000000"


def test_video_list_sorts_ascending_with_ties_broken_by_video_id(service, session):
    pages = [
        listed(ok(call(session, service.endpoint, "GetVideoList", SortBy="CreationTime:Asc", PageNo=n, PageSize=100))) for n in (1, 2, 3)
    ]
    ascending = [v for page in pages for v in page]
    assert ascending == in_order(service.catalog)
    same = [v for v in ascending if service.catalog.creation_time(v) == service.catalog.creation_time(ascending[0])]
    descending = listed(ok(call(session, service.endpoint, "GetVideoList", SortBy="CreationTime:Desc", PageSize=100)))
    assert descending == ascending[::-1][:100]
    assert same == sorted(same)


def test_video_list_filters_on_status(service, session):
    body = ok(call(session, service.endpoint, "GetVideoList", Status="Blocked,Checking,Normal", PageSize=100))
    expected = [v for v in in_order(service.catalog) if service.catalog.video(v)["Status"] in ("Blocked", "Checking", "Normal")]
    assert listed(body) == expected[::-1][:100] and body["Total"] == len(expected) < 300
    assert ok(call(session, service.endpoint, "GetVideoList"))["Total"] == 300


def test_video_list_without_a_match_has_no_video_list(service, session):
    body = ok(call(session, service.endpoint, "GetVideoList", StartTime="2030-01-01T00:00:00Z"))
    assert body["Total"] == 0 and "VideoList" not in body and set(body) == {"RequestId", "Total"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"StartTime": "2024-01-01 00:00:00"}, "StartTime"),
        ({"EndTime": "2024-13-01T00:00:00Z"}, "EndTime"),
        ({"StartTime": "2024-01-01T00:00:00Z", "EndTime": "2024-01-01T00:00:00Z"}, "EndTime"),
        ({"PageSize": 101}, "PageSize"),
        ({"PageSize": 0}, "PageSize"),
        ({"PageNo": 0}, "PageNo"),
        ({"SortBy": "Title:Asc"}, "SortBy"),
    ],
)
def test_video_list_refuses_bad_parameters_by_name(service, session, params, named):
    body = assert_error(call(session, service.endpoint, "GetVideoList", **params), 400, "InvalidParameter")
    assert body["Message"] == f"The specified parameter {named} is not valid."


@pytest.mark.server
def test_only_the_first_5000_matches_can_be_listed(start, session):
    svc = start(LocalVodService(ServiceConfig(catalog_size=5100)))
    last = ok(call(session, svc.endpoint, "GetVideoList", PageNo=50, PageSize=100))
    assert len(listed(last)) == 100 and last["Total"] == 5100  # Total is not capped
    straddling = ok(call(session, svc.endpoint, "GetVideoList", PageNo=167, PageSize=30))  # matches 4980..5009
    assert len(listed(straddling)) == 20
    beyond = assert_error(call(session, svc.endpoint, "GetVideoList", PageNo=51, PageSize=100), 400, "VideoListExceededMax")
    assert beyond["Message"] == "The video list exceeded maximum."


# --- SearchMedia ---------------------------------------------------------------------------------------------


def test_search_match_forms(service, session):
    catalog, ordered = service.catalog, in_order(service.catalog)
    times = [catalog.creation_time(v) for v in ordered]
    a, b = stamp(times[50]), stamp(times[60])

    def hits(match: str, **params) -> list[str]:
        return searched(ok(call(session, service.endpoint, "SearchMedia", Match=match, PageSize=100, **params)))

    closed = [v for v, t in zip(ordered, times, strict=True) if times[50] <= t <= times[60]]
    assert hits(f"CreationTime = ['{a}','{b}']", SortBy="CreationTime:Asc") == closed
    assert set(hits(f"CreationTime = ('{a}','{b}')")) == {v for v in closed if times[50] < catalog.creation_time(v) < times[60]}
    assert len(hits(f"CreationTime = ('{stamp(times[-5])}',)")) == sum(t > times[-5] for t in times)
    assert len(hits(f"CreationTime = (,'{a}']")) == sum(t <= times[50] for t in times)
    assert hits(f"VideoId = '{ordered[7]}'") == [ordered[7]]
    assert set(hits(f"VideoId in ('{ordered[1]}','{ordered[2]}','{'f' * 32}')")) == {ordered[1], ordered[2]}
    assert set(hits(f"Status in ('Blocked') and CreationTime = ['{a}',]")) == {
        v for v in ordered if catalog.video(v)["Status"] == "Blocked" and catalog.creation_time(v) >= times[50]
    }
    assert len(hits("")) == 100


@pytest.mark.parametrize(
    ("match", "part"),
    [
        ("Title = 'x'", "Title"),
        ("VideoId = abc", "VideoId"),
        ("VideoId in ('a','b'", "VideoId"),
        ("CreationTime = ('2024-01-01T00:00:00Z')", "CreationTime"),
        ("CreationTime = ('2024-01-01','2024-02-01T00:00:00Z')", "CreationTime"),
        ("Status in ('Normal') Status in ('Blocked')", "Status"),
        ("VideoId in (" + ",".join(f"'{i}'" for i in range(101)) + ")", "VideoId"),
    ],
)
def test_search_refuses_a_malformed_match(service, session, match, part):
    body = assert_error(call(session, service.endpoint, "SearchMedia", Match=match), 400, "ErrorMatchSyntax")
    assert body["Message"] == f"The parameter Match.{part} has an error syntax, please check it."


def test_search_answer_shape_and_fields(service, session):
    body = ok(call(session, service.endpoint, "SearchMedia", PageSize=3))
    assert set(body) == {"RequestId", "Total", "ScrollToken", "MediaList"} and body["Total"] == 300
    assert len(body["ScrollToken"]) == 32 and int(body["ScrollToken"], 16) >= 0
    media = body["MediaList"][0]
    assert media["MediaType"] == "video" and media["Video"]["VideoId"] == media["MediaId"]
    assert set(media["Video"]) == {"VideoId", "CreationTime"}  # without Fields, the protocol's minimum
    wide = ok(call(session, service.endpoint, "SearchMedia", PageSize=3, Fields="Snapshots,CoverURL"))
    assert wide["MediaList"][0]["Video"]["Snapshots"] == [wide["MediaList"][0]["Video"]["CoverURL"]]
    narrow = ok(call(session, service.endpoint, "SearchMedia", PageSize=3, Fields="Title,Status"))
    assert set(narrow["MediaList"][0]["Video"]) == {"VideoId", "Title", "Status"}
    images = ok(call(session, service.endpoint, "SearchMedia", SearchType="image"))
    assert images["Total"] == 0 and images["MediaList"] == []


@pytest.mark.server
def test_scroll_token_walks_past_5000_returning_every_video_once(start, session):
    svc = start(LocalVodService(ServiceConfig(catalog_size=5250, search_media_calls_per_second=None)))
    first = ok(call(session, svc.endpoint, "SearchMedia", PageSize=100, SortBy="CreationTime:Asc"))
    token, seen, page = first["ScrollToken"], searched(first), 1
    while True:
        page += 1
        body = ok(call(session, svc.endpoint, "SearchMedia", PageSize=100, PageNo=page, ScrollToken=token))
        if not body["MediaList"]:
            break
        seen += searched(body)
        assert body["Total"] == 5250 and body["ScrollToken"] == token
    assert seen == in_order(svc.catalog)
    assert_error(call(session, svc.endpoint, "SearchMedia", PageSize=100, PageNo=51), 400, "VideoListExceededMax")


def test_scroll_token_walks_a_status_filter_in_descending_order(service, session):
    first = ok(call(session, service.endpoint, "SearchMedia", PageSize=50, Match="Status in ('Normal','Checking')"))
    seen, page = searched(first), 1
    while len(seen) < first["Total"]:
        page += 1
        body = ok(call(session, service.endpoint, "SearchMedia", PageSize=50, PageNo=page, ScrollToken=first["ScrollToken"]))
        assert body["MediaList"]
        seen += searched(body)
    expected = [v for v in in_order(service.catalog) if service.catalog.video(v)["Status"] in ("Normal", "Checking")]
    assert seen == expected[::-1]


def test_scroll_token_may_jump_at_most_100_records_and_retry_its_page(service, session):
    def fresh() -> str:
        return ok(call(session, service.endpoint, "SearchMedia", PageSize=20))["ScrollToken"]

    everything = searched(ok(call(session, service.endpoint, "SearchMedia", PageSize=100, PageNo=2)))
    token = fresh()  # served records 0..19; page 7 starts at 120: 100 records skipped
    jumped = ok(call(session, service.endpoint, "SearchMedia", PageSize=20, PageNo=7, ScrollToken=token))
    assert searched(jumped) == everything[20:40]
    again = ok(call(session, service.endpoint, "SearchMedia", PageSize=20, PageNo=7, ScrollToken=token))
    assert searched(again) == searched(jumped)  # a retry of the same page
    refused = call(session, service.endpoint, "SearchMedia", PageSize=20, PageNo=8, ScrollToken=fresh())
    assert assert_error(refused, 400, "InvalidParameter")["Message"] == "The specified parameter PageNo is not valid."


@pytest.mark.server
def test_scroll_token_expires(start, session):
    svc = start(LocalVodService(ServiceConfig(catalog_size=50, scroll_token_ttl_s=0)))
    token = ok(call(session, svc.endpoint, "SearchMedia", PageSize=10))["ScrollToken"]
    for stale in (token, "0" * 32):
        body = assert_error(
            call(session, svc.endpoint, "SearchMedia", PageSize=10, PageNo=2, ScrollToken=stale),
            400,
            "InvalidScrollToken.Expired",
        )
        assert body["Message"] == "The ScrollToken is expired, please refresh it."


# --- GetVideoInfos -------------------------------------------------------------------------------------------


def test_video_infos_names_the_videos_it_does_not_hold(service, session):
    ids = service.catalog.video_ids()[:3]
    body = ok(call(session, service.endpoint, "GetVideoInfos", VideoIds=",".join([*ids, "f" * 32])))
    assert [v["VideoId"] for v in body["VideoList"]] == ids and body["NonExistVideoIds"] == ["f" * 32]
    assert body["VideoList"][0] == service.catalog.video(ids[0])
    none = ok(call(session, service.endpoint, "GetVideoInfos", VideoIds="e" * 32))
    assert none["VideoList"] == [] and none["NonExistVideoIds"] == ["e" * 32]


def test_video_infos_takes_at_most_20_ids(service, session):
    ids = service.catalog.video_ids()
    assert len(ok(call(session, service.endpoint, "GetVideoInfos", VideoIds=",".join(ids[:20])))["VideoList"]) == 20
    refused = call(session, service.endpoint, "GetVideoInfos", VideoIds=",".join(ids[:21]))
    assert assert_error(refused, 400, "InvalidParameter")["Message"] == "The specified parameter VideoIds is not valid."


# --- changes, faults, stats ----------------------------------------------------------------------------------


@pytest.mark.server
def test_uploads_and_deletions_show_in_every_action(start, session):
    svc = start(LocalVodService(ServiceConfig(catalog_size=40)))
    at = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    new = svc.catalog.upload(2, at=at)
    window = {"StartTime": stamp(int(at.timestamp())), "EndTime": "2030-01-03T00:00:00Z"}
    assert set(listed(ok(call(session, svc.endpoint, "GetVideoList", **window)))) == set(new)
    assert set(searched(ok(call(session, svc.endpoint, "SearchMedia", Match="CreationTime = ('2030-01-01T00:00:00Z',)")))) == set(new)
    info = ok(call(session, svc.endpoint, "GetVideoInfos", VideoIds=new[0]))["VideoList"][0]
    assert info["CreationTime"] == "2030-01-02T03:04:05Z"
    stickers = ok(call(session, svc.endpoint, "ListDynamicImage", VideoId=new[0]))["DynamicImageList"]
    assert all(s["CreationTime"] >= info["CreationTime"] for s in stickers)

    gone = svc.catalog.video_ids()[0]
    svc.catalog.delete(gone)
    svc.catalog.delete(new[1])
    assert ok(call(session, svc.endpoint, "GetVideoList", PageSize=100))["Total"] == 40
    assert gone not in listed(ok(call(session, svc.endpoint, "GetVideoList", PageSize=100)))
    assert ok(call(session, svc.endpoint, "SearchMedia", Match=f"VideoId in ('{gone}','{new[1]}')"))["MediaList"] == []
    assert ok(call(session, svc.endpoint, "GetVideoInfos", VideoIds=gone))["NonExistVideoIds"] == [gone]
    assert_error(call(session, svc.endpoint, "ListDynamicImage", VideoId=gone), 404, "InvalidVideo.NotFound")


def test_catalog_is_deterministic_for_a_seed_and_a_sequence_of_changes():
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def changed(seed: int) -> Catalog:
        catalog = Catalog(size=30, seed=seed, region="eu-central-1")
        catalog.delete(catalog.video_ids()[3])
        catalog.upload(3, at=at)
        return catalog

    one, two = changed(5), changed(5)
    assert one.video_ids() == two.video_ids() and len(one) == 32
    assert [one.video(v) for v in one.video_ids()] == [two.video(v) for v in two.video_ids()]
    assert one.stickers(one.video_ids()[-1], 0) == two.stickers(two.video_ids()[-1], 0)
    assert changed(6).video_ids() != one.video_ids()


def test_same_second_videos_share_one_creation_second(service, session):
    shared = service.catalog.creation_time(service.catalog.video_ids()[0])
    second = f"['{stamp(shared)}','{stamp(shared)}']"
    body = ok(call(session, service.endpoint, "SearchMedia", Match=f"CreationTime = {second}"))
    assert sorted(searched(body)) == sorted(service.catalog.video_ids()[:4])


@pytest.mark.server
def test_injected_faults_and_stats_cover_every_action(start, session):
    svc = start(LocalVodService(ServiceConfig(catalog_size=20, server_error_rate=1.0)))
    assert call(session, svc.endpoint, "GetVideoList").status_code in (500, 503)
    calm = start(LocalVodService(ServiceConfig(catalog_size=20)))
    ok(call(session, calm.endpoint, "GetVideoList"))
    assert_error(call(session, calm.endpoint, "GetVideoList", PageNo=0), 400, "InvalidParameter")
    ok(call(session, calm.endpoint, "ListDynamicImage", VideoId=calm.catalog.video_ids()[0]))
    assert_error(call(session, calm.endpoint, "DescribeRegions"), 404, "InvalidAction.NotFound")
    stats = calm.stats
    assert stats["actions"]["GetVideoList"] == {"answered": 1, "not_found": 0, "rejected": 1, "throttled": 0, "faults": 0}
    assert stats["actions"]["ListDynamicImage"]["answered"] == 1 and stats["answered"] == 2
    assert svc.stats["actions"]["GetVideoList"]["faults"] == 1
    assert len(calm.answer_times("GetVideoList")) == 2 and len(calm.answer_times("SearchMedia")) == 0


# --- regions -------------------------------------------------------------------------------------------------


@pytest.mark.server
def test_regions_have_their_own_endpoints_and_disjoint_ids(start, session):
    account = start(LocalVodAccount(ServiceConfig(catalog_size=30), ["cn-shanghai", "ap-southeast-1"]))
    shanghai, singapore = account.services["cn-shanghai"], account.services["ap-southeast-1"]
    assert set(account.endpoints) == {"cn-shanghai", "ap-southeast-1"}
    assert account.endpoints["cn-shanghai"] != account.endpoints["ap-southeast-1"]
    assert shanghai.catalog.video_ids() == catalog_ids(7, 30)  # the default region keeps its ids
    assert singapore.catalog.video_ids() == catalog_ids(7, 30, region="ap-southeast-1")
    assert not set(shanghai.catalog.video_ids()) & set(singapore.catalog.video_ids())
    foreign = shanghai.catalog.video_ids()[:2]
    body = ok(call(session, account.endpoints["ap-southeast-1"], "GetVideoInfos", VideoIds=",".join(foreign)))
    assert body["NonExistVideoIds"] == foreign
    listed_there = ok(call(session, account.endpoints["ap-southeast-1"], "GetVideoList", PageSize=1))
    assert listed_there["VideoList"]["Video"][0]["StorageLocation"].endswith(".oss-ap-southeast-1.aliyuncs.com")
    new = account.upload("ap-southeast-1")[0]
    account.delete(shanghai.catalog.video_ids()[0])
    assert new in singapore.catalog and len(shanghai.catalog) == 29
    assert set(account.stats) == {"cn-shanghai", "ap-southeast-1"}


@pytest.mark.parametrize(("shared", "admitted"), [(True, 3), (False, 6)])
@pytest.mark.server
def test_shared_limits_are_one_budget_for_every_region(start, session, shared, admitted):
    config = ServiceConfig(catalog_size=10, calls_per_second=3, flow_control="sliding_window")
    account = start(LocalVodAccount(config, ["cn-shanghai", "cn-beijing"], shared_limits=shared))
    codes = {region: [] for region in account.endpoints}
    for _ in range(5):
        for region, endpoint in account.endpoints.items():
            video = account.services[region].catalog.video_ids()[0]
            codes[region].append(call(session, endpoint, "ListDynamicImage", VideoId=video).status_code)
    assert sum(c == 200 for cs in codes.values() for c in cs) == admitted
    assert all(c in (200, 400) for cs in codes.values() for c in cs)
    throttled = sum(stats["throttled"] for stats in account.stats.values())
    assert throttled == 10 - admitted


@pytest.mark.server
def test_a_region_with_its_own_access_key_refuses_the_shared_one(start, session):
    account = start(LocalVodAccount(ServiceConfig(catalog_size=10), {"cn-shanghai": {}, "ap-southeast-1": {"access_key_id": "other"}}))
    ok(call(session, account.endpoints["cn-shanghai"], "GetVideoList"))
    refused = call(session, account.endpoints["ap-southeast-1"], "GetVideoList")
    assert_error(refused, 404, "InvalidAccessKeyId.NotFound")
    ok(call(session, account.endpoints["ap-southeast-1"], "GetVideoList", key_id="other"))


def test_serve_takes_regions_and_same_second_videos():
    args = build_parser().parse_args(["serve", "--regions", "cn-shanghai,ap-southeast-1", "--separate-limits", "--same-second-videos", "3"])
    assert (args.regions, args.separate_limits) == ("cn-shanghai,ap-southeast-1", True)
    assert _service_config(args).same_second_videos == 3
    plain = build_parser().parse_args(["serve"])
    assert (plain.regions, plain.separate_limits, _service_config(plain).same_second_videos) == (None, False, 0)
