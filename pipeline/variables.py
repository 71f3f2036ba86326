"""Every environment variable the pipeline reads, declared once: its name, default and meaning.

``pipeline.settings`` reads the environment through this table alone (a name it does not hold is a bug,
named), takes the defaults from it, and ``docs/configuration.md`` is made from it (``python -m
docs.configuration``; a test keeps the page current).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.normalize import DEFAULT_URL_VALIDITY_S
from pipeline.refresh import DEFAULT_EVERY_DAYS, QUIET_FACTOR
from pipeline.store.lease import DEFAULT_LEASE_S
from pipeline.vod.regions import DEFAULT_REGION
from pipeline.vod.signing import ACS3_HMAC_SHA256


@dataclass(frozen=True)
class Variable:
    name: str
    topic: str
    meaning: str
    default: str | int | float | None = None  # None: unset means none, or the meaning says what
    shown: str = ""  # the default as the page shows it, when it is not the value itself
    read_by: str = ""  # a library that reads it itself (the pipeline only passes the environment on)


VOD = "Alibaba Cloud VOD"
DISCOVERY = "Which videos: the video set and the refresh plan"
EVENTS = "VOD's events"
DATA = "The data directory"
STORE = "The data directory on an object store"
RUNS = "Runs, alerts and Dagster"

VARIABLES: tuple[Variable, ...] = (
    Variable("ALIBABA_CLOUD_ACCESS_KEY_ID", VOD, "AccessKey id of a RAM user allowed vod:ListDynamicImage (required)"),
    Variable("ALIBABA_CLOUD_ACCESS_KEY_SECRET", VOD, "its AccessKey secret (required)"),
    Variable("ALIBABA_CLOUD_SECURITY_TOKEN", VOD, "STS token, when the credentials are temporary"),
    Variable(
        "VOD_REGION",
        VOD,
        "the storage region of the account's videos, when they are in one (cn-shanghai, cn-beijing, cn-shenzhen, "
        "cn-hongkong, ap-northeast-1, ap-southeast-1, ap-southeast-5, eu-central-1, us-west-1)",
        DEFAULT_REGION,
    ),
    Variable("VOD_REGIONS", VOD, "the storage regions the account's videos are in, comma-separated (instead of VOD_REGION)"),
    Variable("VOD_ENDPOINT", VOD, "with one region: its full base address, overriding the region's (plain http:// only for loopback)"),
    Variable("VOD_ENDPOINTS", VOD, "with several: region=address pairs, comma-separated, for the regions not at their own VOD host"),
    Variable(
        "VOD_RATE_LIMITS",
        VOD,
        "shared: the regions share the account's calls per second of each action (a limit on VOD's QPS page that "
        "names no region applies to all regions); per-region: each region has its own",
        "shared",
    ),
    Variable("VOD_CALLS_PER_SECOND", VOD, "the account's ListDynamicImage budget, calls per second", 100.0),
    Variable("VOD_CONCURRENCY", VOD, "calls in flight at once", 16),
    Variable("VOD_SIGNATURE_METHOD", VOD, "ACS3-HMAC-SHA256 (signature V3, as the current SDK) or HMAC-SHA1 (RPC)", ACS3_HMAC_SHA256),
    Variable(
        "REQUESTS_CA_BUNDLE",
        VOD,
        "a CA bundle to verify VOD's TLS certificate with, for an endpoint behind a private CA",
        read_by="requests",
    ),
    Variable(
        "VOD_URL_VALIDITY_S", VOD, "how long the CDN keeps a signed sticker URL valid, for url_expires_at (seconds)", DEFAULT_URL_VALIDITY_S
    ),
    Variable(
        "VOD_ACCOUNTS_FILE",
        VOD,
        "a TOML file listing several accounts followed side by side, each naming the variables that hold its own "
        'keys (docs/operators.md, "Several accounts")',
        None,
        "none: one account, the variables above",
    ),
    Variable(
        "VIDEO_SOURCE",
        DISCOVERY,
        "csv: the video set is videos.csv in the data directory; vod: every video of the account in its regions, discovered each day",
        "csv",
    ),
    Variable(
        "VOD_FULL_WALK_DAYS",
        DISCOVERY,
        "with VIDEO_SOURCE=vod: days between full walks of the account (the walks between list only videos created "
        "since; a full walk notices deletions)",
        7,
    ),
    Variable(
        "VOD_REFRESH_DAYS",
        DISCOVERY,
        "every video is asked again at least every this many days; on the days between, a video VOD announced no "
        "change for carries its last answer (1: every video every day)",
        DEFAULT_EVERY_DAYS,
    ),
    Variable(
        "VOD_REFRESH_QUIET_DAYS",
        DISCOVERY,
        "a video whose last answer held no sticker is asked again at least every this many days while the account's "
        "DynamicImageComplete events arrive (a new sticker comes with its event; only a video with stickers can lose "
        "one unannounced); every VOD_REFRESH_DAYS days when they have stopped. At least VOD_REFRESH_DAYS; equal to it "
        "turns the longer cadence off",
        None,
        shown=f"{QUIET_FACTOR} × VOD_REFRESH_DAYS (with VOD_REFRESH_DAYS=1, 1: every video every day)",
    ),
    Variable(
        "VOD_REFRESH_WINDOW_HOURS",
        DISCOVERY,
        "the day's call budget is what ListDynamicImage's limit allows in this many hours (per region with "
        "VOD_RATE_LIMITS=per-region); it caps the sweep ahead of time, never a video that must be asked",
        4.0,
    ),
    Variable("VOD_REFRESH_BUDGET", DISCOVERY, "instead, the day's call budget in calls"),
    Variable("VOD_EVENTS_PORT", EVENTS, "port of vod-stickers events, the receiver of VOD's HTTP callbacks", 9090),
    Variable("VOD_CALLBACK_URL", EVENTS, "the callback URL exactly as configured in VOD (its signature covers it)"),
    Variable(
        "VOD_CALLBACK_KEYS",
        EVENTS,
        "the callback's AuthKey (the previous one after a comma during a rotation): callbacks without a valid, fresh "
        "X-VOD-SIGNATURE are refused",
        None,
        "none: callbacks taken unauthenticated, from this machine only",
    ),
    Variable("VOD_MNS_ENDPOINT", EVENTS, "the MNS endpoint of the queue VOD's events also go to, read with the account's AccessKey"),
    Variable("VOD_MNS_QUEUE", EVENTS, "that queue's name"),
    Variable(
        "VOD_EVENTS_INBOX",
        EVENTS,
        "the file VOD's events are kept in (SQLite, on local disk)",
        None,
        "events/inbox.sqlite in the data directory; data/events/inbox.sqlite with a store",
    ),
    Variable("PIPELINE_DATA_DIR", DATA, "the data directory: a folder, or an object store's s3://bucket/prefix", "data"),
    Variable(
        "PIPELINE_LEASE_SECONDS",
        DATA,
        "on a store: how long a killed run keeps its hold on a day (renewed every quarter of it while the run lives)",
        DEFAULT_LEASE_S,
    ),
    Variable("AWS_ACCESS_KEY_ID", STORE, "the store's key id (without keys: boto's usual chain)"),
    Variable("AWS_SECRET_ACCESS_KEY", STORE, "the store's secret"),
    Variable("AWS_SESSION_TOKEN", STORE, "the store's session token, when the keys are temporary"),
    Variable("AWS_ENDPOINT_URL", STORE, "the store's address", None, "none: AWS S3"),
    Variable("AWS_ENDPOINT_URL_S3", STORE, "the store's address for S3 alone (wins over AWS_ENDPOINT_URL)"),
    Variable("AWS_REGION", STORE, "the store's region"),
    Variable("AWS_DEFAULT_REGION", STORE, "the store's region, when AWS_REGION is unset"),
    Variable("OSS_ACCESS_KEY_ID", STORE, "on Alibaba OSS: the key id, by OSS's name"),
    Variable("OSS_ACCESS_KEY_SECRET", STORE, "on Alibaba OSS: the secret"),
    Variable("OSS_SESSION_TOKEN", STORE, "on Alibaba OSS: the STS token"),
    Variable("OSS_SECURITY_TOKEN", STORE, "on Alibaba OSS: the STS token, by its other name"),
    Variable("OSS_ENDPOINT", STORE, "on Alibaba OSS: its S3-compatible endpoint, such as oss-cn-shanghai.aliyuncs.com"),
    Variable("OSS_REGION", STORE, "on Alibaba OSS: the region"),
    Variable(
        "S3_ADDRESSING_STYLE",
        STORE,
        "virtual, path or auto; OSS is always virtual-hosted, an IP or localhost endpoint path-style",
        "auto",
    ),
    Variable(
        "PIPELINE_EXECUTOR",
        RUNS,
        "where a run's steps execute: in_process (in the run's process), multiprocess (a process each), celery (on "
        "Celery workers, the celery extra), k8s (a Kubernetes Job each, the k8s extra); docs/deployment.md",
        "in_process",
    ),
    Variable(
        "CELERY_BROKER_URL",
        RUNS,
        "with PIPELINE_EXECUTOR=celery: the broker, such as redis://host:6379/0 (docs/deployment.md)",
        read_by="dagster-celery",
    ),
    Variable(
        "CELERY_RESULT_BACKEND", RUNS, "with PIPELINE_EXECUTOR=celery: where the workers report, the same Redis", read_by="dagster-celery"
    ),
    Variable("ALERT_WEBHOOK_URL", RUNS, "the chat robot told of failed runs, failed checks and late days", None, "none: no alert"),
    Variable("ALERT_WEBHOOK_KIND", RUNS, "dingtalk, feishu or slack (a Slack-compatible webhook); known robot hosts need none"),
    Variable("ALERT_WEBHOOK_SECRET", RUNS, "the robot's signing secret (DingTalk, Feishu)"),
    Variable("SNAPSHOT_DEADLINE_HOUR", RUNS, "the hour (UTC) by which a day's stickers and warehouse must exist", 6),
    Variable("DAGSTER_UI_URL", RUNS, "the Dagster UI the alerts link to", "http://127.0.0.1:3000"),
    Variable("DAGSTER_HOME", RUNS, "the Dagster instance (read by Dagster and vod-stickers)", None, "dagster_home (set it to that path)"),
)

BY_NAME: dict[str, Variable] = {v.name: v for v in VARIABLES}


def declared(name: str) -> Variable:
    """The declaration of ``name``; reading a variable nobody declared is a bug, named here."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name} is read from the environment but not declared in pipeline/variables.py") from None
