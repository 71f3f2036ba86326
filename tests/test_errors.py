"""The error table: what each answer of VOD means for the video and for the run, and the words an
operator reads. A fatal error stops the run, a retryable one is asked again, the others are recorded
against their video."""

import pickle

import pytest

from pipeline.vod.errors import (
    ClockSkew,
    CredentialsRejected,
    FatalVodError,
    PermissionDenied,
    RetryableError,
    ServerFault,
    Throttled,
    VideoNotFound,
    VideoRejected,
    error_from_answer,
)
from pipeline.vod.outcome import FetchSummary


@pytest.mark.parametrize(
    ("code", "status", "kind", "hint"),
    [
        ("InvalidVideo.NotFound", 404, VideoNotFound, ""),
        ("InvalidAccessKeyId.NotFound", 404, CredentialsRejected, "check ALIBABA_CLOUD_ACCESS_KEY_ID"),
        ("InvalidAccessKeyId.Inactive", 400, CredentialsRejected, "the AccessKey is disabled"),
        ("SignatureDoesNotMatch", 400, CredentialsRejected, "the AccessKey secret is wrong"),
        ("InvalidSecurityToken.Expired", 400, CredentialsRejected, "renew ALIBABA_CLOUD_SECURITY_TOKEN"),
        ("Forbidden", 403, PermissionDenied, "vod:ListDynamicImage"),
        ("OperationDenied.Suspended", 403, PermissionDenied, "suspended"),
        ("InvalidTimeStamp.Expired", 400, ClockSkew, "sync it (NTP)"),
        ("Throttling.User", 400, Throttled, ""),
        ("ServiceUnavailable", 503, ServerFault, ""),
        ("InvalidParameter", 400, VideoRejected, ""),
        # Codes the table does not know are typed by their HTTP status.
        ("SomethingNew", 500, ServerFault, ""),
        ("SomethingNew", 502, ServerFault, ""),
        ("Throttling.Something", 400, Throttled, ""),
        ("TooManyCalls", 429, Throttled, ""),
        ("SomethingNew", 403, PermissionDenied, "VOD refused the call for this account"),
        ("SomethingNew", 400, VideoRejected, ""),
        ("SomethingNew", 404, VideoRejected, ""),
    ],
)
def test_each_answer_is_typed_for_what_it_means_to_the_run(code, status, kind, hint):
    error = error_from_answer(code, "VOD's own words", http_status=status, request_id="REQ-9")
    assert type(error) is kind
    assert (error.code, error.http_status, error.request_id) == (code, status, "REQ-9")
    assert hint in error.hint if hint else error.hint == ""  # what the operator should do
    assert not (isinstance(error, FatalVodError) and isinstance(error, RetryableError))
    words = f" -- {error.hint}" if hint else ""
    assert str(error) == f"VOD answered {code} (HTTP {status}): VOD's own words{words} [RequestId REQ-9]"


def test_an_unknown_refusal_of_the_account_says_so():
    error = error_from_answer("SomethingNew", "", http_status=403, request_id=None)
    assert str(error) == "VOD answered SomethingNew (HTTP 403) -- VOD refused the call for this account"


def test_an_error_without_a_message_status_or_request_id_says_only_its_code():
    assert str(ServerFault("Timeout")) == "VOD answered Timeout"
    assert str(ServerFault("Timeout", hint="check the network")) == "VOD answered Timeout -- check the network"


def test_an_error_made_anew_or_sent_to_another_process_keeps_its_attempts_region_and_summary():
    """The client adds the attempts and the region, a fetch what it fetched before stopping; a worker process
    (multiprocess, Celery) hands the error back pickled."""
    throttled = Throttled("Throttling.User", "too fast", http_status=503, request_id="r-1").replace(attempts=6, region="cn-beijing")
    assert (type(throttled), throttled.attempts, throttled.region, throttled.request_id) == (Throttled, 6, "cn-beijing", "r-1")
    assert str(throttled).startswith("VOD (cn-beijing) answered Throttling.User (HTTP 503)")
    stopped = CredentialsRejected("InvalidAccessKeyId.NotFound", attempts=1).replace(summary=FetchSummary(asked=10, answered=4))
    for error in (throttled, stopped):
        again = pickle.loads(pickle.dumps(error))
        assert (type(again), str(again), again.attempts, again.region) == (type(error), str(error), error.attempts, error.region)
    assert pickle.loads(pickle.dumps(stopped)).summary == FetchSummary(asked=10, answered=4)
