"""The local VOD service over real HTTP: signatures, errors, flow control, faults, and its catalog."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from urllib.parse import urlsplit

import pytest
import requests

from localvod import Catalog, LocalVodService, ServiceConfig, write_videos_csv
from localvod.cli import build_parser
from localvod.flow import FixedWindow, SlidingWindow, TokenBucket
from pipeline.vod import signing
from pipeline.vod.api import API_FIELDS
from tests.test_signing import VOD_DOC_PARAMS

KEY_ID = ServiceConfig.access_key_id
SECRET = ServiceConfig.access_key_secret
VERSION = "2017-03-21"


# --- signed requests, built here from pipeline.signing only ------------------------------------------------


def utc_stamp(offset_s: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rpc_params(video_id: str | None, *, method: str = "GET", secret: str = SECRET, **overrides: str | None) -> dict:
    """Signed RPC parameters for ListDynamicImage; an override of None removes that parameter."""
    params = {
        "Action": "ListDynamicImage",
        "Version": VERSION,
        "Format": "JSON",
        "AccessKeyId": KEY_ID,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": str(uuid.uuid4()),
        "Timestamp": utc_stamp(),
    }
    if video_id is not None:
        params["VideoId"] = video_id
    for name, value in overrides.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    params["Signature"] = signing.rpc_signature(method, params, secret)
    return params


def call_rpc(session: requests.Session, endpoint: str, params: dict, *, method: str = "GET", form: bool = False):
    if form:
        return session.post(
            endpoint + "/",
            data=signing.canonical_query(params),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    return session.request(method, endpoint + "/?" + signing.canonical_query(params))


def call_v3(
    session: requests.Session,
    endpoint: str,
    query: dict,
    *,
    secret: str = SECRET,
    extra_headers: dict | None = None,
    body: bytes = b"",
):
    headers = {
        "host": urlsplit(endpoint).netloc,
        "x-acs-action": "ListDynamicImage",
        "x-acs-version": VERSION,
        "x-acs-date": utc_stamp(),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        **(extra_headers or {}),
    }
    canonical = signing.acs3_canonical_request("POST", "/", query, headers, list(headers), headers["x-acs-content-sha256"])
    headers["Authorization"] = signing.acs3_authorization(KEY_ID, list(headers), signing.acs3_signature(canonical, secret))
    return session.post(endpoint + "/?" + signing.canonical_query(query), headers=headers, data=body)


def without_auth_key(items: list[dict]) -> list[dict]:
    return [{**item, "FileURL": item["FileURL"].split("?")[0]} for item in items]


def assert_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["Code"] == code
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    return body


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service():
    with LocalVodService(ServiceConfig()) as svc:
        yield svc


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="module")
def video_id(service) -> str:
    """A catalog video with several stickers."""
    return next(v for v in service.catalog.video_ids() if len(service.catalog.stickers(v, 0)) >= 3)


@pytest.fixture
def start():
    """Start services with a given config; all are stopped after the test."""
    started = []

    def _start(**config) -> LocalVodService:
        svc = LocalVodService(ServiceConfig(**config)).start()
        started.append(svc)
        return svc

    yield _start
    for svc in started:
        svc.stop()


# --- successful calls ----------------------------------------------------------------------------------------


def check_stickers(response: requests.Response, catalog: Catalog, video_id: str) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"RequestId", "DynamicImageList"}
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    items = body["DynamicImageList"]
    assert items and all(list(item) == list(API_FIELDS) for item in items)
    assert all(isinstance(value, str) for item in items for value in item.values())
    assert without_auth_key(items) == without_auth_key(catalog.stickers(video_id, 0))
    for item in items:
        url = urlsplit(item["FileURL"])
        signed_at, rand, uid, digest = url.query.removeprefix("auth_key=").split("-")
        assert abs(int(signed_at) - time.time()) < 60 and uid == "0"
        assert digest == hashlib.md5(f"{url.path}-{signed_at}-{rand}-0-{catalog.url_key}".encode()).hexdigest()


def test_rpc_get_returns_the_videos_stickers(service, session, video_id):
    check_stickers(call_rpc(session, service.endpoint, rpc_params(video_id)), service.catalog, video_id)


def test_rpc_post_with_form_body_returns_the_stickers(service, session, video_id):
    params = rpc_params(video_id, method="POST")
    check_stickers(call_rpc(session, service.endpoint, params, form=True), service.catalog, video_id)


def test_sdk_shaped_request_is_accepted(service, session, video_id):
    # What aliyun-python-sdk-core sends: POST, every parameter in the query, empty body, SignatureType=.
    params = rpc_params(video_id, method="POST", Format="json", SignatureType="")
    response = session.post(
        service.endpoint + "/?" + signing.canonical_query(params),
        data=b"",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    check_stickers(response, service.catalog, video_id)


def test_v3_post_returns_the_stickers(service, session, video_id):
    check_stickers(call_v3(session, service.endpoint, {"VideoId": video_id}), service.catalog, video_id)


def test_video_without_stickers_answers_an_empty_list(service, session):
    empty = next(v for v in service.catalog.video_ids() if not service.catalog.stickers(v, 0))
    response = call_rpc(session, service.endpoint, rpc_params(empty))
    assert response.status_code == 200
    assert response.json()["DynamicImageList"] == []


@pytest.mark.parametrize("fmt", ["XML", None], ids=["Format=XML", "Format absent"])
def test_xml_answer_when_asked_or_when_format_is_absent(service, session, video_id, fmt):
    response = call_rpc(session, service.endpoint, rpc_params(video_id, Format=fmt))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "ListDynamicImageResponse"
    items = [{child.tag: child.text for child in el} for el in root.findall("DynamicImageList")]
    assert without_auth_key(items) == without_auth_key(service.catalog.stickers(video_id, 0))


def test_pooled_connection_is_reused(start, session, video_id):
    svc = start()
    for _ in range(5):
        assert call_rpc(session, svc.endpoint, rpc_params(video_id)).status_code == 200
    assert svc.stats["connections"] == 1
    assert svc.stats["requests"] == svc.stats["answered"] == 5


# --- refusals ------------------------------------------------------------------------------------------------


def test_unknown_video_is_404_not_found(service, session):
    response = call_rpc(session, service.endpoint, rpc_params("0" * 32))
    assert_error(response, 404, "InvalidVideo.NotFound")


def test_missing_video_id_is_missing_parameter(service, session):
    body = assert_error(call_rpc(session, service.endpoint, rpc_params(None)), 400, "MissingParameter")
    assert '"VideoId"' in body["Message"]


def test_wrong_secret_shows_the_servers_string_to_sign(service, session, video_id):
    params = rpc_params(video_id, secret="not-the-secret")
    body = assert_error(call_rpc(session, service.endpoint, params), 400, "SignatureDoesNotMatch")
    assert body["Message"].endswith("server string to sign is:" + signing.rpc_string_to_sign("GET", params))
    assert SECRET not in body["Message"]


def test_v3_wrong_secret_and_wrong_body_hash_are_refused(service, session, video_id):
    wrong_secret = call_v3(session, service.endpoint, {"VideoId": video_id}, secret="nope")
    assert_error(wrong_secret, 400, "SignatureDoesNotMatch")
    wrong_hash = call_v3(session, service.endpoint, {"VideoId": video_id}, extra_headers={"x-acs-content-sha256": "0" * 64})
    assert_error(wrong_hash, 400, "SignatureDoesNotMatch")


def test_unknown_access_key_id_is_404(service, session, video_id):
    response = call_rpc(session, service.endpoint, rpc_params(video_id, AccessKeyId="someone-else"))
    assert_error(response, 404, "InvalidAccessKeyId.NotFound")


def test_stale_or_garbled_timestamp_is_refused(service, session, video_id):
    stale = rpc_params(video_id, Timestamp=utc_stamp(-16 * 60))
    assert_error(call_rpc(session, service.endpoint, stale), 400, "InvalidTimeStamp.Expired")
    garbled = rpc_params(video_id, Timestamp="yesterday")
    assert_error(call_rpc(session, service.endpoint, garbled), 400, "InvalidTimeStamp.Format")


def test_reused_nonce_is_refused(service, session, video_id):
    params = rpc_params(video_id)
    assert call_rpc(session, service.endpoint, params).status_code == 200
    assert_error(call_rpc(session, service.endpoint, params), 400, "SignatureNonceUsed")


def test_sts_token_is_required_when_configured(start, session, video_id):
    svc = start(security_token="sts-token")
    for params in (rpc_params(video_id), rpc_params(video_id, SecurityToken="other-token")):
        assert_error(call_rpc(session, svc.endpoint, params), 400, "InvalidSecurityToken.Mismatch")
    assert call_rpc(session, svc.endpoint, rpc_params(video_id, SecurityToken="sts-token")).status_code == 200
    assert_error(call_v3(session, svc.endpoint, {"VideoId": video_id}), 400, "InvalidSecurityToken.Mismatch")
    with_token = call_v3(session, svc.endpoint, {"VideoId": video_id}, extra_headers={"x-acs-security-token": "sts-token"})
    assert with_token.status_code == 200
    assert svc.stats["auth_errors"] == 3


@pytest.mark.server
def test_published_signature_vectors_pass_authentication(start, session):
    """Requests signed by Alibaba's own examples get past authentication to the action check."""
    forever = 1e10  # the vectors' timestamps are years old
    svc = start(access_key_id="testAccessKeyId", access_key_secret="testAccessKeySecret", clock_skew_tolerance_s=forever)
    vod_vector = {**VOD_DOC_PARAMS, "Signature": "Ibgh7y8Vp47LBuAsf5Xhi1SvDss="}
    assert_error(call_rpc(session, svc.endpoint, vod_vector), 404, "InvalidAction.NotFound")

    svc = start(access_key_id="YourAccessKeyId", access_key_secret="YourAccessKeySecret", clock_skew_tolerance_s=forever)
    query = "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai"
    names = "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
    headers = {
        "Host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": signing.EMPTY_BODY_SHA256,
        "Authorization": "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders="
        + names
        + ",Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
    }
    response = session.post(f"{svc.endpoint}/?{query}", headers=headers)
    body = assert_error(response, 400, "InvalidVersion")
    assert "2014-05-26" in body["Message"]


# --- flow control and faults -----------------------------------------------------------------------------------


def test_rate_limit_answers_throttling_user(start, session, video_id):
    svc = start(calls_per_second=20, burst=20)
    began = time.monotonic()
    responses = [call_rpc(session, svc.endpoint, rpc_params(video_id)) for _ in range(60)]
    elapsed = time.monotonic() - began
    throttled = [r for r in responses if r.status_code != 200]
    # A full bucket of 20, then 20 more per second.
    assert 20 <= len(responses) - len(throttled) <= 20 + 20 * elapsed + 1
    assert throttled
    for r in throttled:
        body = assert_error(r, 400, "Throttling.User")
        assert body["Message"] == "Request was denied due to user flow control."
        assert "x-acs-retry-after" not in r.headers
    assert svc.stats["throttled"] == len(throttled)


class StepClock:
    """A clock the test sets by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def admitted_at(flow_control, clock: StepClock, times: list[float]) -> list[bool]:
    results = []
    for t in times:
        clock.now = t
        results.append(flow_control.take())
    return results


def test_token_bucket_lets_its_capacity_through_at_once_then_refills_at_the_rate():
    clock = StepClock()
    bucket = TokenBucket(10, 3, clock)
    assert admitted_at(bucket, clock, [0, 0, 0, 0, 0.05, 0.1, 0.1, 10, 10, 10, 10]) == [
        True,
        True,
        True,
        False,  # the capacity, then nothing left
        False,
        True,
        False,  # a tenth of a second refills one call
        True,
        True,
        True,
        False,  # idle time is not saved up beyond the capacity
    ]


def test_sliding_window_refuses_the_call_over_the_limit_inside_any_second():
    clock = StepClock()
    window = SlidingWindow(3, clock)
    assert admitted_at(window, clock, [0, 0.125, 0.25, 0.5, 0.875, 1.0, 1.0625, 1.125, 1.25, 1.375, 1.99]) == [
        True,
        True,
        True,
        False,
        False,  # a fourth call less than a second after the first; refused calls do not count
        True,  # one second after the first call, it is out of the window
        False,
        True,
        True,  # 0.125 and 0.25 leave the window in turn
        False,
        False,  # 1.0, 1.125 and 1.25 are all within the second before 1.99
    ]


def test_sliding_window_refuses_an_evenly_paced_call_that_arrives_a_millisecond_early():
    # Why a client pacing at exactly the limit is throttled by a sliding window: its calls reach the
    # service with jitter, and any call arriving early makes N + 1 in one second.
    clock = StepClock()
    window = SlidingWindow(64, clock)
    assert all(admitted_at(window, clock, [i / 64 for i in range(192)]))  # 3 s, exactly at the limit
    assert admitted_at(window, clock, [3 - 0.001]) == [False]
    assert admitted_at(window, clock, [3]) == [True]


def test_fixed_window_counts_each_whole_second_afresh():
    clock = StepClock()
    window = FixedWindow(3, clock)
    assert admitted_at(window, clock, [0.0, 0.1, 0.2, 0.3, 0.99, 1.0, 1.0, 1.0, 1.5, 2.7, 2.8, 2.9, 3.0, 3.1, 3.2]) == [
        True,
        True,
        True,
        False,
        False,  # the second [0, 1) is spent
        True,
        True,
        True,
        False,  # a new second, a new count
        True,
        True,
        True,
        True,
        True,
        True,  # twice the limit within half a second across a boundary
    ]


def test_unknown_flow_control_is_refused():
    with pytest.raises(ValueError, match="sliding_window"):
        ServiceConfig(flow_control="leaky")


def test_serve_takes_the_flow_control_option():
    from localvod.cli import _service_config

    args = build_parser().parse_args(["serve", "--flow-control", "fixed_window", "--calls-per-second", "20"])
    config = _service_config(args)
    assert (config.flow_control, config.calls_per_second) == ("fixed_window", 20)


@pytest.mark.parametrize(("flow_control", "burst"), [("token_bucket", None), ("sliding_window", 1), ("fixed_window", 1)])
def test_each_flow_control_answers_throttling_user_over_http(start, session, video_id, flow_control, burst):
    svc = start(calls_per_second=10, flow_control=flow_control, burst=burst)  # a burst is the token bucket's only
    began = time.monotonic()
    responses = [call_rpc(session, svc.endpoint, rpc_params(video_id)) for _ in range(40)]
    seconds = time.monotonic() - began
    admitted = sum(r.status_code == 200 for r in responses)
    # A second's worth passes at once; then no more than the limit in each second the calls spanned (the
    # token bucket and the fixed window can let one extra second's worth through at the start).
    assert all(r.status_code == 200 for r in responses[:10])
    assert admitted <= 10 * (int(seconds) + 2)
    refused = [r for r in responses if r.status_code != 200]
    assert refused and svc.stats["throttled"] == len(refused)
    for r in refused:
        assert assert_error(r, 400, "Throttling.User")["Message"] == "Request was denied due to user flow control."


@pytest.mark.server
def test_server_errors_are_deterministic_per_video(start, session):
    videos = Catalog().video_ids()[:10]
    calls = 10

    def outcomes(svc: LocalVodService, order: list[str]) -> dict[str, list[int]]:
        seen: dict[str, list[int]] = {v: [] for v in videos}
        for v in order:
            seen[v].append(call_rpc(session, svc.endpoint, rpc_params(v)).status_code)
        return seen

    config = {"calls_per_second": None, "server_error_rate": 0.5, "fault_seed": 42}
    one_by_one = outcomes(start(**config), [v for v in videos for _ in range(calls)])
    round_robin = outcomes(start(**config), [v for _ in range(calls) for v in videos])
    assert one_by_one == round_robin

    statuses = Counter(s for seq in one_by_one.values() for s in seq)
    assert set(statuses) == {200, 500, 503}
    assert 30 <= statuses[500] + statuses[503] <= 70
    other_seed = outcomes(start(**{**config, "fault_seed": 43}), [v for v in videos for _ in range(calls)])
    assert other_seed != one_by_one


def test_dropped_connection_raises_connection_error(start, session, video_id):
    svc = start(drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        call_rpc(session, svc.endpoint, rpc_params(video_id))
    assert svc.stats["faults"]["drop"] == 1


def test_truncated_answer_is_not_json(start, session, video_id):
    svc = start(truncated_rate=1.0)
    response = call_rpc(session, svc.endpoint, rpc_params(video_id))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert svc.stats["faults"]["truncated"] == 1 and svc.stats["answered"] == 0


def test_injected_throttling_html_and_xml_answers(start, session, video_id):
    throttled = call_rpc(session, start(throttle_rate=1.0, retry_after_ms=350).endpoint, rpc_params(video_id))
    assert_error(throttled, 429, "Throttling")
    assert throttled.headers["x-acs-retry-after"] == "350"

    html = call_rpc(session, start(html_rate=1.0).endpoint, rpc_params(video_id))
    assert html.status_code == 502 and html.headers["Content-Type"].startswith("text/html")
    assert "<html>" in html.text

    xml = call_rpc(session, start(xml_rate=1.0).endpoint, rpc_params(video_id, Format="JSON"))
    assert xml.status_code == 200 and xml.headers["Content-Type"].startswith("text/xml")
    assert ET.fromstring(xml.content).tag == "ListDynamicImageResponse"


def test_slow_answer_arrives_late_but_whole(start, session, video_id):
    svc = start(slow_rate=1.0, slow_seconds=0.3)
    began = time.monotonic()
    response = call_rpc(session, svc.endpoint, rpc_params(video_id))
    assert time.monotonic() - began >= 0.3
    check_stickers(response, svc.catalog, video_id)


def test_stop_closes_pooled_connections(session, video_id):
    svc = LocalVodService().start()
    endpoint = svc.endpoint
    assert call_rpc(session, endpoint, rpc_params(video_id)).status_code == 200
    svc.stop()
    with pytest.raises(requests.ConnectionError):
        call_rpc(session, endpoint, rpc_params(video_id))


# --- catalog -----------------------------------------------------------------------------------------------------


def test_catalog_is_deterministic_from_its_seed():
    one, two = Catalog(size=50, seed=7), Catalog(size=50, seed=7)
    assert one.video_ids() == two.video_ids()
    assert all(len(v) == 32 and int(v, 16) >= 0 and v == v.lower() for v in one.video_ids())
    for v in one.video_ids():
        now, later = one.stickers(v, 1_700_000_000), two.stickers(v, 1_700_000_999)
        assert without_auth_key(now) == without_auth_key(later)
    assert Catalog(size=50, seed=8).video_ids() != one.video_ids()
    assert one.stickers("f" * 32, 0) is None


def test_catalog_looks_like_real_stickers():
    catalog = Catalog(size=300)
    counts = [len(catalog.stickers(v, 0)) for v in catalog.video_ids()]
    items = [item for v in catalog.video_ids() for item in catalog.stickers(v, 0)]
    assert 0.1 < counts.count(0) / len(counts) < 0.3
    assert max(counts) <= 30
    formats = Counter(item["Format"] for item in items)
    assert set(formats) == {"gif", "webp"} and 0.3 < formats["gif"] / len(items) < 0.5
    assert all(10_000 <= int(item["FileSize"]) <= 10_000_000 for item in items)
    assert all(dt.datetime.strptime(item["CreationTime"], "%Y-%m-%dT%H:%M:%SZ") for item in items)


def test_videos_csv_mixes_known_and_unknown_ids(tmp_path):
    path = write_videos_csv(tmp_path / "videos.csv", count=30, unknown=5)
    with path.open(newline="") as f:
        ids = [row["video_id"] for row in csv.DictReader(f)]
    catalog = Catalog()
    assert len(ids) == 35 and sum(v in catalog for v in ids) == 30
    assert [v for v in ids if v in catalog] != catalog.video_ids()[:30]  # shuffled
    again = write_videos_csv(tmp_path / "again.csv", count=30, unknown=5)
    assert again.read_text() == path.read_text()
