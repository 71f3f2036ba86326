"""VOD's regions and their endpoints: where a call goes."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pipeline.errors import ConfigurationError

DEFAULT_REGION = "cn-shanghai"

# Region -> VOD endpoint host. cn-hangzhou has no VOD endpoint of its own: it is served from cn-shanghai.
REGIONS: dict[str, str] = {
    "cn-shanghai": "vod.cn-shanghai.aliyuncs.com",
    "cn-hangzhou": "vod.cn-shanghai.aliyuncs.com",
    "cn-beijing": "vod.cn-beijing.aliyuncs.com",
    "cn-shenzhen": "vod.cn-shenzhen.aliyuncs.com",
    "cn-hongkong": "vod.cn-hongkong.aliyuncs.com",
    "ap-northeast-1": "vod.ap-northeast-1.aliyuncs.com",
    "ap-southeast-1": "vod.ap-southeast-1.aliyuncs.com",
    "ap-southeast-5": "vod.ap-southeast-5.aliyuncs.com",
    "eu-central-1": "vod.eu-central-1.aliyuncs.com",
    "us-west-1": "vod.us-west-1.aliyuncs.com",
}


def resolve_endpoint(region: str | None = None, endpoint: str | None = None, *, allow_http: bool = False) -> str:
    """The base address to call: ``endpoint`` when given (a full URL), else the region's VOD host.

    Plain http is only accepted for loopback addresses (the local VOD service) unless ``allow_http``.
    """
    if not endpoint:
        region = region or DEFAULT_REGION
        if region not in REGIONS:
            raise ConfigurationError(f"Unknown VOD region {region!r} (VOD_REGION); choose one of: {', '.join(sorted(REGIONS))}")
        return f"https://{REGIONS[region]}"
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"VOD endpoint {endpoint!r} (VOD_ENDPOINT) is not a URL: give a full address such as "
            "https://vod.cn-shanghai.aliyuncs.com or http://127.0.0.1:18080"
        )
    if parts.scheme == "http" and not allow_http and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"VOD endpoint {endpoint!r} uses plain http to a non-loopback host; use https (or allow plain http explicitly)"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
