"""How a local VOD service behaves: its API version and actions, flow control, faults, latency, catalog,
accounts and events (ServiceConfig)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

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


# What belongs to the listener and its region rather than to an account; the callback and the clock are the
# first account's (a LocalVodAccount sends its events).
_LISTENER_FIELDS = frozenset(
    ("host", "port", "region", "accounts", "clock_start", "callback_url", "callback_auth_key", "callback_retry_s", "callback_loss_rate")
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
    sticker_share: float = 0.8  # of the catalog's videos made with stickers (the others have none until a job makes one)
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
        for name in ("sticker_change_rate", "sticker_delete_share", "sticker_share", "callback_loss_rate"):
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
