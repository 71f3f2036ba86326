"""The data directory's settings: where it is (a folder or an object store), the store's keys, the lease."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipeline import variables
from pipeline.errors import ConfigurationError
from pipeline.normalize import DEFAULT_URL_VALIDITY_S
from pipeline.settings.environ import read, read_number
from pipeline.store import objects
from pipeline.store.layout import Layout
from pipeline.store.lease import DEFAULT_LEASE_S
from pipeline.store.objects import StoreSettings

DEFAULT_DATA_DIR = str(variables.declared("PIPELINE_DATA_DIR").default)


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


def lake_from_env(environ: Mapping[str, str] = os.environ) -> LakeSettings:
    """The data directory's settings from the environment; raises ConfigurationError."""
    data_dir = read(environ, "PIPELINE_DATA_DIR") or DEFAULT_DATA_DIR
    remote = objects.is_url(data_dir)
    inbox = read(environ, "VOD_EVENTS_INBOX")
    return LakeSettings(
        data_dir=data_dir if remote else Path(data_dir),
        url_validity_s=read_number(environ, "VOD_URL_VALIDITY_S", int, "a whole number of seconds, 0 or more", lambda v: v >= 0),
        store=store_from_env(environ) if remote else None,
        lease_s=read_number(environ, "PIPELINE_LEASE_SECONDS", float, "a number of seconds, 5 or more", lambda v: v >= 5),
        inbox=Path(inbox).resolve() if inbox else None,
    )


def store_from_env(environ: Mapping[str, str]) -> StoreSettings:
    """The object store's settings: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
    ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, ``AWS_REGION``; or OSS's ``OSS_ACCESS_KEY_ID``/
    ``OSS_ACCESS_KEY_SECRET``/``OSS_SESSION_TOKEN``, ``OSS_ENDPOINT``, ``OSS_REGION``. ``S3_ADDRESSING_STYLE``
    (virtual, path, auto) overrides the addressing, except on OSS, which serves virtual-hosted only."""

    def get(*names: str) -> str | None:
        return next((value for n in names if (value := read(environ, n))), None)

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
        token_variable=next((n for n in token_names if read(environ, n)), None),
        endpoint=endpoint,
        region=get("OSS_REGION") if oss else get("AWS_REGION", "AWS_DEFAULT_REGION"),
        addressing=style,
        oss=oss,
    )
