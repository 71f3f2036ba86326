"""Several accounts in one local VOD service, over real HTTP: each signs with its own AccessKey pair, sees its
own catalog only, and is throttled against its own limits."""

from __future__ import annotations

import pytest
import requests

from localvod import LocalVodAccount, LocalVodService, ServiceConfig, catalog_ids
from pipeline.vod import signing
from pipeline.vod.client import Credentials, VodClient
from pipeline.vod.errors import CredentialsRejected, VideoNotFound
from tests.test_localvod import call_rpc, rpc_params, without_auth_key

A_KEY, A_SECRET = "account-a-key-id", "account-a-secret-Hq2"
B_KEY, B_SECRET = "account-b-key-id", "account-b-secret-Wm7"


def two_accounts(**both: object) -> ServiceConfig:
    """Account A (the config's own keys) and account B, each with ``both`` (limits, catalog size...)."""
    return ServiceConfig(
        access_key_id=A_KEY,
        access_key_secret=A_SECRET,
        **both,  # type: ignore[arg-type]
        accounts={"b": {"access_key_id": B_KEY, "access_key_secret": B_SECRET, **both}},
    )


@pytest.fixture
def service():
    with LocalVodService(two_accounts(catalog_size=20, calls_per_second=None)) as svc:
        yield svc


def client(endpoint: str, key_id: str, secret: str, method: str = signing.ACS3_HMAC_SHA256) -> VodClient:
    return VodClient(Credentials(key_id, secret), endpoint=endpoint, signature_method=method, max_attempts=1)


@pytest.mark.parametrize("method", signing.SIGNATURE_METHODS)
def test_a_call_signed_with_an_accounts_key_sees_that_accounts_videos_only(service, method):
    a_videos, b_videos = service.catalog.video_ids(), service.accounts["b"].catalog.video_ids()
    assert len(a_videos) == len(b_videos) == 20 and not set(a_videos) & set(b_videos)
    assert b_videos == catalog_ids(8, 20)  # the second account's catalog has the next seed
    with client(service.endpoint, A_KEY, A_SECRET, method) as a, client(service.endpoint, B_KEY, B_SECRET, method) as b:
        answered = a.list_dynamic_image(a_videos[0]).items
        assert without_auth_key(answered) == without_auth_key(service.catalog.stickers(a_videos[0], 0))
        with pytest.raises(VideoNotFound):
            a.list_dynamic_image(b_videos[0])
        b.list_dynamic_image(b_videos[0])
        with pytest.raises(VideoNotFound):
            b.list_dynamic_image(a_videos[0])
        listed_a = a.call("GetVideoList", {"PageSize": "100"}).document["VideoList"]["Video"]
        listed_b = b.call("GetVideoList", {"PageSize": "100"}).document["VideoList"]["Video"]
    assert sorted(v["VideoId"] for v in listed_a) == sorted(a_videos)
    assert sorted(v["VideoId"] for v in listed_b) == sorted(b_videos)
    assert service.stats["answered"] == 2 and service.stats["not_found"] == 1
    assert service.accounts["b"].stats["answered"] == 2 and service.accounts["b"].stats["not_found"] == 1


def test_an_accounts_key_id_with_another_accounts_secret_is_refused(service):
    with client(service.endpoint, B_KEY, A_SECRET) as mixed, pytest.raises(CredentialsRejected, match="SignatureDoesNotMatch"):
        mixed.list_dynamic_image(service.accounts["b"].catalog.video_ids()[0])
    with client(service.endpoint, "nobodys-key-id", A_SECRET) as stranger, pytest.raises(CredentialsRejected, match="NotFound"):
        stranger.list_dynamic_image(service.catalog.video_ids()[0])
    assert service.accounts["b"].stats["auth_errors"] == 1 and service.stats["auth_errors"] == 1


def signed_call(session: requests.Session, endpoint: str, key_id: str, secret: str, video_id: str) -> int:
    return call_rpc(session, endpoint, rpc_params(video_id, AccessKeyId=key_id, secret=secret)).status_code


@pytest.mark.server
def test_one_account_throttled_does_not_throttle_another():
    # Each account: 5 calls at once, then 1 a second.
    with LocalVodService(two_accounts(catalog_size=5, calls_per_second=1, burst=5)) as svc, requests.Session() as session:
        a_video, b_video = svc.catalog.video_ids()[0], svc.accounts["b"].catalog.video_ids()[0]
        a_codes = [signed_call(session, svc.endpoint, A_KEY, A_SECRET, a_video) for _ in range(12)]
        b_codes = [signed_call(session, svc.endpoint, B_KEY, B_SECRET, b_video) for _ in range(5)]
    assert a_codes.count(400) >= 5 and svc.stats["throttled"] == a_codes.count(400)
    assert b_codes == [200] * 5 and svc.accounts["b"].stats["throttled"] == 0


@pytest.mark.server
def test_an_accounts_regions_share_its_budget_and_no_other_accounts():
    config = two_accounts(catalog_size=5, calls_per_second=1, burst=4)
    with LocalVodAccount(config, ["cn-shanghai", "cn-beijing"], shared_limits=True) as local, requests.Session() as session:
        codes: dict[str, list[int]] = {"a": [], "b": []}
        for _ in range(4):  # b: 8 calls over its two regions against one budget of 4 at once
            for svc in local.services.values():
                codes["b"].append(signed_call(session, svc.endpoint, B_KEY, B_SECRET, svc.accounts["b"].catalog.video_ids()[0]))
        for _ in range(2):  # a: 4 calls, its whole budget, untouched by b's
            for svc in local.services.values():
                codes["a"].append(signed_call(session, svc.endpoint, A_KEY, A_SECRET, svc.catalog.video_ids()[0]))
        b_throttled = sum(svc.accounts["b"].stats["throttled"] for svc in local.services.values())
        a_throttled = sum(svc.stats["throttled"] for svc in local.services.values())
    assert codes["a"] == [200] * 4 and a_throttled == 0
    assert codes["b"].count(200) <= 5 and b_throttled == codes["b"].count(400) >= 3


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ({"b": {"access_key_id": B_KEY}}, "needs its own access_key_secret"),
        ({"b": {"access_key_id": A_KEY, "access_key_secret": "x"}}, "AccessKeyId of another account"),
        (
            {"b": {"access_key_id": B_KEY, "access_key_secret": "x"}, "c": {"access_key_id": B_KEY, "access_key_secret": "y"}},
            "AccessKeyId of another account",
        ),
        ({"b": {"access_key_id": B_KEY, "access_key_secret": "x", "port": 8080}}, "cannot set port"),
        ({"b": {"access_key_id": B_KEY, "access_key_secret": "x", "calls_per_second": 0}}, "calls_per_second"),
    ],
)
def test_impossible_accounts_are_refused(accounts, message):
    with pytest.raises(ValueError, match=message):
        ServiceConfig(access_key_id=A_KEY, access_key_secret=A_SECRET, accounts=accounts)
