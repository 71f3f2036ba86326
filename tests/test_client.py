"""The VOD client over real HTTP against the local VOD service."""

import time

import pytest

from pipeline.errors import ConfigurationError
from pipeline.vod import signing
from pipeline.vod.client import Credentials, VodClient
from pipeline.vod.errors import (
    ClockSkew,
    CredentialsRejected,
    ServerFault,
    Throttled,
    TransportFault,
    VideoNotFound,
    VodError,
)
from pipeline.vod.regions import resolve_endpoint
from tests.conftest import KEY_ID, KEY_SECRET, make_client

STRING_FIELDS = {
    "CreationTime",
    "Duration",
    "DynamicImageId",
    "FileSize",
    "FileURL",
    "Format",
    "Fps",
    "Height",
    "Width",
    "JobId",
    "VideoId",
}


@pytest.mark.parametrize("method", signing.SIGNATURE_METHODS)
def test_answers_every_sticker_of_a_video_with_either_signature(service, method):
    video_id = next(v for v in service.catalog.video_ids() if service.catalog.stickers(v, 0))
    with make_client(service, signature_method=method) as client:
        answer = client.list_dynamic_image(video_id)
    assert answer.request_id
    assert len(answer.items) == len(service.catalog.stickers(video_id, 0))
    for item in answer.items:
        assert set(item) == STRING_FIELDS and all(isinstance(v, str) for v in item.values())
        assert item["VideoId"] == video_id
        assert "auth_key=" in item["FileURL"]


@pytest.mark.parametrize("method", signing.SIGNATURE_METHODS)
def test_sts_token_is_sent_with_either_signature(vod_service, method):
    service = vod_service(catalog_size=5, calls_per_second=None, security_token="sts-token-Hh72")
    video_id = service.catalog.video_ids()[0]
    with make_client(service, signature_method=method, credentials=Credentials(KEY_ID, KEY_SECRET, "sts-token-Hh72")) as client:
        assert client.list_dynamic_image(video_id).video_id == video_id
    with make_client(service, signature_method=method) as client, pytest.raises(CredentialsRejected):
        client.list_dynamic_image(video_id)


def test_unknown_video_is_not_found_with_its_request_id(service):
    with make_client(service) as client, pytest.raises(VideoNotFound) as caught:
        client.list_dynamic_image("0" * 32)
    assert caught.value.code == "InvalidVideo.NotFound"
    assert caught.value.http_status == 404
    assert caught.value.request_id
    assert client.calls.value == 1  # not retried


@pytest.mark.parametrize("method", signing.SIGNATURE_METHODS)
def test_wrong_secret_stops_with_a_message_naming_the_variable_not_the_secret(service, method):
    secret = "wrong-secret-Ww91Tt"
    client = make_client(service, signature_method=method, credentials=Credentials(KEY_ID, secret, "sts-Qq55"))
    with client, pytest.raises(CredentialsRejected) as caught:
        client.list_dynamic_image(service.catalog.video_ids()[0])
    text = str(caught.value)
    assert "SignatureDoesNotMatch" in text and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in text
    assert caught.value.request_id and caught.value.request_id in text
    for secret_text in (secret, "sts-Qq55"):
        assert secret_text not in text
    assert client.calls.value == 1


def test_unknown_access_key_id_stops(service):
    with make_client(service, credentials=Credentials("nobody", KEY_SECRET)) as client:
        with pytest.raises(CredentialsRejected, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
            client.list_dynamic_image(service.catalog.video_ids()[0])


def test_a_clock_off_by_more_than_15_minutes_stops(vod_service):
    service = vod_service(catalog_size=5, calls_per_second=None, clock_skew_tolerance_s=-1)
    with make_client(service) as client, pytest.raises(ClockSkew, match="clock"):
        client.list_dynamic_image(service.catalog.video_ids()[0])


def test_throttling_is_retried_until_answered(vod_service):
    service = vod_service(catalog_size=50, calls_per_second=None, throttle_rate=0.5, retry_after_ms=1, fault_seed=3)
    with make_client(service, max_attempts=12) as client:
        answers = [client.list_dynamic_image(v) for v in service.catalog.video_ids()]
    assert len(answers) == 50
    assert client.throttled.value > 0
    assert client.retries.value == client.throttled.value
    assert client.calls.value == 50 + client.retries.value


def test_a_throttled_answer_never_speeds_the_pace_up(vod_service):
    # The service admits one call a second; the client, told 100, has the next calls refused. Each
    # refused call must leave the pace where it was or slower, never count as a call that got through.
    service = vod_service(catalog_size=8, calls_per_second=1, burst=1)
    with make_client(service, calls_per_second=100, max_attempts=1) as client:
        client.list_dynamic_image(service.catalog.video_ids()[0])
        rates = [client.limiter.rate]
        for video_id in service.catalog.video_ids()[1:]:
            with pytest.raises(Throttled):
                client.list_dynamic_image(video_id)
            rates.append(client.limiter.rate)
    assert client.throttled.value == 7
    assert rates[1] < rates[0]
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:], strict=False))


def test_each_throttled_answer_waits_the_retry_after_the_service_asks_for(vod_service):
    service = vod_service(catalog_size=10, calls_per_second=None, throttle_rate=0.5, retry_after_ms=300, fault_seed=3)
    with make_client(service, max_attempts=12) as client:  # its own backoff: at most 0.05 s
        began = time.monotonic()
        for video_id in service.catalog.video_ids():
            client.list_dynamic_image(video_id)
        seconds = time.monotonic() - began
    assert client.throttled.value >= 3
    assert seconds >= 0.3 * client.throttled.value


def test_server_faults_and_dropped_connections_are_retried(vod_service):
    service = vod_service(catalog_size=40, calls_per_second=None, server_error_rate=0.3, drop_rate=0.2, truncated_rate=0.1, fault_seed=5)
    with make_client(service, max_attempts=15) as client:
        answers = {v: client.list_dynamic_image(v) for v in service.catalog.video_ids()}
    assert len(answers) == 40
    assert client.retries.value > 0
    assert all(len(a.items) == len(service.catalog.stickers(v, 0)) for v, a in answers.items())


def test_a_persistent_server_fault_gives_up_after_max_attempts(vod_service):
    service = vod_service(catalog_size=5, calls_per_second=None, server_error_rate=1.0)
    with make_client(service, max_attempts=3) as client, pytest.raises(ServerFault) as caught:
        client.list_dynamic_image(service.catalog.video_ids()[0])
    assert caught.value.attempts == 3
    assert client.calls.value == 3
    assert caught.value.http_status in (500, 503)


def test_an_answer_slower_than_the_read_timeout_is_a_transport_fault(vod_service):
    service = vod_service(catalog_size=5, calls_per_second=None, slow_rate=1.0, slow_seconds=2.0)
    with make_client(service, read_timeout_s=0.2, max_attempts=2) as client, pytest.raises(TransportFault) as caught:
        client.list_dynamic_image(service.catalog.video_ids()[0])
    assert caught.value.code == "Timeout"
    assert caught.value.attempts == 2


def test_the_service_flow_control_is_not_hit_when_the_client_keeps_the_same_rate(vod_service):
    service = vod_service(catalog_size=60, calls_per_second=50, burst=5)
    with make_client(service, calls_per_second=50, max_attempts=1) as client:
        for video_id in service.catalog.video_ids():
            client.list_dynamic_image(video_id)
    assert client.throttled.value == 0
    assert service.stats["throttled"] == 0


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("vod.example.com", "not a URL"),
        ("ftp://vod.example.com", "not a URL"),
        ("http://vod.example.com", "plain http"),
    ],
)
def test_bad_endpoints_are_refused_before_any_call(endpoint, message):
    with pytest.raises(ConfigurationError, match=message):
        resolve_endpoint(endpoint=endpoint)


def test_endpoints_from_regions():
    assert resolve_endpoint() == "https://vod.cn-shanghai.aliyuncs.com"
    assert resolve_endpoint("cn-hangzhou") == "https://vod.cn-shanghai.aliyuncs.com"
    assert resolve_endpoint("eu-central-1") == "https://vod.eu-central-1.aliyuncs.com"
    assert resolve_endpoint(endpoint="http://127.0.0.1:18080/") == "http://127.0.0.1:18080"
    with pytest.raises(ConfigurationError, match="VOD_REGION"):
        resolve_endpoint("mars-north-1")


@pytest.mark.parametrize(
    ("key_id", "secret", "variable"), [("", "s", "ALIBABA_CLOUD_ACCESS_KEY_ID"), ("id", " ", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")]
)
def test_missing_credentials_name_the_variable(key_id, secret, variable):
    with pytest.raises(ConfigurationError, match=variable):
        Credentials(key_id, secret)


def test_credentials_never_print_their_secrets():
    creds = Credentials("id", "very-secret", "very-token")
    assert "very-secret" not in repr(creds) and "very-token" not in repr(creds)


def test_client_rejects_impossible_settings():
    with pytest.raises(ConfigurationError, match="calls_per_second"):
        VodClient(Credentials("id", "secret"), endpoint="http://127.0.0.1:1", calls_per_second=-1)


def test_errors_are_one_hierarchy():
    assert issubclass(CredentialsRejected, VodError) and issubclass(VideoNotFound, VodError)


@pytest.mark.parametrize("method", signing.SIGNATURE_METHODS)
def test_transport_errors_do_not_quote_the_signed_request(vod_service, method):
    service = vod_service(catalog_size=5, calls_per_second=None, drop_rate=1.0, security_token="sts-Zz81")
    creds = Credentials(KEY_ID, KEY_SECRET, "sts-Zz81")
    with make_client(service, signature_method=method, credentials=creds, max_attempts=1) as client:
        with pytest.raises(TransportFault) as caught:
            client.list_dynamic_image(service.catalog.video_ids()[0])
    text = str(caught.value)
    assert "sts-Zz81" not in text and "Signature" not in text and KEY_SECRET not in text
