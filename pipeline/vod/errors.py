"""Typed VOD errors, and the one table that maps the service's error codes to them.

Catch at the level you care about: ``VodError`` for anything the service or the wire did,
``FatalVodError`` for what stops a run, ``RetryableError`` for what a retry may cure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.vod.outcome import FetchSummary


class VodError(PipelineError):
    """An answer (or the lack of one) from VOD. Keeps the code, the HTTP status, the request id, the region
    that answered and how many calls were made for it (``attempts``, the retries included)."""

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        request_id: str | None = None,
        http_status: int | None = None,
        hint: str = "",
        retry_after_s: float | None = None,
        region: str | None = None,
        attempts: int = 1,
    ):
        self.code = code
        self.region = region
        self.attempts = attempts
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.hint = hint
        self.retry_after_s = retry_after_s
        super().__init__(str(self))

    def _fields(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
            "http_status": self.http_status,
            "hint": self.hint,
            "retry_after_s": self.retry_after_s,
            "region": self.region,
            "attempts": self.attempts,
        }

    def replace(self, **changes: Any) -> Self:
        """The same error with ``changes`` (the region that answered, the attempts made, ...), made anew by
        its class's constructor."""
        return type(self)(**{**self._fields(), **changes})

    def in_region(self, region: str | None) -> Self:
        """The same error, saying which region answered it."""
        return self.replace(region=region)

    def __str__(self) -> str:
        text = f"VOD{f' ({self.region})' if self.region else ''} answered {self.code}"
        if self.http_status:
            text += f" (HTTP {self.http_status})"
        if self.message:
            text += f": {self.message}"
        if self.hint:
            text += f" -- {self.hint}"
        if self.request_id:
            text += f" [RequestId {self.request_id}]"
        return text


class VideoNotFound(VodError):
    """The video does not exist: an outcome for that video, not a failure of the run."""


class VideoRejected(VodError):
    """VOD refused the request for this video (bad parameter): recorded against the video."""


class ListCapReached(VodError):
    """VideoListExceededMax: a listing asked past the first 5,000 matches of its query."""


class ScrollTokenExpired(VodError):
    """SearchMedia's ScrollToken is no longer valid: the walk starts again from its first page."""


class RetryableError(VodError):
    """A passing fault: throttling, a server error, a broken connection or a garbled answer."""


class Throttled(RetryableError):
    """VOD's flow control refused the call."""


class ServerFault(RetryableError):
    """HTTP 5xx from VOD."""


class TransportFault(RetryableError):
    """No usable HTTP answer: a timeout, a reset connection, a refused connection."""


class MalformedAnswer(RetryableError):
    """An answer that is not the JSON document ListDynamicImage returns."""


class NonceReused(RetryableError):
    """SignatureNonceUsed: the same call is signed again with a new nonce."""


class FatalVodError(VodError):
    """Every further call would fail the same way: the run stops. Raised by a fetch, it carries what was
    fetched before the stop (``summary``), for the caller to record."""

    def __init__(self, code: str, message: str = "", *, summary: FetchSummary | None = None, **details: Any):
        self.summary = summary
        super().__init__(code, message, **details)

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "summary": self.summary}


class CredentialsRejected(FatalVodError):
    pass


class PermissionDenied(FatalVodError):
    pass


class ClockSkew(FatalVodError):
    pass


class TlsRejected(FatalVodError):
    """The endpoint's TLS certificate could not be verified: every call would be refused the same way."""


class UnusableListing(FatalVodError):
    """A listing of the account's videos that a walk cannot trust to go on (a video outside the window
    asked for, no ScrollToken past 5,000 matches): walking on could loop or lose videos."""


class FailingTooOften(FatalVodError):
    """Most recent videos failed even after their retries: VOD or the way to it is down, not one video."""


_CREDENTIALS_HINT = (
    "check ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS credentials)"
)

# code -> (error class, what the operator should do). The one place that knows VOD's error codes.
ERROR_CODES: dict[str, tuple[type[VodError], str]] = {
    "InvalidVideo.NotFound": (VideoNotFound, ""),
    "Forbidden": (PermissionDenied, "the RAM user lacks permission for vod:{action}"),
    "OperationDenied": (PermissionDenied, "the account may not call VOD; check its status"),
    "OperationDenied.Suspended": (PermissionDenied, "the VOD service of this account is suspended"),
    "InvalidAccessKeyId.NotFound": (CredentialsRejected, _CREDENTIALS_HINT),
    "InvalidAccessKeyId.Inactive": (CredentialsRejected, "the AccessKey is disabled; " + _CREDENTIALS_HINT),
    "SignatureDoesNotMatch": (CredentialsRejected, "the AccessKey secret is wrong; " + _CREDENTIALS_HINT),
    "IncompleteSignature": (CredentialsRejected, _CREDENTIALS_HINT),
    "InvalidSecurityToken.Expired": (CredentialsRejected, "the STS token expired; renew ALIBABA_CLOUD_SECURITY_TOKEN"),
    "InvalidSecurityToken.Mismatch": (CredentialsRejected, "the STS token does not belong to this AccessKey"),
    "InvalidSecurityToken.Malformed": (CredentialsRejected, "check ALIBABA_CLOUD_SECURITY_TOKEN"),
    "InvalidTimeStamp.Expired": (ClockSkew, "this machine's clock is more than 15 minutes off; sync it (NTP)"),
    "InvalidTimeStamp.Format": (ClockSkew, "the request timestamp was refused; check the machine's clock"),
    "SignatureNonceUsed": (NonceReused, ""),
    "Throttling": (Throttled, ""),
    "Throttling.User": (Throttled, ""),
    "Throttling.Api": (Throttled, ""),
    "InternalError": (ServerFault, ""),
    "ServiceUnavailable": (ServerFault, ""),
    "ServiceUnAvailable": (ServerFault, ""),
    "VideoListExceededMax": (ListCapReached, ""),
    "InvalidScrollToken.Expired": (ScrollTokenExpired, ""),
    "MissingParameter": (VideoRejected, ""),
    "InvalidParameter": (VideoRejected, ""),
}


def error_from_answer(
    code: str,
    message: str,
    *,
    http_status: int,
    request_id: str | None,
    retry_after_s: float | None = None,
    action: str = "ListDynamicImage",
) -> VodError:
    """Build the typed error for an error answer; unknown codes are typed by their HTTP status."""
    cls, hint = ERROR_CODES.get(code, (None, ""))
    if cls is None:
        if http_status >= 500:
            cls = ServerFault
        elif http_status == 429 or code.startswith("Throttling"):
            cls = Throttled
        elif http_status == 403:
            cls, hint = PermissionDenied, "VOD refused the call for this account"
        else:
            cls = VideoRejected
    return cls(
        code,
        message,
        request_id=request_id,
        http_status=http_status,
        hint=hint.replace("{action}", action),
        retry_after_s=retry_after_s,
    )
