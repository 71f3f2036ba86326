"""VOD's settings: who calls it, in which regions and where, how fast; and the clients of a run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.errors import ConfigurationError
from pipeline.settings.accounts import account_entry
from pipeline.settings.environ import read, read_choice, read_number
from pipeline.vod import api, signing
from pipeline.vod.client import Credentials, VodClient
from pipeline.vod.ratelimit import RateLimiter
from pipeline.vod.regions import DEFAULT_REGION, REGIONS, resolve_endpoint

RATE_LIMITS = ("shared", "per-region")


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


def vod_from_env(environ: Mapping[str, str] = os.environ, *, account: str | None = None) -> VodSettings:
    """VOD's settings from the environment (docs/configuration.md lists the variables), of ``account`` in a deployment
    of several (VOD_ACCOUNTS_FILE); raises ConfigurationError."""
    entry = account_entry(account, environ)
    endpoints = endpoints_from_env(environ, account=account)
    credentials = entry.credentials(environ) if entry else _credentials(environ)
    method = read(environ, "VOD_SIGNATURE_METHOD") or signing.ACS3_HMAC_SHA256
    if method not in signing.SIGNATURE_METHODS:
        raise ConfigurationError(
            f"VOD_SIGNATURE_METHOD={method!r} is not a signature method VOD knows: use one of {', '.join(signing.SIGNATURE_METHODS)}"
        )
    limits = read_choice(
        environ,
        "VOD_RATE_LIMITS",
        RATE_LIMITS,
        "'shared' (the default) has the regions share the account's calls per second; 'per-region' gives each its own",
    )
    calls_per_second = read_number(
        environ, "VOD_CALLS_PER_SECOND", float, "a positive number of calls per second", lambda v: 0 < v < float("inf")
    )
    concurrency = read_number(environ, "VOD_CONCURRENCY", int, "a whole number of calls in flight, at least 1", lambda v: v >= 1)
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
    missing = [name for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET") if not read(environ, name)]
    if missing:
        raise ConfigurationError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export the AccessKey "
            "of a RAM user allowed vod:ListDynamicImage (docs/configuration.md)"
        )
    return Credentials(
        read(environ, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        read(environ, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        read(environ, "ALIBABA_CLOUD_SECURITY_TOKEN") or None,
    )


def endpoints_from_env(environ: Mapping[str, str] = os.environ, *, account: str | None = None) -> dict[str, str]:
    """Region -> address, from VOD_REGIONS (or VOD_REGION), VOD_ENDPOINTS and VOD_ENDPOINT; an account's from
    its regions and endpoints in VOD_ACCOUNTS_FILE."""
    if entry := account_entry(account, environ):
        try:
            return _endpoints(list(entry.regions), "", {r.strip(): a.strip() for r, a in entry.endpoints.items()}, "")
        except ConfigurationError as err:
            raise ConfigurationError(f"VOD_ACCOUNTS_FILE, account {account} (its regions and endpoints): {err}") from None
    listed = [r.strip() for r in read(environ, "VOD_REGIONS").split(",") if r.strip()]
    single = read(environ, "VOD_REGION")
    if listed and single and listed != [single]:
        raise ConfigurationError(f"VOD_REGION={single} and VOD_REGIONS={','.join(listed)} disagree: set VOD_REGIONS alone")
    overrides = {}
    for pair in filter(None, (p.strip() for p in read(environ, "VOD_ENDPOINTS").split(","))):
        region, sep, address = pair.partition("=")
        if not sep or not region.strip() or not address.strip():
            raise ConfigurationError(f"VOD_ENDPOINTS holds {pair!r}: give region=address pairs, e.g. cn-shanghai=http://127.0.0.1:18080")
        overrides[region.strip()] = address.strip()
    return _endpoints(listed, single, overrides, read(environ, "VOD_ENDPOINT"))


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
