"""The published Alibaba Cloud signature test vectors, byte for byte."""

import hashlib

import pytest

from pipeline.vod import signing

VOD_DOC_PARAMS = {
    "AccessKeyId": "testAccessKeyId",
    "Action": "GetVideoPlayAuth",
    "Format": "JSON",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "8f8a035d-6496-4268-afd4-67c22837e38d",
    "SignatureVersion": "1.0",
    "Timestamp": "2017-10-10T12:02:54Z",
    "Version": "2017-03-21",
    "VideoId": "5aed81b74ba84920be578cdfe004af4b",
}


@pytest.mark.parametrize(
    ("method", "expected"),
    [("GET", "Ibgh7y8Vp47LBuAsf5Xhi1SvDss="), ("POST", "4jdw27LRQ5BnH77NLPKwxuD7t8w=")],
)
def test_vod_rpc_vector(method, expected):
    assert signing.rpc_signature(method, VOD_DOC_PARAMS, "testAccessKeySecret") == expected


def test_vod_rpc_vector_ignores_a_signature_parameter():
    params = {**VOD_DOC_PARAMS, "Signature": "whatever"}
    assert signing.rpc_signature("GET", params, "testAccessKeySecret") == "Ibgh7y8Vp47LBuAsf5Xhi1SvDss="


def test_generic_rpc_vector():
    params = {
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "Format": "XML",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z",
        "Version": "2014-05-26",
    }
    assert signing.rpc_string_to_sign("GET", params).startswith("GET&%2F&AccessKeyId%3Dtestid")
    assert "%253A" in signing.rpc_string_to_sign("GET", params)  # the timestamp's ':' encoded twice
    assert signing.rpc_signature("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_acs3_vector():
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": signing.EMPTY_BODY_SHA256,
    }
    query = {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}
    canonical = signing.acs3_canonical_request("POST", "/", query, headers, list(headers), signing.EMPTY_BODY_SHA256)
    assert hashlib.sha256(canonical.encode()).hexdigest() == "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    signature = signing.acs3_signature(canonical, "YourAccessKeySecret")
    assert signature == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    authorization = signing.acs3_authorization("YourAccessKeyId", list(headers), signature)
    assert signing.parse_acs3_authorization(authorization) == ("YourAccessKeyId", sorted(headers), signature)


def test_empty_body_hash_is_the_documented_one():
    assert signing.EMPTY_BODY_SHA256.startswith("e3b0c442") and signing.EMPTY_BODY_SHA256.endswith("b855")


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [("a b", "a%20b"), ("a+b", "a%2Bb"), ("a*b", "a%2Ab"), ("~-_.", "~-_."), ("é", "%C3%A9"), ("/", "%2F")],
)
def test_percent_encoding(raw, encoded):
    assert signing.percent_encode(raw) == encoded
