"""A local stand-in for one region of ApsaraVideo VOD, over real HTTP/1.1 (keep-alive) on loopback:
ListDynamicImage, and the discovery actions GetVideoList, SearchMedia and GetVideoInfos.

It verifies both signature methods the way VOD does (with ``pipeline.signing``), refuses replays and stale
timestamps, enforces the account's flow control for each action (a token bucket, or a sliding or fixed
one-second window), and injects faults (5xx, 429, slow, dropped, truncated, HTML and XML answers) that are
deterministic per (fault_seed, action and its parameters, n-th call).

Per request: parse -> authenticate -> route the action -> rate limit -> injected fault -> latency -> action.
"""

from __future__ import annotations

import dataclasses
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from localvod import discovery, events
from localvod.catalog import Catalog
from localvod.changes import ADDED
from localvod.clock import Clock
from localvod.http import Serving, TrackedHandler, TrackedServer
from localvod.notify import Notifier
from pipeline.vod import signing
from pipeline.vod.regions import DEFAULT_REGION, REGIONS

log = logging.getLogger(__name__)

API_VERSION = "2017-03-21"
ACTION = "ListDynamicImage"
# Each action and the ServiceConfig field holding its calls-per-second limit; each has its own budget.
ACTION_LIMITS = {
    ACTION: "calls_per_second",
    "GetVideoList": "video_list_calls_per_second",
    "SearchMedia": "search_media_calls_per_second",
    "GetVideoInfos": "video_infos_calls_per_second",
}
HOST_ID = "vod.local"
FAULT_KINDS = ("server_error", "throttle", "slow", "drop", "truncated", "html", "xml")
FLOW_CONTROLS = ("token_bucket", "sliding_window", "fixed_window")  # how the calls-per-second limit is counted

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_JSON_TYPE = "application/json;charset=utf-8"
_XML_TYPE = "text/xml;charset=utf-8"
_HTML_TYPE = "text/html"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_BAD_GATEWAY_PAGE = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html>\n<head><title>502 Bad Gateway</title></head>\n'
    "<body>\n<h1>502 Bad Gateway</h1>\n<p>The proxy server received an invalid response from an upstream "
    "server.</p>\n<hr/>Powered by Tengine</body>\n</html>\n"
)
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


@dataclass
class ServiceConfig:
    """How the local service behaves. Fault rates are probabilities per admitted call; their sum is <= 1."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port
    access_key_id: str = "local-access-key-id"
    access_key_secret: str = "local-access-key-secret"
    security_token: str | None = None  # when set, every request must carry it (STS credentials)
    region: str = DEFAULT_REGION  # the region served: its own catalog (ids and stickers)
    catalog_size: int = 1000
    catalog_seed: int = 7
    same_second_videos: int = 0  # this many videos (the first ones) share one CreationTime second
    calls_per_second: float | None = 100.0  # ListDynamicImage's limit; None: no flow control
    video_list_calls_per_second: float | None = 100.0  # GetVideoList
    search_media_calls_per_second: float | None = 50.0  # SearchMedia
    # GetVideoInfos: VOD documents no limit of its own; 100/s like GetVideoList.
    video_infos_calls_per_second: float | None = 100.0
    flow_control: str = "token_bucket"  # how each limit is counted: one of FLOW_CONTROLS
    burst: int | None = None  # ListDynamicImage's token bucket capacity; None: one second of calls
    scroll_token_ttl_s: float = 600.0  # a SearchMedia ScrollToken unused this long is expired
    latency_ms: float = 0.0  # median of a lognormal service time
    latency_sigma: float = 0.5
    server_error_rate: float = 0.0  # half InternalError 500, half ServiceUnavailable 503
    throttle_rate: float = 0.0  # 429 Throttling with x-acs-retry-after
    retry_after_ms: int = 200
    slow_rate: float = 0.0  # answer normally after slow_seconds
    slow_seconds: float = 15.0
    drop_rate: float = 0.0  # close the connection without an answer
    truncated_rate: float = 0.0  # status as usual, body cut in half
    html_rate: float = 0.0  # 502 with an HTML page
    xml_rate: float = 0.0  # XML although JSON was asked
    fault_seed: int = 0
    clock_skew_tolerance_s: float = 900.0
    permission_denied: bool = False  # the caller authenticates but may not call ListDynamicImage (403 Forbidden)
    forbidden_after_calls: int | None = None  # from this many admitted calls on, 403 Forbidden (a permission revoked)
    # Readings of what VOD does not document, for a client to be tried against each:
    list_ignores_start_time: bool = False  # GetVideoList lists from the oldest video whatever StartTime says
    infos_not_found: str = "list"  # GetVideoInfos' unknown ids: "list" (NonExistVideoIds), or 404 InvalidVideo.NotFound
    # for the whole call when "all" of its ids are unknown, or when "any" is
    # The catalog over days (see changes.py): the share of the videos whose stickers change on each UTC day,
    # the share of those changes that delete a sticker (the rest add one), and the first day with changes
    # (None: the clock's day when the service is made). Dates and times may be given as ISO text.
    sticker_change_rate: float = 0.0
    sticker_delete_share: float = 0.25
    changes_from: dt.date | None = None
    clock_start: dt.datetime | None = None  # None: the wall clock; set: a simulated clock, moved by advance_to
    # Event notifications (sent by a LocalVodAccount, for all its regions): an HTTP callback as VOD makes it.
    callback_url: str | None = None
    callback_auth_key: str | None = None  # set: X-VOD-TIMESTAMP and X-VOD-SIGNATURE headers
    callback_retry_s: float = 1.0  # between the 3 attempts of a callback
    callback_loss_rate: float = 0.0  # share of callbacks never sent (drawn from fault_seed and the event)
    # Other accounts served beside this one, as VOD serves every account at one endpoint: name -> the fields
    # of this config that account changes, its own access_key_id and access_key_secret at least. A call is
    # answered by the account whose AccessKeyId signed it: that account's catalog (of its own seed: the
    # n-th account's is catalog_seed + n unless given), its limits, faults and counters; no other's.
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.changes_from, str):
            self.changes_from = dt.date.fromisoformat(self.changes_from)
        if isinstance(self.clock_start, str):
            self.clock_start = dt.datetime.fromisoformat(self.clock_start.replace("Z", "+00:00"))
        for name in ("sticker_change_rate", "sticker_delete_share", "callback_loss_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.callback_retry_s < 0:
            raise ValueError(f"callback_retry_s must be >= 0, got {self.callback_retry_s}")
        if self.infos_not_found not in ("list", "all", "any"):
            raise ValueError(f"infos_not_found must be list, all or any, got {self.infos_not_found!r}")
        rates = {kind: getattr(self, f"{kind}_rate") for kind in FAULT_KINDS}
        for kind, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{kind}_rate must be between 0 and 1, got {rate}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to more than 1 (at most one fault per call): {rates}")
        for name in ACTION_LIMITS.values():
            limit = getattr(self, name)
            if limit is not None and limit <= 0:
                raise ValueError(f"{name} must be > 0 or None, got {limit}")
        if self.region not in REGIONS:
            raise ValueError(f"region must be one of {', '.join(sorted(REGIONS))}, got {self.region!r}")
        if self.flow_control not in FLOW_CONTROLS:
            raise ValueError(f"flow_control must be one of {', '.join(FLOW_CONTROLS)}, got {self.flow_control!r}")
        self.account_configs()  # each account's config is checked as this one is

    def account_configs(self) -> dict[str, ServiceConfig]:
        """Each other account's whole config: this one with the account's changes, on this listener and region."""
        configs: dict[str, ServiceConfig] = {}
        key_ids = {self.access_key_id}
        for n, (name, changes) in enumerate(self.accounts.items(), start=1):
            missing = [k for k in ("access_key_id", "access_key_secret") if not changes.get(k)]
            if missing:
                raise ValueError(f"account {name!r} needs its own {' and '.join(missing)}")
            if changes["access_key_id"] in key_ids:
                raise ValueError(f"account {name!r} has the AccessKeyId of another account")
            key_ids.add(changes["access_key_id"])
            fields = {f.name for f in dataclasses.fields(self)} - _LISTENER_FIELDS
            unknown = sorted(set(changes) - fields)
            if unknown:
                raise ValueError(f"account {name!r} cannot set {', '.join(unknown)}")
            configs[name] = dataclasses.replace(self, **{"catalog_seed": self.catalog_seed + n, **changes, "accounts": {}})
        return configs


# What belongs to the listener and its region rather than to an account; the callback and the clock are the
# first account's (a LocalVodAccount sends its events).
_LISTENER_FIELDS = frozenset(
    ("host", "port", "region", "accounts", "clock_start", "callback_url", "callback_auth_key", "callback_retry_s", "callback_loss_rate")
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
    content_type: str = _JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


class _TokenBucket:
    """Thread-safe token bucket: ``capacity`` calls at once, refilled at ``rate`` a second; starts full."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.capacity, self._clock = rate, capacity, clock
        self._tokens, self._stamp = capacity, clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class _SlidingWindow:
    """At most ``limit`` admitted calls in any one second: a call is refused when ``limit`` calls were
    admitted in the second before it (refused calls do not count)."""

    def __init__(self, limit: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self._clock = max(1, int(limit)), clock
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.popleft()
            if len(self._admitted) >= self.limit:
                return False
            self._admitted.append(now)
            return True


class _FixedWindow:
    """At most ``limit`` admitted calls per whole second of the clock; the count starts again at each
    second boundary (so up to twice the limit can pass within a second that straddles one)."""

    def __init__(self, limit: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self._clock = max(1, int(limit)), clock
        self._second, self._count = math.floor(clock()), 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            second = math.floor(self._clock())
            if second != self._second:
                self._second, self._count = second, 0
            if self._count >= self.limit:
                return False
            self._count += 1
            return True


FlowControl = _TokenBucket | _SlidingWindow | _FixedWindow


def _flow_control(config: ServiceConfig, action: str = ACTION) -> FlowControl | None:
    """The account's flow control of one action as configured; None when there is none."""
    cps = getattr(config, ACTION_LIMITS[action])
    if cps is None:
        return None
    if config.flow_control == "sliding_window":
        return _SlidingWindow(cps)
    if config.flow_control == "fixed_window":
        return _FixedWindow(cps)
    burst = config.burst if action == ACTION else None
    return _TokenBucket(cps, max(1.0, float(burst or cps)))


def flow_controls(config: ServiceConfig) -> dict[str, FlowControl | None]:
    """One flow control per action (None: unlimited), to share between services (regions) of one account."""
    return {action: _flow_control(config, action) for action in ACTION_LIMITS}


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


def _xml_element(name: str, value: Any) -> str:
    if isinstance(value, list):  # VOD repeats the element once per item, with no wrapper
        return "".join(_xml_element(name, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(_xml_element(k, v) for k, v in value.items())
    else:
        inner = escape(str(value))
    return f"<{name}>{inner}</{name}>"


def _render(doc: dict[str, Any], xml_root: str, fmt: str) -> tuple[bytes, str]:
    if fmt == "xml":
        return (_XML_DECLARATION + _xml_element(xml_root, doc)).encode(), _XML_TYPE
    return json.dumps(doc, separators=(",", ":")).encode(), _JSON_TYPE


def _error_doc(request_id: str, code: str, message: str) -> dict[str, str]:
    return {
        "RequestId": request_id,
        "HostId": HOST_ID,
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=vod&requestId={request_id}",
    }


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
            doc = _error_doc(request_id, refusal.code, refusal.message)
        else:
            headers = {}
        if fault is None or fault == "slow":  # a garbled answer is counted as its fault only
            self._count(stat, action=action)
        body, content_type = _render(doc, root, fmt)
        if fault == "truncated":
            body = body[: len(body) // 2]
        return _Answer(status, body, content_type, {"x-acs-request-id": request_id, **headers})

    def _fault_answer(self, fault: str | None, rng: random.Random) -> _Answer | None:
        """What an injected fault answers instead of the action (raised when it is an error document);
        None when the action's answer goes out (possibly garbled afterwards)."""
        if fault == "drop":
            return _Answer(drop=True)
        if fault == "html":
            return _Answer(502, _BAD_GATEWAY_PAGE.encode(), _HTML_TYPE)
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
            signed_at = dt.datetime.strptime(timestamp, _TIME_FORMAT).replace(tzinfo=dt.UTC).timestamp()
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


# --- HTTP plumbing -----------------------------------------------------------------------------------------


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
            doc = _error_doc(_request_id(), "InternalError", "The local VOD service failed; see its log.")
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


def serve_forever(config: ServiceConfig | None = None, regions: Sequence[str] | None = None, *, shared_limits: bool = True) -> None:
    """Run the service in the foreground until Ctrl-C, after printing its endpoint and AccessKeyId. With
    ``regions``, one service per region on consecutive ports, and a ``VOD_ENDPOINTS=`` line to paste."""
    from localvod.account import LocalVodAccount  # the account is made of services

    cfg = config or ServiceConfig()
    account = LocalVodAccount(cfg, regions or (cfg.region,), shared_limits=shared_limits).start()
    rate = "unlimited" if cfg.calls_per_second is None else f"{cfg.calls_per_second:g} calls/s"
    if regions:
        rate += " shared by the regions" if shared_limits else " in each region"
    for region, service in account.services.items():
        where = f" ({region})" if regions else ""
        print(
            f"Local VOD service{where} at {service.endpoint} -- AccessKeyId {cfg.access_key_id}, "
            f"{cfg.catalog_size} videos (seed {cfg.catalog_seed}), {rate}. Ctrl-C to stop.",
            flush=True,
        )
    for name, other in cfg.account_configs().items():
        print(
            f"  and account {name}: AccessKeyId {other.access_key_id}, {other.catalog_size} videos (seed {other.catalog_seed})",
            flush=True,
        )
    if regions:
        print("VOD_ENDPOINTS=" + ",".join(f"{r}={e}" for r, e in account.endpoints.items()), flush=True)
    if cfg.sticker_change_rate:
        start = next(iter(account.services.values())).catalog.timeline.start
        print(
            f"Stickers change: {cfg.sticker_change_rate:.1%} of the videos a day from {start} "
            f"({cfg.sticker_delete_share:.0%} of the changes delete one).",
            flush=True,
        )
    if cfg.callback_url:
        signed = "signed" if cfg.callback_auth_key else "unsigned"
        print(f"Events: {signed} HTTP callbacks to {cfg.callback_url}.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        account.stop()
