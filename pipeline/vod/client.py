"""The VOD client: one signed, rate-limited, retried ListDynamicImage call at a time, from many threads.

It returns typed answers or raises the typed errors of ``pipeline.vod.errors``; callers never see HTTP.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from pipeline.errors import ConfigurationError
from pipeline.vod import jsontext, signing
from pipeline.vod.api import CALLS_PER_SECOND, LIST_DYNAMIC_IMAGE
from pipeline.vod.errors import (
    MalformedAnswer,
    RetryableError,
    Throttled,
    TlsRejected,
    TransportFault,
    VodError,
    error_from_answer,
)
from pipeline.vod.ratelimit import RateLimiter

API_VERSION = "2017-03-21"


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, plus the token of temporary (STS) credentials. Secrets never show in repr."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not (self.access_key_id or "").strip():
            raise ConfigurationError("No VOD AccessKeyId: set ALIBABA_CLOUD_ACCESS_KEY_ID (and ALIBABA_CLOUD_ACCESS_KEY_SECRET)")
        if not (self.access_key_secret or "").strip():
            raise ConfigurationError("No VOD AccessKey secret: set ALIBABA_CLOUD_ACCESS_KEY_SECRET")

    def secrets(self) -> list[str]:
        return [s for s in (self.access_key_secret, self.security_token) if s]


@dataclass(frozen=True)
class DynamicImages:
    """One video's answer: its stickers, as VOD sent them (every value a string)."""

    video_id: str
    request_id: str
    items: list[dict[str, Any]]
    document: dict[str, Any]  # the whole JSON answer, unchanged
    http_status: int
    attempts: int
    received_at: float  # unix seconds


@dataclass(frozen=True)
class Answer:
    """One action's answer: VOD's JSON document, unchanged, and how it came."""

    action: str
    document: dict[str, Any]
    request_id: str
    http_status: int
    attempts: int
    received_at: float  # unix seconds
    body: bytes = field(default=b"", repr=False)  # the answer as it came, for a raw store


class _Counter:
    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self._value += n

    @property
    def value(self) -> int:
        return self._value


class VodClient:
    """Calls VOD in one region: signed, each action paced a little under its budget, retried on passing faults.

    ``calls_per_second`` is ListDynamicImage's budget; the other actions' come from ``api.CALLS_PER_SECOND``.
    ``limiters`` (action -> RateLimiter) lets clients of several regions share an account's budgets.
    Safe to share between threads: one pooled HTTP session, one rate limiter per action, counters under locks.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str,
        region: str | None = None,
        signature_method: str = signing.ACS3_HMAC_SHA256,
        calls_per_second: float = 100.0,
        limiters: Mapping[str, RateLimiter] | None = None,
        burst: int = 1,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 10.0,
        max_attempts: int = 6,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        pool_size: int = 32,
    ):
        if signature_method not in signing.SIGNATURE_METHODS:
            raise ConfigurationError(f"Unknown signature method {signature_method!r}; use one of {signing.SIGNATURE_METHODS}")
        for name, value in [
            ("calls_per_second", calls_per_second),
            ("connect_timeout_s", connect_timeout_s),
            ("read_timeout_s", read_timeout_s),
        ]:
            if not value > 0:
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts!r}")
        self.credentials = credentials
        self.endpoint = endpoint.rstrip("/")
        self.host = urlsplit(self.endpoint).netloc
        self.region = region
        self.signature_method = signature_method
        self.timeout = (connect_timeout_s, read_timeout_s)
        budgets = {**CALLS_PER_SECOND, LIST_DYNAMIC_IMAGE: calls_per_second}
        self.limiters = {action: RateLimiter(rate, burst) for action, rate in budgets.items()} | dict(limiters or {})
        self.limiter = self.limiters[LIST_DYNAMIC_IMAGE]
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        # What session.request would work out again on every call is worked out once, the endpoint being
        # fixed: the base URL as requests normalizes it, the session's headers, and the environment's
        # settings (proxies and NO_PROXY, REQUESTS_CA_BUNDLE), which requests reads by walking os.environ.
        self._base_url = str(requests.Request("POST", self.endpoint + "/").prepare().url)
        self.session = requests.Session()
        self._adapter = _EndpointAdapter(self._base_url, pool_size)
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)
        self.session.headers["User-Agent"] = "vod-stickers/0.1"
        self._session_headers = dict(self.session.headers)
        self._send_settings = self.session.merge_environment_settings(self._base_url, {}, None, None, None)
        self.calls = _Counter()
        self.retries = _Counter()
        self.throttled = _Counter()
        self._secrets = _secret_spellings(credentials)
        # One for every call: tenacity keeps the state of a retrying loop per thread.
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetryableError),
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            before_sleep=lambda _: self.retries.add(),
            reraise=True,
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> VodClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_dynamic_image(self, video_id: str) -> DynamicImages:
        """The stickers of one video; raises VideoNotFound, a FatalVodError, or the last error once
        retries are spent. Errors carry ``attempts``."""
        answer = self.call(LIST_DYNAMIC_IMAGE, {"VideoId": video_id}, expect=("DynamicImageList", list))
        return DynamicImages(
            video_id=video_id,
            request_id=answer.request_id,
            items=answer.document["DynamicImageList"],
            document=answer.document,
            http_status=answer.http_status,
            attempts=answer.attempts,
            received_at=answer.received_at,
        )

    def call(self, action: str, params: Mapping[str, str], *, expect: tuple[str, type] | None = None) -> Answer:
        """One action of VOD's API, signed, paced under the action's budget and retried on passing faults.

        ``expect`` names a member the answer must hold, and its JSON type; an answer without it is a
        MalformedAnswer (asked again). Raises the typed errors of ``pipeline.vod.errors``, which carry
        ``attempts`` and the client's region."""
        attempts = 0
        try:
            for attempt in self._retrying:
                with attempt:
                    attempts += 1
                    return self._call(action, params, attempts, expect)
        except VodError as err:
            raise err.replace(attempts=attempts, region=self.region) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Exponential backoff with full jitter; a server's x-acs-retry-after wins when it is longer."""
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (state.attempt_number - 1))
        wait = random.uniform(0, ceiling)
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, VodError) and err.retry_after_s:
            wait = max(wait, err.retry_after_s)
        return wait

    def _call(self, action: str, params: Mapping[str, str], attempt: int, expect: tuple[str, type] | None) -> Answer:
        url, headers = self._signed_request(action, params)  # signed first: the call leaves as soon as it may
        limiter = self.limiters[action]
        limiter.acquire()
        self.calls.add()
        try:
            # Straight to the session's adapter: VOD sets no cookies and never redirects (a signed call must
            # not be sent on elsewhere), so session.send's cookie jar, hooks and redirects are left out.
            resp = self._adapter.send(_post(url, headers), timeout=self.timeout, **self._send_settings)
            body = resp.content
        except requests.Timeout as exc:
            raise TransportFault("Timeout", _without_query(self._redact(str(exc)))) from None
        except requests.exceptions.SSLError as exc:
            raise TlsRejected(
                "TlsCertificateRejected",
                _without_query(self._redact(f"{exc}")),
                hint=f"the TLS certificate of {self.host} could not be verified; check VOD_ENDPOINT, or give "
                "the CA that signs it in REQUESTS_CA_BUNDLE",
            ) from None
        except requests.RequestException as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise TransportFault("ConnectionError", _without_query(self._redact(message))) from None
        received_at = time.time()
        try:
            document = jsontext.loads(body)
        except ValueError:
            document = None
        err = self._error(resp, document, action) if resp.status_code != 200 else None
        if isinstance(err, Throttled):
            self.throttled.add()
            limiter.throttled()
        else:
            limiter.admitted()  # only a call the service did not refuse for its rate
        if err is not None:
            raise err
        if not isinstance(document, dict) or (expect and not isinstance(document.get(expect[0]), expect[1])):
            snippet = body[:80].decode("utf-8", "replace")
            shape = f" with a {expect[0]} {'array' if expect[1] is list else 'member'}" if expect else ""
            raise MalformedAnswer(
                "MalformedAnswer",
                f"expected a JSON object{shape}, got {snippet!r}",
                http_status=resp.status_code,
                request_id=document.get("RequestId") if isinstance(document, dict) else None,
            )
        return Answer(
            action=action,
            document=document,
            request_id=str(document.get("RequestId") or ""),
            http_status=resp.status_code,
            attempts=attempt,
            received_at=received_at,
            body=body,
        )

    def _error(self, resp: requests.Response, document: Any, action: str) -> VodError:
        retry_after = resp.headers.get("x-acs-retry-after")
        retry_after_s = None
        if retry_after:
            try:
                retry_after_s = float(retry_after) / 1000.0
            except ValueError:
                pass
        if isinstance(document, dict) and document.get("Code"):
            code = str(document["Code"])
            message = self._redact(str(document.get("Message") or ""))
            request_id = document.get("RequestId")
        else:
            code = f"HTTP{resp.status_code}"
            message = f"{resp.reason or ''} ({resp.headers.get('Content-Type', 'no content type')})".strip()
            request_id = resp.headers.get("x-acs-request-id")
            if resp.status_code < 500 and resp.status_code not in (403, 429):
                # An error answer that cannot be read (cut short, an HTML page): what VOD meant is
                # unknown, so it is asked again rather than taken as the video's fate.
                return MalformedAnswer(
                    code, f"{message}: an error answer that could not be read", http_status=resp.status_code, request_id=request_id
                )
        return error_from_answer(
            code, message, http_status=resp.status_code, request_id=request_id, retry_after_s=retry_after_s, action=action
        )

    def _signed_request(self, action: str, query: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        creds = self.credentials
        now = time.gmtime()
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", now)
        nonce = secrets.token_hex(16)  # 128 random bits, as a UUID4's hex without its fixed bits
        if self.signature_method == signing.HMAC_SHA1:
            params = {
                **query,
                "Action": action,
                "Version": API_VERSION,
                "Format": "JSON",
                "AccessKeyId": creds.access_key_id,
                "SignatureMethod": signing.HMAC_SHA1,
                "SignatureVersion": "1.0",
                "SignatureNonce": nonce,
                "Timestamp": timestamp,
            }
            if creds.security_token:
                params["SecurityToken"] = creds.security_token
            params["Signature"] = signing.rpc_signature("POST", params, creds.access_key_secret)
            return f"{self._base_url}?{signing.canonical_query(params)}", self._session_headers
        headers = {
            "host": self.host,
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": timestamp,
            "x-acs-signature-nonce": nonce,
            "x-acs-content-sha256": signing.EMPTY_BODY_SHA256,
        }
        if creds.security_token:
            headers["x-acs-security-token"] = creds.security_token
        signed = sorted(headers)
        canonical_query = signing.canonical_query(query)
        canonical = signing.acs3_canonical_request("POST", "/", canonical_query, headers, signed, signing.EMPTY_BODY_SHA256)
        signature = signing.acs3_signature(canonical, creds.access_key_secret)
        headers["Authorization"] = signing.acs3_authorization(creds.access_key_id, signed, signature)
        return f"{self._base_url}?{canonical_query}", {**self._session_headers, **headers, "Accept": "application/json"}

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class _EndpointAdapter(HTTPAdapter):
    """requests' transport adapter for a client's one endpoint, whose settings are the same for every call:
    the connection pool (looked up from the URL's parts and the TLS settings) and the path sent (split off
    the URL) are worked out once, not on every call. Any other URL goes the usual way."""

    def __init__(self, base_url: str, pool_size: int):
        super().__init__(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._base_url = base_url
        self._pools: dict[tuple[Any, ...], Any] = {}  # (verify, cert, proxies) -> the endpoint's pool

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: bool | str, proxies: dict[str, str] | None = None, cert: Any = None
    ) -> Any:
        if not str(request.url).startswith(self._base_url):
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        key = (verify, cert, frozenset((proxies or {}).items()))
        pool = self._pools.get(key)
        if pool is None:  # two threads may both look it up: the pool manager gives both the same pool
            pool = self._pools[key] = super().get_connection_with_tls_context(request, verify, proxies, cert)
        return pool

    def request_url(self, request: requests.PreparedRequest, proxies: dict[str, str] | None) -> str:
        url = str(request.url)
        if not proxies and url.startswith(self._base_url):  # no proxy: the path and query
            return url[len(self._base_url) - 1 :]
        return super().request_url(request, proxies)

    def close(self) -> None:
        self._pools.clear()
        super().close()


def _post(url: str, headers: Mapping[str, str]) -> requests.PreparedRequest:
    """A bodiless POST as session.prepare_request makes it, from a URL that is already normalized and
    percent-encoded and headers that already hold the session's: no parsing, merging or validating again."""
    request = requests.PreparedRequest()
    request.method = "POST"
    request.url = url
    request.headers = CaseInsensitiveDict(headers)
    request.headers["Content-Length"] = "0"
    return request


def _without_query(text: str) -> str:
    """requests quotes the signed URL in its errors: keep the path, drop the signed query."""
    return re.sub(r"\?[^\s'\")]*", "?...", text)


def _secret_spellings(credentials: Credentials) -> list[str]:
    """Each secret as it is, and percent-encoded once and twice (as it appears in a string to sign)."""
    spellings = []
    for secret in credentials.secrets():
        once = signing.percent_encode(secret)
        spellings += [secret, once, signing.percent_encode(once)]
    return sorted(set(spellings), key=len, reverse=True)
