"""The pipeline's settings: read from the environment in one place and checked before anything runs.

The CLI and the Dagster resources both call ``vod_from_env`` and ``lake_from_env`` when a run starts, so a
wrong value stops the run before the first call, naming the variable to fix, and never stops Dagster from
loading the code. The rest of the package takes plain arguments and reads no environment variable.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pipeline import alerts, variables
from pipeline.errors import ConfigurationError
from pipeline.events.callbacks import CallbackAuth
from pipeline.normalize import DEFAULT_URL_VALIDITY_S
from pipeline.refresh import RefreshPolicy
from pipeline.store import objects
from pipeline.store.layout import Layout
from pipeline.store.lease import DEFAULT_LEASE_S
from pipeline.store.objects import StoreSettings
from pipeline.store.schema import DEFAULT_ACCOUNT
from pipeline.vod import api, signing
from pipeline.vod.client import Credentials, VodClient
from pipeline.vod.ratelimit import RateLimiter
from pipeline.vod.regions import DEFAULT_REGION, REGIONS, resolve_endpoint

T = TypeVar("T")

DEFAULT_DATA_DIR = str(variables.declared("PIPELINE_DATA_DIR").default)
DEFAULT_UI_URL = str(variables.declared("DAGSTER_UI_URL").default)
DEFAULT_DEADLINE_HOUR = int(variables.declared("SNAPSHOT_DEADLINE_HOUR").default or 0)


VIDEO_SOURCES = ("csv", "vod")
RATE_LIMITS = ("shared", "per-region")
DEFAULT_FULL_WALK_DAYS = int(variables.declared("VOD_FULL_WALK_DAYS").default or 0)


@dataclass(frozen=True)
class VodSettings:
    """Who calls VOD (secrets never show in repr), in which regions, where, and how fast.

    ``endpoints`` maps each region the deployment follows to the address its calls go to. With
    ``shared_limits`` (the default) the regions share the account's calls per second of each action, as
    VOD's QPS page says of a limit that names no region; without, each region has its own.
    """

    credentials: Credentials
    endpoints: dict[str, str]
    signature_method: str = signing.ACS3_HMAC_SHA256
    calls_per_second: float = 100.0
    concurrency: int = 16
    shared_limits: bool = True

    @property
    def regions(self) -> list[str]:
        return list(self.endpoints)

    @property
    def endpoint(self) -> str:
        """The first region's address (the only one, in a one-region deployment)."""
        return next(iter(self.endpoints.values()))

    def clients(self) -> RegionClients:
        """A client per region for one run, sharing the account's budgets unless limits are per region."""
        shared: dict[str, RateLimiter] = {}
        if self.shared_limits:
            budgets = {**api.CALLS_PER_SECOND, api.LIST_DYNAMIC_IMAGE: self.calls_per_second}
            shared = {action: RateLimiter(rate) for action, rate in budgets.items()}
        return RegionClients(
            (
                region,
                VodClient(
                    self.credentials,
                    endpoint=endpoint,
                    region=region,
                    signature_method=self.signature_method,
                    calls_per_second=self.calls_per_second,
                    limiters=shared,
                    pool_size=self.concurrency,
                ),
            )
            for region, endpoint in self.endpoints.items()
        )

    def client(self) -> VodClient:
        """The client of a one-region deployment."""
        if len(self.endpoints) != 1:
            raise ConfigurationError(f"{len(self.endpoints)} regions are configured: use clients()")
        return self.clients().popitem()[1]


class RegionClients(dict[str, VodClient]):
    """The clients of a run, by region; closes them all."""

    def __enter__(self) -> RegionClients:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.values():
            client.close()


@dataclass(frozen=True)
class SourceSettings:
    """Where the video set comes from: ``videos.csv`` or VOD's own listings, and how often a walk of the
    account is a full one (which notices deletions) rather than one of the videos created since the last."""

    source: str = "csv"
    full_walk_days: int = DEFAULT_FULL_WALK_DAYS


@dataclass(frozen=True)
class LakeSettings:
    """Where the data lives (a folder, or ``s3://bucket/prefix`` with the store's settings), and how long
    VOD's signed sticker URLs stay valid."""

    data_dir: Path | str
    url_validity_s: int = DEFAULT_URL_VALIDITY_S
    store: StoreSettings | None = None
    lease_s: float = DEFAULT_LEASE_S
    inbox: Path | None = None

    def layout(self, account: str | None = None) -> Layout:
        """The data directory's layout (of ``account``, in a deployment of several), once it is known to be
        writable (on a store: reachable, the credentials accepted, the bucket there and writable under the
        prefix)."""
        if objects.is_url(str(self.data_dir)):
            root = objects.location(str(self.data_dir), self.store)
            objects.check(root)
            inbox = self.inbox or Path(DEFAULT_DATA_DIR, "events", "inbox.sqlite").resolve()
            return Layout(root, lease_s=self.lease_s, inbox=inbox, account=account)
        root = Path(self.data_dir).resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise ConfigurationError(f"The data directory {root} (PIPELINE_DATA_DIR) cannot be written: {exc.strerror}") from None
        return Layout(root, lease_s=self.lease_s, inbox=self.inbox, account=account)


ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ACCOUNT_KEYS: dict[str, type | tuple[type, ...]] = {
    "access_key_id_env": str,
    "access_key_secret_env": str,
    "security_token_env": str,
    "regions": list,
    "endpoints": dict,
    "calls_per_second": (int, float),
    "concurrency": int,
    "events_port": int,
    "callback_url": str,
    "callback_keys_env": str,
    "mns_endpoint": str,
    "mns_queue": str,
}
_VARIABLE_KEYS = ("access_key_id_env", "access_key_secret_env", "security_token_env", "callback_keys_env")


@dataclass(frozen=True)
class AccountEntry:
    """One account of a deployment that follows several (``VOD_ACCOUNTS_FILE``): the names of the variables
    holding its AccessKey (never the keys themselves), its regions and, where they differ from the
    deployment's, their addresses, calls per second and calls in flight."""

    name: str
    access_key_id_env: str
    access_key_secret_env: str
    security_token_env: str | None = None
    regions: tuple[str, ...] = ()
    endpoints: dict[str, str] = field(default_factory=dict)
    calls_per_second: float | None = None
    concurrency: int | None = None
    events_port: int | None = None
    callback_url: str | None = None
    callback_keys_env: str | None = None
    mns_endpoint: str | None = None
    mns_queue: str | None = None

    def credentials(self, environ: Mapping[str, str]) -> Credentials:
        """The account's AccessKey (and STS token), from the variables the accounts file names."""
        if missing := [v for v in (self.access_key_id_env, self.access_key_secret_env) if not _named(environ, v)]:
            raise ConfigurationError(
                f"Account {self.name}: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export the "
                "AccessKey of the account's RAM user allowed vod:ListDynamicImage (VOD_ACCOUNTS_FILE names these variables)"
            )
        token = _named(environ, self.security_token_env) if self.security_token_env else ""
        return Credentials(_named(environ, self.access_key_id_env), _named(environ, self.access_key_secret_env), token or None)


def accounts_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, AccountEntry] | None:
    """The accounts listed in VOD_ACCOUNTS_FILE (a TOML file, docs/operators.md, "Several accounts"), by name; None when
    the deployment follows one account. Raises ConfigurationError naming the file, the account and the key."""
    path = _get(environ, "VOD_ACCOUNTS_FILE")
    if not path:
        return None
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"VOD_ACCOUNTS_FILE={path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"VOD_ACCOUNTS_FILE={path} is not valid TOML: {exc}") from None
    if strange := sorted(set(document) - {"accounts"}):
        raise ConfigurationError(f"VOD_ACCOUNTS_FILE={path}: unknown table {strange[0]!r}; list accounts as [accounts.<name>]")
    tables = document.get("accounts")
    if not isinstance(tables, dict) or not tables:
        raise ConfigurationError(f"VOD_ACCOUNTS_FILE={path} lists no account: add an [accounts.<name>] table per account")
    return {name: _account_entry(path, name, table) for name, table in tables.items()}


def _account_entry(path: str, name: str, table: Any) -> AccountEntry:
    where = f"VOD_ACCOUNTS_FILE={path}, account {name!r}"
    if not ACCOUNT_NAME.fullmatch(name) or name == DEFAULT_ACCOUNT:
        raise ConfigurationError(
            f"{where}: an account's name is its partition key and part of file names: a lower-case letter, then at "
            f"most 39 lower-case letters, digits, '-' or '_'; not {DEFAULT_ACCOUNT!r}, which the rows of a deployment "
            "of one account say"
        )
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where}: give the account as a table, [accounts.{name}]")
    if strange := sorted(set(table) - set(_ACCOUNT_KEYS)):
        raise ConfigurationError(f"{where}: unknown key {strange[0]!r}; an account has {', '.join(_ACCOUNT_KEYS)}")
    for key, kind in _ACCOUNT_KEYS.items():
        if key in table and (not isinstance(table[key], kind) or isinstance(table[key], bool)):
            raise ConfigurationError(f"{where}: {key} = {table[key]!r} is not a {getattr(kind, '__name__', 'number')}")
    if missing := [key for key in ("access_key_id_env", "access_key_secret_env") if not table.get(key)]:
        raise ConfigurationError(
            f"{where}: {' and '.join(missing)} missing: name the variables holding the account's AccessKey "
            f'(e.g. access_key_id_env = "{name.upper().replace("-", "_")}_ACCESS_KEY_ID")'
        )
    # The value is a variable's name; one that is not may be the key itself, which is never repeated
    if wrong := [key for key in _VARIABLE_KEYS if key in table and not VARIABLE_NAME.fullmatch(table[key])]:
        raise ConfigurationError(
            f"{where}: {wrong[0]} is not the name of an environment variable: give the variable's name "
            "(letters, digits and '_'), never the key itself"
        )
    if not 0 < table.get("calls_per_second", 1) < float("inf"):
        raise ConfigurationError(f"{where}: calls_per_second = {table['calls_per_second']!r} is not a positive number of calls per second")
    if table.get("concurrency", 1) < 1:
        raise ConfigurationError(f"{where}: concurrency = {table['concurrency']!r} is not a whole number of calls in flight, at least 1")
    if not 0 <= table.get("events_port", 0) <= 65535:
        raise ConfigurationError(f"{where}: events_port = {table['events_port']!r} is not a TCP port, 0 to 65535")
    regions = table.get("regions") or [DEFAULT_REGION]
    if not all(isinstance(r, str) for r in regions) or not all(isinstance(v, str) for v in table.get("endpoints", {}).values()):
        raise ConfigurationError(f'{where}: regions is a list of region ids, endpoints a table of region = "address"')
    return AccountEntry(name=name, **{**table, "regions": tuple(regions)})  # the keys are the fields, checked above


def account_entry(account: str | None, environ: Mapping[str, str] = os.environ) -> AccountEntry | None:
    """``account``'s entry in VOD_ACCOUNTS_FILE, or None for a deployment of one account (no file, no
    account): what every step of a run checks first, keys or not. Raises ConfigurationError otherwise."""
    accounts = accounts_from_env(environ)
    if accounts is None:
        if account is not None:
            raise ConfigurationError(
                f"Account {account!r} was asked for, but VOD_ACCOUNTS_FILE is not set: this deployment follows one account"
            )
        return None
    if account is None:
        raise ConfigurationError(
            f"VOD_ACCOUNTS_FILE lists the accounts {', '.join(accounts)}: name the account (its partition, or --account)"
        )
    if account not in accounts:
        raise ConfigurationError(f"VOD_ACCOUNTS_FILE has no account {account!r}; it lists {', '.join(accounts)}")
    return accounts[account]


def vod_from_env(environ: Mapping[str, str] = os.environ, *, account: str | None = None) -> VodSettings:
    """VOD's settings from the environment (docs/configuration.md lists the variables), of ``account`` in a deployment
    of several (VOD_ACCOUNTS_FILE); raises ConfigurationError."""
    entry = account_entry(account, environ)
    endpoints = endpoints_from_env(environ, account=account)
    credentials = entry.credentials(environ) if entry else _credentials(environ)
    method = _get(environ, "VOD_SIGNATURE_METHOD") or signing.ACS3_HMAC_SHA256
    if method not in signing.SIGNATURE_METHODS:
        raise ConfigurationError(
            f"VOD_SIGNATURE_METHOD={method!r} is not a signature method VOD knows: use one of {', '.join(signing.SIGNATURE_METHODS)}"
        )
    limits = _choice(
        environ,
        "VOD_RATE_LIMITS",
        RATE_LIMITS,
        "'shared' (the default) has the regions share the account's calls per second; 'per-region' gives each its own",
    )
    calls_per_second = _number(
        environ, "VOD_CALLS_PER_SECOND", float, "a positive number of calls per second", lambda v: 0 < v < float("inf")
    )
    concurrency = _number(environ, "VOD_CONCURRENCY", int, "a whole number of calls in flight, at least 1", lambda v: v >= 1)
    return VodSettings(
        credentials=credentials,
        endpoints=endpoints,
        shared_limits=limits == "shared",
        signature_method=method,
        # an account's own budget and calls in flight, where its entry sets them
        calls_per_second=entry.calls_per_second if entry and entry.calls_per_second is not None else calls_per_second,
        concurrency=entry.concurrency if entry and entry.concurrency is not None else concurrency,
    )


def _credentials(environ: Mapping[str, str]) -> Credentials:
    """The AccessKey of a deployment of one account."""
    missing = [name for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET") if not _get(environ, name)]
    if missing:
        raise ConfigurationError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export the AccessKey "
            "of a RAM user allowed vod:ListDynamicImage (docs/configuration.md)"
        )
    return Credentials(
        _get(environ, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        _get(environ, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        _get(environ, "ALIBABA_CLOUD_SECURITY_TOKEN") or None,
    )


def endpoints_from_env(environ: Mapping[str, str] = os.environ, *, account: str | None = None) -> dict[str, str]:
    """Region -> address, from VOD_REGIONS (or VOD_REGION), VOD_ENDPOINTS and VOD_ENDPOINT; an account's from
    its regions and endpoints in VOD_ACCOUNTS_FILE."""
    if entry := account_entry(account, environ):
        try:
            return _endpoints(list(entry.regions), "", {r.strip(): a.strip() for r, a in entry.endpoints.items()}, "")
        except ConfigurationError as err:
            raise ConfigurationError(f"VOD_ACCOUNTS_FILE, account {account} (its regions and endpoints): {err}") from None
    listed = [r.strip() for r in _get(environ, "VOD_REGIONS").split(",") if r.strip()]
    single = _get(environ, "VOD_REGION")
    if listed and single and listed != [single]:
        raise ConfigurationError(f"VOD_REGION={single} and VOD_REGIONS={','.join(listed)} disagree: set VOD_REGIONS alone")
    overrides = {}
    for pair in filter(None, (p.strip() for p in _get(environ, "VOD_ENDPOINTS").split(","))):
        region, sep, address = pair.partition("=")
        if not sep or not region.strip() or not address.strip():
            raise ConfigurationError(f"VOD_ENDPOINTS holds {pair!r}: give region=address pairs, e.g. cn-shanghai=http://127.0.0.1:18080")
        overrides[region.strip()] = address.strip()
    return _endpoints(listed, single, overrides, _get(environ, "VOD_ENDPOINT"))


def _endpoints(listed: list[str], single: str, overrides: dict[str, str], endpoint: str) -> dict[str, str]:
    """Region -> address from the regions listed (or the single one), the addresses given for some of them,
    and one address for a single region; ConfigurationError, in the variables' names, when they disagree."""
    # An endpoint at a region's own VOD host says which region it is
    hosted = next((r for r, host in REGIONS.items() if host == (urlsplit(endpoint).hostname or "")), None) if endpoint else None
    regions = listed or ([single] if single else list(overrides) or [hosted or DEFAULT_REGION])
    if unknown := [r for r in regions if r not in REGIONS]:
        raise ConfigurationError(
            f"Unknown VOD region {unknown[0]!r} ({'VOD_REGIONS' if listed else 'VOD_REGION' if single else 'VOD_ENDPOINTS'}); "
            f"choose from: {', '.join(sorted(REGIONS))}"
        )
    if hosted and REGIONS[hosted] != REGIONS[regions[0]]:
        raise ConfigurationError(
            f"VOD_ENDPOINT={endpoint} is {hosted}'s VOD host, but the region configured is {regions[0]}: set VOD_REGION={hosted}, "
            "or unset VOD_ENDPOINT"
        )
    if len(set(regions)) != len(regions):
        raise ConfigurationError(f"VOD_REGIONS={','.join(regions)} lists a region twice")
    if strange := sorted(set(overrides) - set(regions)):
        raise ConfigurationError(f"VOD_ENDPOINTS names {', '.join(strange)}, which VOD_REGIONS ({', '.join(regions)}) does not list")
    if endpoint and (len(regions) > 1 or overrides):
        raise ConfigurationError("VOD_ENDPOINT is for one region; with several, give each its address in VOD_ENDPOINTS=region=address,...")
    endpoints = {region: resolve_endpoint(region, overrides.get(region) or endpoint or None) for region in regions}
    shared = [r for r in regions if list(endpoints.values()).count(endpoints[r]) > 1]
    if shared:
        raise ConfigurationError(f"The regions {', '.join(shared)} are served by one endpoint ({endpoints[shared[0]]}): list each once")
    return endpoints


def source_from_env(environ: Mapping[str, str] = os.environ) -> SourceSettings:
    """Where the video set comes from (VIDEO_SOURCE) and the full walks' period (VOD_FULL_WALK_DAYS)."""
    source = _choice(
        environ,
        "VIDEO_SOURCE",
        VIDEO_SOURCES,
        "'csv' (the default) reads videos.csv in the data directory, 'vod' discovers every video of the account in VOD_REGIONS",
    )
    return SourceSettings(
        source=source,
        full_walk_days=_number(environ, "VOD_FULL_WALK_DAYS", int, "a whole number of days, at least 1", lambda v: v >= 1),
    )


DEFAULT_REFRESH_WINDOW_HOURS = float(variables.declared("VOD_REFRESH_WINDOW_HOURS").default or 0)


def refresh_from_env(vod: VodSettings, environ: Mapping[str, str] = os.environ) -> RefreshPolicy:
    """The refresh plan's policy: VOD_REFRESH_DAYS (every video asked at least this often; 1 asks every
    video every day), and the calls a day may take: VOD_REFRESH_BUDGET, or what ListDynamicImage's limit
    allows in VOD_REFRESH_WINDOW_HOURS (default 4); each region's when VOD_RATE_LIMITS=per-region."""
    every = _number(environ, "VOD_REFRESH_DAYS", int, "a whole number of days, at least 1 (1: every video every day)", lambda v: v >= 1)
    if _get(environ, "VOD_REFRESH_BUDGET") and _get(environ, "VOD_REFRESH_WINDOW_HOURS"):
        raise ConfigurationError("VOD_REFRESH_BUDGET and VOD_REFRESH_WINDOW_HOURS both set the day's calls: set one")
    budget = _optional_number(environ, "VOD_REFRESH_BUDGET", int, "a whole number of calls a day, at least 1", lambda v: v >= 1)
    if not budget:
        hours = _number(environ, "VOD_REFRESH_WINDOW_HOURS", float, "a number of hours, more than 0 and at most 24", lambda v: 0 < v <= 24)
        budget = int(vod.calls_per_second * 3600 * hours)
    # With limits per region, the budget is each region's: a region's calls are spent against its own limit
    return RefreshPolicy(every_days=every, budget=budget, per_region=not vod.shared_limits and len(vod.endpoints) > 1)


DEFAULT_EVENTS_PORT = int(variables.declared("VOD_EVENTS_PORT").default or 0)


@dataclass(frozen=True)
class EventsSettings:
    """Where VOD's events come in: HTTP callbacks on ``port`` (authenticated when ``callback`` is set), and an
    MNS queue when ``mns_endpoint`` and ``mns_queue`` are set (read with the account's AccessKey)."""

    port: int = DEFAULT_EVENTS_PORT
    callback: CallbackAuth | None = None
    mns_endpoint: str | None = None
    mns_queue: str | None = None
    credentials: Credentials | None = None


def events_from_env(environ: Mapping[str, str] = os.environ, *, account: str | None = None) -> EventsSettings:
    """The events receiver's settings (``account``'s, in a deployment of several): VOD_EVENTS_PORT,
    VOD_CALLBACK_URL and VOD_CALLBACK_KEYS (the AuthKey configured in VOD; current first, then the previous
    one during a rotation), VOD_MNS_ENDPOINT and VOD_MNS_QUEUE, read with the account's AccessKey (and STS
    token). Callbacks are taken unauthenticated only when neither the URL nor the keys are set."""
    entry = account_entry(account, environ)
    if entry is not None:  # an account's events are its own: none of the deployment's callback or MNS settings apply
        if entry.callback_keys_env and not _named(environ, entry.callback_keys_env):
            raise ConfigurationError(
                f"Account {account}: {entry.callback_keys_env} is not set: export the callback AuthKey configured in "
                "VOD (VOD_ACCOUNTS_FILE names this variable as the account's callback_keys_env); without it callbacks "
                "would be taken unauthenticated"
            )
        key_text = _named(environ, entry.callback_keys_env) if entry.callback_keys_env else ""
        url, endpoint, queue = entry.callback_url or "", entry.mns_endpoint or "", entry.mns_queue or ""
    else:
        key_text, url = _get(environ, "VOD_CALLBACK_KEYS"), _get(environ, "VOD_CALLBACK_URL")
        endpoint, queue = _get(environ, "VOD_MNS_ENDPOINT"), _get(environ, "VOD_MNS_QUEUE")
    keys = tuple(k.strip() for k in key_text.split(",") if k.strip())
    if keys and not url:
        raise ConfigurationError(
            "VOD_CALLBACK_KEYS is set but VOD_CALLBACK_URL is not: give the callback URL exactly as configured in VOD (it is signed)"
        )
    if url and not keys:
        raise ConfigurationError(
            "VOD_CALLBACK_URL is set but VOD_CALLBACK_KEYS is not: give the callback AuthKey configured in VOD, or unset "
            "VOD_CALLBACK_URL to take callbacks unauthenticated"
        )
    if bool(endpoint) != bool(queue):
        raise ConfigurationError(
            f"{'VOD_MNS_QUEUE' if endpoint else 'VOD_MNS_ENDPOINT'} is not set: an MNS queue needs both VOD_MNS_ENDPOINT and VOD_MNS_QUEUE"
        )
    credentials = None
    if endpoint and entry is not None:
        credentials = entry.credentials(environ)
    elif endpoint:
        key_id, secret = _get(environ, "ALIBABA_CLOUD_ACCESS_KEY_ID"), _get(environ, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        if not key_id or not secret:
            raise ConfigurationError("Reading the MNS queue needs ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        credentials = Credentials(key_id, secret, _get(environ, "ALIBABA_CLOUD_SECURITY_TOKEN") or None)
    port = _number(environ, "VOD_EVENTS_PORT", int, "a TCP port, 0 to 65535", lambda v: 0 <= v <= 65535)
    return EventsSettings(
        port=entry.events_port if entry and entry.events_port is not None else port,
        callback=CallbackAuth(url, keys) if keys else None,
        mns_endpoint=endpoint or None,
        mns_queue=queue or None,
        credentials=credentials,
    )


def lake_from_env(environ: Mapping[str, str] = os.environ) -> LakeSettings:
    """The data directory's settings from the environment; raises ConfigurationError."""
    data_dir = _get(environ, "PIPELINE_DATA_DIR") or DEFAULT_DATA_DIR
    remote = objects.is_url(data_dir)
    inbox = _get(environ, "VOD_EVENTS_INBOX")
    return LakeSettings(
        data_dir=data_dir if remote else Path(data_dir),
        url_validity_s=_number(environ, "VOD_URL_VALIDITY_S", int, "a whole number of seconds, 0 or more", lambda v: v >= 0),
        store=store_from_env(environ) if remote else None,
        lease_s=_number(environ, "PIPELINE_LEASE_SECONDS", float, "a number of seconds, 5 or more", lambda v: v >= 5),
        inbox=Path(inbox).resolve() if inbox else None,
    )


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go (None: nowhere), the Dagster UI their links open, and the hour (UTC) a day is due by."""

    webhook: alerts.Webhook | None
    ui_url: str = DEFAULT_UI_URL
    deadline_hour: int = DEFAULT_DEADLINE_HOUR


def alerts_from_env(environ: Mapping[str, str] = os.environ) -> AlertSettings:
    """The alert settings from the environment (the operators' guide lists them); raises ConfigurationError."""
    url, kind, secret = (_get(environ, name) for name in ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_KIND", "ALERT_WEBHOOK_SECRET"))
    if not url and (kind or secret):
        raise ConfigurationError(
            f"{'ALERT_WEBHOOK_KIND' if kind else 'ALERT_WEBHOOK_SECRET'} is set but ALERT_WEBHOOK_URL is not: "
            "set the robot's webhook address, or unset both"
        )
    ui_url = (_get(environ, "DAGSTER_UI_URL") or DEFAULT_UI_URL).rstrip("/")
    if not ui_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"DAGSTER_UI_URL={ui_url!r} is not a URL: give the UI's address, e.g. {DEFAULT_UI_URL}")
    return AlertSettings(
        webhook=alerts.webhook(url, kind.lower() or None, secret or None) if url else None,
        ui_url=ui_url,
        deadline_hour=deadline_hour_from_env(environ),
    )


def deadline_hour_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """The hour (UTC) by which a day's stickers and warehouse must exist (SNAPSHOT_DEADLINE_HOUR)."""
    return _number(environ, "SNAPSHOT_DEADLINE_HOUR", int, "a whole hour of the day, 1 to 23 (UTC)", lambda v: 1 <= v <= 23)


EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


def executor_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """Where a run's steps execute (PIPELINE_EXECUTOR), one of EXECUTORS; docs/deployment.md says when to choose which."""
    return _choice(
        environ,
        "PIPELINE_EXECUTOR",
        EXECUTORS,
        "'in_process' (the default) runs every step in the run's process, 'multiprocess' one process per step, "
        "'celery' each step on a Celery worker, 'k8s' each step in a Kubernetes Job (docs/deployment.md)",
    )


def store_from_env(environ: Mapping[str, str]) -> StoreSettings:
    """The object store's settings: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
    ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, ``AWS_REGION``; or OSS's ``OSS_ACCESS_KEY_ID``/
    ``OSS_ACCESS_KEY_SECRET``/``OSS_SESSION_TOKEN``, ``OSS_ENDPOINT``, ``OSS_REGION``. ``S3_ADDRESSING_STYLE``
    (virtual, path, auto) overrides the addressing, except on OSS, which serves virtual-hosted only."""

    def get(*names: str) -> str | None:
        return next((value for n in names if (value := _get(environ, n))), None)

    oss = bool(get("OSS_ACCESS_KEY_ID", "OSS_ENDPOINT"))
    key_id = get("OSS_ACCESS_KEY_ID") if oss else get("AWS_ACCESS_KEY_ID")
    secret = get("OSS_ACCESS_KEY_SECRET") if oss else get("AWS_SECRET_ACCESS_KEY")
    prefix = "OSS" if oss else "AWS"
    if bool(key_id) != bool(secret):
        given, missing = (
            (f"{prefix}_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET" if oss else "AWS_SECRET_ACCESS_KEY")
            if key_id
            else ("OSS_ACCESS_KEY_SECRET" if oss else "AWS_SECRET_ACCESS_KEY", f"{prefix}_ACCESS_KEY_ID")
        )
        raise ConfigurationError(f"{given} is set but {missing} is not: set both, or neither to use the default credential chain")
    endpoint = get("OSS_ENDPOINT") if oss else get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    if endpoint and "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            name = "OSS_ENDPOINT" if oss else "AWS_ENDPOINT_URL"
            raise ConfigurationError(
                f"{name}={endpoint!r} is not an http(s) address: give the store's endpoint, e.g. https://oss-cn-shanghai.aliyuncs.com"
            )
    style = (get("S3_ADDRESSING_STYLE") or "").lower()
    if style and style not in ("virtual", "path", "auto"):
        raise ConfigurationError(f"S3_ADDRESSING_STYLE={style!r}: use virtual, path or auto")
    on_oss = oss or bool(endpoint and (urlsplit(endpoint).hostname or "").endswith(".aliyuncs.com"))
    if on_oss and style == "path":
        raise ConfigurationError("S3_ADDRESSING_STYLE=path: OSS serves virtual-hosted addresses only; unset it")
    if on_oss:
        style = "virtual"
    elif not style:
        style = "path" if endpoint and objects.is_ip_or_local(urlsplit(endpoint).hostname or "") else "auto"
    token_names = ("OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN") if oss else ("AWS_SESSION_TOKEN",)
    return StoreSettings(
        key_id=key_id,
        secret=secret,
        token=get(*token_names),
        token_variable=next((n for n in token_names if _get(environ, n)), None),
        endpoint=endpoint,
        region=get("OSS_REGION") if oss else get("AWS_REGION", "AWS_DEFAULT_REGION"),
        addressing=style,
        oss=oss,
    )


def dagster_home(environ: Mapping[str, str] = os.environ) -> Path:
    """The Dagster instance's folder: DAGSTER_HOME, else dagster_home (relative to where the command runs)."""
    return Path(_get(environ, "DAGSTER_HOME") or "dagster_home")


def _named(environ: Mapping[str, str], name: str) -> str:
    """The value of a variable an accounts file names (its keys live in variables of the operator's choosing)."""
    return environ.get(name, "").strip()


def _get(environ: Mapping[str, str], name: str) -> str:
    """The variable's value, stripped ("" when unset); ``name`` must be declared in ``pipeline.variables``."""
    return environ.get(variables.declared(name).name, "").strip()


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], meaning: str) -> str:
    """One of ``choices`` (any case; the first when unset)."""
    value = _get(environ, name).lower() or str(variables.declared(name).default)
    if value not in choices:
        raise ConfigurationError(f"{name}={value!r} is not one of {', '.join(choices)}: {meaning}")
    return value


def _number(environ: Mapping[str, str], name: str, parse: Callable[[str], T], meaning: str, valid: Callable[[T], bool]) -> T:
    """The variable as a number, its declared default when unset; ConfigurationError when it is not one."""
    value = _optional_number(environ, name, parse, meaning, valid)
    if value is None:
        raise KeyError(f"{name} declares no default in pipeline/variables.py")
    return value


def _optional_number(
    environ: Mapping[str, str], name: str, parse: Callable[[str], T], meaning: str, valid: Callable[[T], bool]
) -> T | None:
    """The variable as a number (None when unset and declared without a default)."""
    text = _get(environ, name)
    if not text:
        default = variables.declared(name).default
        return None if default is None else parse(str(default))
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not valid(value) or value != value:  # value != value: NaN
        raise ConfigurationError(f"{name}={text!r} is not {meaning}: fix or unset it (docs/configuration.md lists the settings)")
    return value
