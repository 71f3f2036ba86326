"""A local stand-in for one region of ApsaraVideo VOD, over real HTTP/1.1 (keep-alive) on loopback:
ListDynamicImage, and the discovery actions GetVideoList, SearchMedia and GetVideoInfos.

It verifies both signature methods the way VOD does (with ``pipeline.vod.signing``), refuses replays and stale
timestamps, enforces the account's flow control for each action (a token bucket, or a sliding or fixed
one-second window), and injects faults (5xx, 429, slow, dropped, truncated, HTML and XML answers) that are
deterministic per (fault_seed, action and its parameters, n-th call).

Per request: parse -> authenticate -> route the action -> rate limit -> injected fault -> latency -> action.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from localvod import discovery, events
from localvod.catalog import Catalog
from localvod.changes import ADDED
from localvod.clock import Clock
from localvod.config import ACTION, ACTION_LIMITS, API_VERSION, FAULT_KINDS, ServiceConfig
from localvod.flow import FlowControl, flow_controls
from localvod.http import Serving, TrackedHandler, TrackedServer
from localvod.notify import Notifier
from localvod.render import BAD_GATEWAY_PAGE, HTML_TYPE, JSON_TYPE, TIME_FORMAT, error_doc, render
from pipeline.vod import signing

log = logging.getLogger(__name__)


_RPC_REQUIRED = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp")


_V3_REQUIRED = ("x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")


_NONCE_LOG_LIMIT = 1_000_000


_ANSWER_TIMES_LIMIT = 200_000  # admitted calls remembered per action


# Parameters that say nothing about what a call asks for: left out of the key its fault is drawn from.
_COMMON_PARAMS = frozenset(
    (
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
        "SecurityToken",
        "ScrollToken",
        "RegionId",
    )
)


class _Refusal(Exception):
    """An error answer, and the stats counter it counts under."""

    def __init__(self, status: int, code: str, message: str, stat: str, headers: dict[str, str] | None = None):
        super().__init__(code)
        self.status, self.code, self.message, self.stat = status, code, message, stat
        self.headers = headers or {}


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str] | Message  # case-insensitive (http.client.HTTPMessage)
    body: bytes


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


class _NonceLog:
    """Nonces seen within the timestamp window: a replay inside it is refused."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._seen: set[str] = set()
        self._order: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def first_use(self, nonce: str) -> bool:
        with self._lock:
            now = time.monotonic()
            while self._order and (now - self._order[0][0] > self.window_s or len(self._order) >= _NONCE_LOG_LIMIT):
                self._seen.discard(self._order.popleft()[1])
            if nonce in self._seen:
                return False
            self._seen.add(nonce)
            self._order.append((now, nonce))
            return True


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _missing(name: str, stat: str = "rejected") -> _Refusal:
    return _Refusal(
        400,
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
        stat,
    )


def _signature_mismatch(string_to_sign: str, reason: str = "") -> _Refusal:
    reason = f" {reason}" if reason else ""
    return _Refusal(
        400,
        "SignatureDoesNotMatch",
        f"Specified signature is not matched with our calculation.{reason} server string to sign is:{string_to_sign}",
        "auth_errors",
    )


class LocalVodService(Serving):
    """The local VOD service of one region: ``start()`` it (or use it as a context manager) and call
    ``endpoint``. ``shared_flow_controls`` (from ``flow_controls``) replaces its own per-action budgets, so
    several services can spend one account's budget together; a shared ``clock`` makes them answer at one
    time (default: a clock of its own, at ``config.clock_start``). Its events go to ``notifier`` (none
    without one); a ``LocalVodAccount`` moves the clock and announces the sticker changes as they come due.

    The other accounts of ``config.accounts`` are each a LocalVodService of their own behind this one's
    listener, in ``accounts`` by name (their catalog, ``stats`` and ``answer_times``), their budgets shared
    with other services through ``account_flow_controls`` (name -> ``flow_controls`` of that account)."""

    _name = "local VOD"

    def __init__(
        self,
        config: ServiceConfig | None = None,
        *,
        shared_flow_controls: Mapping[str, FlowControl | None] | None = None,
        account_flow_controls: Mapping[str, Mapping[str, FlowControl | None]] | None = None,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ):
        self.config = config or ServiceConfig()
        self.region = self.config.region
        self.clock = clock or Clock(self.config.clock_start)
        self.notifier = notifier
        self.catalog = Catalog(
            size=self.config.catalog_size,
            seed=self.config.catalog_seed,
            region=self.config.region,
            same_second=self.config.same_second_videos,
            clock=self.clock,
            sticker_change_rate=self.config.sticker_change_rate,
            sticker_delete_share=self.config.sticker_delete_share,
            changes_from=self.config.changes_from,
            sticker_share=self.config.sticker_share,
        )
        self._flow_controls = dict(shared_flow_controls or flow_controls(self.config))
        self._walks = discovery.ScrollWalks(self.config.scroll_token_ttl_s)
        self._actions: dict[str, Callable[[dict[str, str]], tuple[dict[str, Any], str]]] = {
            ACTION: self._list_dynamic_image,
            "GetVideoList": lambda params: (
                discovery.get_video_list(self.catalog, params, ignore_start=self.config.list_ignores_start_time),
                "GetVideoListResponse",
            ),
            "SearchMedia": lambda params: (discovery.search_media(self.catalog, self._walks, params), "SearchMediaResponse"),
            "GetVideoInfos": lambda params: (
                discovery.get_video_infos(self.catalog, params, not_found=self.config.infos_not_found),
                "GetVideoInfosResponse",
            ),
        }
        self._nonces = _NonceLog(self.config.clock_skew_tolerance_s)
        self._lock = threading.Lock()
        self._calls: dict[str, int] = {}
        self._admitted_calls = 0  # every action's, for forbidden_after_calls
        self._answer_times = {action: deque[float](maxlen=_ANSWER_TIMES_LIMIT) for action in ACTION_LIMITS}
        self._stats: dict[str, Any] = {
            "requests": 0,
            "connections": 0,
            "answered": 0,
            "not_found": 0,
            "rejected": 0,
            "throttled": 0,
            "auth_errors": 0,
            "faults": dict.fromkeys(FAULT_KINDS, 0),
            "actions": {action: dict.fromkeys(_ACTION_STATS, 0) for action in ACTION_LIMITS},
        }
        self._stopping = threading.Event()
        self.accounts: dict[str, LocalVodService] = {
            name: LocalVodService(account, shared_flow_controls=(account_flow_controls or {}).get(name), clock=self.clock)
            for name, account in self.config.account_configs().items()
        }
        for account in self.accounts.values():
            account._stopping = self._stopping  # a slow answer of any account ends when the listener stops
        self._by_key_id = {account.config.access_key_id: account for account in self.accounts.values()}

    # --- lifecycle ------------------------------------------------------------------------------------

    def _new_server(self) -> TrackedServer:
        return TrackedServer((self.config.host, self.config.port), _Handler, self, on_open=lambda: self._count("connections"))

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters over every action: requests, connections, answered, not_found,
        rejected, throttled (flow control), auth_errors and faults by kind; under ``actions``, each
        action's answered, not_found, rejected, throttled and faults (calls naming it, once authenticated);
        and with a notifier, under ``events``, this region's events and their callbacks (``Notifier.stats``)."""
        with self._lock:
            snapshot = {k: dict(v) if isinstance(v, dict) else v for k, v in self._stats.items()}
            snapshot["actions"] = {action: dict(counts) for action, counts in self._stats["actions"].items()}
        if self.notifier is not None:
            snapshot["events"] = self.notifier.stats(self.region)
        return snapshot

    # --- what happens to the catalog, and the events that say so ------------------------------------------

    def upload(self, count: int = 1, at: dt.datetime | None = None, **given: list[str] | None) -> list[str]:
        """Add ``count`` videos created ``at`` (default: the clock's now), each announced by FileUploadComplete;
        ``ids`` and ``titles`` as ``Catalog.upload`` takes them."""
        added = self.catalog.upload(count, at, **given)
        for video_id in added:
            video, created = self.catalog.video(video_id), self.catalog.creation_time(video_id)
            assert video is not None and created is not None
            self._publish(events.file_upload_complete(video, created))
        return added

    def delete(self, video_id: str) -> None:
        """Remove the video (KeyError if the catalog does not hold it), announced by DeleteMediaComplete."""
        self.catalog.delete(video_id)
        self._publish(events.delete_media_complete(video_id, self.clock.timestamp()))

    def due_events(self, since: int, until: int) -> list[tuple[int, dict[str, Any]]]:
        """(time, event) of the sticker jobs that finished with since < time <= until (unix seconds), oldest
        first: each new sticker's DynamicImageComplete. Deleted stickers announce nothing."""
        changes = self.catalog.changes(dt.datetime.fromtimestamp(since, dt.UTC), dt.datetime.fromtimestamp(until, dt.UTC))
        signed_at = int(time.time())
        return [
            (change.at, events.dynamic_image_complete(self.catalog.added_sticker(change, signed_at), change.at))
            for change in changes
            if change.kind == ADDED
        ]

    def _publish(self, event: dict[str, Any]) -> None:
        if self.notifier is not None:
            self.notifier.publish(event, self.region)

    def answer_times(self, action: str = ACTION) -> list[float]:
        """``time.monotonic()`` of each call of ``action`` the flow control admitted (the latest 200,000)."""
        with self._lock:
            return list(self._answer_times[action])

    def _count(self, stat: str, kind: str | None = None, action: str | None = None) -> None:
        with self._lock:
            if kind is None:
                self._stats[stat] += 1
            else:
                self._stats[stat][kind] += 1
            if action in self._stats["actions"] and stat in _ACTION_STATS:
                self._stats["actions"][action][stat] += 1

    # --- one request ------------------------------------------------------------------------------------

    def _answer(self, request: _Request) -> _Answer:
        """The answer of the account whose AccessKeyId signed the request (this one's when none other's)."""
        v3 = "authorization" in request.headers
        params = dict(request.query)
        if _is_form(request):
            params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        account = self._by_key_id.get(_access_key_id(request, params, v3) or "", self) if self._by_key_id else self
        return account._answer_as_account(request, params, v3)

    def _answer_as_account(self, request: _Request, params: dict[str, str], v3: bool) -> _Answer:
        self._count("requests")
        request_id = _request_id()
        fmt = _answer_format(params.get("Format"), v3)
        fault, action = None, None
        try:
            if v3:
                self._authenticate_v3(request, params)
                action, version = request.headers.get("x-acs-action"), request.headers.get("x-acs-version")
            else:
                self._authenticate_rpc(request, params)
                action, version = params.get("Action"), params.get("Version")
            action, handler = self._route(action, version)
            self._admit(action)
            self._check_revoked()
            fault, rng = self._draw_fault(_call_key(action, params))
            if fault is not None:
                self._count("faults", fault, action)
            delay = self._latency(rng) + (self.config.slow_seconds if fault == "slow" else 0.0)
            if delay > 0 and self._stopping.wait(delay):
                return _Answer(drop=True)
            if (replaced := self._fault_answer(fault, rng)) is not None:
                return replaced
            if fault == "xml":
                fmt = "xml"
            try:
                doc, root = handler(params)
            except discovery.ParameterError as err:
                raise _Refusal(err.status, err.code, err.message, "rejected") from None
            status, stat = 200, "answered"
            doc = {"RequestId": request_id, **doc}
        except _Refusal as refusal:
            status, root, headers, stat = refusal.status, "Error", refusal.headers, refusal.stat
            doc = error_doc(request_id, refusal.code, refusal.message)
        else:
            headers = {}
        if fault is None or fault == "slow":  # a garbled answer is counted as its fault only
            self._count(stat, action=action)
        body, content_type = render(doc, root, fmt)
        if fault == "truncated":
            body = body[: len(body) // 2]
        return _Answer(status, body, content_type, {"x-acs-request-id": request_id, **headers})

    def _fault_answer(self, fault: str | None, rng: random.Random) -> _Answer | None:
        """What an injected fault answers instead of the action (raised when it is an error document);
        None when the action's answer goes out (possibly garbled afterwards)."""
        if fault == "drop":
            return _Answer(drop=True)
        if fault == "html":
            return _Answer(502, BAD_GATEWAY_PAGE.encode(), HTML_TYPE)
        if fault == "throttle":
            raise _Refusal(
                429,
                "Throttling",
                "Request was denied due to request throttling.",
                "faults",
                {"x-acs-retry-after": str(self.config.retry_after_ms)},
            )
        if fault == "server_error":
            if rng.random() < 0.5:
                raise _Refusal(
                    500,
                    "InternalError",
                    "The request processing has failed due to some unknown error, exception or failure.",
                    "faults",
                )
            raise _Refusal(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.", "faults")
        return None

    def _route(self, action: str | None, version: str | None) -> tuple[str, Callable[[dict[str, str]], tuple[dict[str, Any], str]]]:
        """The named action and its handler, which answers (document without RequestId, XML root)."""
        if not action:
            raise _missing("Action")
        if not version:
            raise _missing("Version")
        if version != API_VERSION:
            raise _Refusal(400, "InvalidVersion", f"Specified parameter Version is not valid: {version}.", "rejected")
        if action not in self._actions:
            raise _Refusal(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.", "rejected")
        return action, self._actions[action]

    def _admit(self, action: str) -> None:
        """Spend one call of the action's flow control, or refuse it with Throttling.User."""
        flow_control = self._flow_controls.get(action)
        if flow_control is not None and not flow_control.take():
            raise _Refusal(400, "Throttling.User", "Request was denied due to user flow control.", "throttled")
        now = time.monotonic()
        with self._lock:
            self._answer_times[action].append(now)

    def _list_dynamic_image(self, params: dict[str, str]) -> tuple[dict[str, Any], str]:
        video_id = params.get("VideoId", "")
        if not video_id:
            raise _missing("VideoId")
        items = self.catalog.stickers(video_id, signed_at=int(time.time()))
        if items is None:
            raise _Refusal(404, "InvalidVideo.NotFound", "The video does not exist.", "not_found")
        return {"DynamicImageList": items}, f"{ACTION}Response"

    def _draw_fault(self, key: str) -> tuple[str | None, random.Random]:
        """The fault of this call, from (fault_seed, the call's key, n-th admitted call with that key) alone."""
        with self._lock:
            n = self._calls.get(key, 0)
            self._calls[key] = n + 1
        rng = random.Random(f"{self.config.fault_seed}:{key}:{n}")
        draw, threshold = rng.random(), 0.0
        for kind in FAULT_KINDS:
            threshold += getattr(self.config, f"{kind}_rate")
            if draw < threshold:
                return kind, rng
        return None, rng

    def _latency(self, rng: random.Random) -> float:
        if self.config.latency_ms <= 0:
            return 0.0
        return rng.lognormvariate(math.log(self.config.latency_ms / 1000.0), self.config.latency_sigma)

    # --- authentication -------------------------------------------------------------------------------

    def _authenticate_rpc(self, request: _Request, params: dict[str, str]) -> None:
        for name in _RPC_REQUIRED:
            if not params.get(name):
                raise _missing(name, "auth_errors")
        if params["SignatureMethod"] != signing.HMAC_SHA1 or params["SignatureVersion"] != "1.0":
            raise _Refusal(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards: "
                f"SignatureMethod must be {signing.HMAC_SHA1} and SignatureVersion 1.0.",
                "auth_errors",
            )
        self._check_access_key(params["AccessKeyId"])
        expected = signing.rpc_signature(request.method, params, self.config.access_key_secret)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            raise _signature_mismatch(signing.rpc_string_to_sign(request.method, params))
        self._check_token(params.get("SecurityToken"))
        self._check_freshness(params["Timestamp"], params["SignatureNonce"])

    def _authenticate_v3(self, request: _Request, params: dict[str, str]) -> None:
        parsed = signing.parse_acs3_authorization(request.headers.get("authorization", ""))
        if parsed is None:
            raise _Refusal(
                400,
                "IncompleteSignature",
                f"The Authorization header does not conform to Aliyun standards: expected "
                f"'{signing.ACS3_HMAC_SHA256} Credential=...,SignedHeaders=...,Signature=...'.",
                "auth_errors",
            )
        access_key_id, signed_headers, signature = parsed
        for name in _V3_REQUIRED:
            if not request.headers.get(name):
                raise _missing(name, "auth_errors")
        signed = {h.lower() for h in signed_headers}
        unsigned = sorted(
            name
            for name in {k.lower() for k in request.headers.keys()} | {"host"}
            if (name == "host" or name.startswith("x-acs-")) and name not in signed
        )
        if unsigned:
            raise _Refusal(
                400,
                "IncompleteSignature",
                f"SignedHeaders must include host and every x-acs-* header; not signed: {', '.join(unsigned)}.",
                "auth_errors",
            )
        self._check_access_key(access_key_id)
        payload_sha256 = request.headers["x-acs-content-sha256"]
        canonical = signing.acs3_canonical_request(
            request.method,
            request.path,
            request.query,
            {name: request.headers.get(name, "") for name in signed},
            sorted(signed),
            payload_sha256,
        )
        string_to_sign = signing.acs3_string_to_sign(canonical)
        if payload_sha256 != hashlib.sha256(request.body).hexdigest():
            raise _signature_mismatch(string_to_sign, "x-acs-content-sha256 is not the SHA-256 of the body.")
        expected = signing.acs3_signature(canonical, self.config.access_key_secret)
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise _signature_mismatch(string_to_sign)
        self._check_token(request.headers.get("x-acs-security-token"))
        self._check_freshness(request.headers["x-acs-date"], request.headers["x-acs-signature-nonce"])

    def _check_access_key(self, access_key_id: str) -> None:
        if access_key_id != self.config.access_key_id:
            raise _Refusal(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.", "auth_errors")

    def _check_revoked(self) -> None:
        """Forbidden once ``forbidden_after_calls`` calls were admitted: a permission taken away mid-run."""
        limit = self.config.forbidden_after_calls
        if limit is None:
            return
        with self._lock:
            self._admitted_calls += 1
            revoked = self._admitted_calls > limit
        if revoked:
            raise _Refusal(403, "Forbidden", "User not authorized to operate on the specified resource.", "auth_errors")

    def _check_token(self, token: str | None) -> None:
        expected = self.config.security_token
        if expected is not None and not hmac.compare_digest((token or "").encode(), expected.encode()):
            raise _Refusal(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken mismatch with the AccessKey.", "auth_errors")
        if self.config.permission_denied:
            raise _Refusal(403, "Forbidden", "User not authorized to operate on the specified resource.", "auth_errors")

    def _check_freshness(self, timestamp: str, nonce: str) -> None:
        try:
            signed_at = dt.datetime.strptime(timestamp, TIME_FORMAT).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            raise _Refusal(
                400,
                "InvalidTimeStamp.Format",
                f"Specified time stamp or date value is not well formatted: {timestamp} (want YYYY-MM-DDThh:mm:ssZ).",
                "auth_errors",
            ) from None
        if abs(time.time() - signed_at) > self.config.clock_skew_tolerance_s:
            raise _Refusal(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", "auth_errors")
        if not self._nonces.first_use(nonce):
            raise _Refusal(400, "SignatureNonceUsed", "Specified signature nonce was used already.", "auth_errors")


_ACTION_STATS = ("answered", "not_found", "rejected", "throttled", "faults")


def _call_key(action: str, params: Mapping[str, str]) -> str:
    """What a call's fault is drawn from: ListDynamicImage's VideoId (as it always was), else the action and
    its own parameters (not the signature's, nor the ever-changing ScrollToken)."""
    if action == ACTION:
        return params.get("VideoId", "")
    own = sorted((k, v) for k, v in params.items() if k not in _COMMON_PARAMS)
    return action + "?" + "&".join(f"{k}={v}" for k, v in own)


def _access_key_id(request: _Request, params: Mapping[str, str], v3: bool) -> str | None:
    """The AccessKeyId a request says it is signed with (not checked yet)."""
    if v3:
        parsed = signing.parse_acs3_authorization(request.headers.get("authorization", ""))
        return parsed[0] if parsed else None
    return params.get("AccessKeyId")


def _is_form(request: _Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return request.method == "POST" and content_type.lower().startswith("application/x-www-form-urlencoded")


def _answer_format(asked: str | None, v3: bool) -> str:
    """RPC answers XML unless JSON is asked (VOD's documented default); V3 answers JSON unless XML is asked."""
    if asked is None:
        return "json" if v3 else "xml"
    return "json" if asked.lower() == "json" else "xml"


class _Handler(TrackedHandler):
    server_version = "localvod/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "Bad request body framing")
            return
        url = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=url.path or "/",
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=self.headers,
            body=body,
        )
        try:
            answer = self.server.service._answer(request)
        except Exception:
            log.exception("local VOD service failed on %s %s", self.command, self.path)
            doc = error_doc(_request_id(), "InternalError", "The local VOD service failed; see its log.")
            answer = _Answer(500, json.dumps(doc).encode())
        if answer.drop:
            self.close_connection = True
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""
