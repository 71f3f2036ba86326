"""Configuration in: environment variables and Dagster config, handed to the plain core as arguments."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from pipeline import signing
from pipeline.client import DEFAULT_REGION, Credentials, VodClient, resolve_endpoint
from pipeline.errors import ConfigurationError
from pipeline.layout import Layout
from pipeline.normalize import DEFAULT_URL_VALIDITY_S
from pipeline.videos import read_video_set


# Credential fields of the vod resource -> the environment variable that sets each.
CREDENTIAL_VARIABLES = {
    "access_key_id": "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "access_key_secret": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
}


class VodResource(dg.ConfigurableResource):
    """ApsaraVideo VOD: credentials, endpoint and the account's call budget."""

    # Empty when the variable is not set, so the run fails with words an operator can act on
    # (client() names the variable) rather than a config-schema error.
    access_key_id: str = ""
    access_key_secret: str = ""
    security_token: str | None = None
    region: str = DEFAULT_REGION
    endpoint: str | None = None
    allow_http: bool = False
    signature_method: str = signing.ACS3_HMAC_SHA256
    calls_per_second: float = 100.0
    concurrency: int = 16
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    max_attempts: int = 6

    def client(self) -> VodClient:
        """A client for one run; raises ConfigurationError, before any call, when a setting is wrong."""
        missing = [variable for field, variable in CREDENTIAL_VARIABLES.items() if not getattr(self, field)]
        if missing:
            raise ConfigurationError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export the AccessKey "
                "of a RAM user allowed vod:ListDynamicImage (README, 'Running against Alibaba Cloud VOD')"
            )
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1 (VOD_CONCURRENCY), got {self.concurrency}")
        if not self.calls_per_second > 0:
            raise ConfigurationError(
                f"calls_per_second must be positive (VOD_CALLS_PER_SECOND), got {self.calls_per_second}"
            )
        return VodClient(
            Credentials(self.access_key_id, self.access_key_secret, self.security_token or None),
            endpoint=resolve_endpoint(self.region, self.endpoint, allow_http=self.allow_http),
            signature_method=self.signature_method,
            calls_per_second=self.calls_per_second,
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            max_attempts=self.max_attempts,
            pool_size=self.concurrency,
        )


class LakeResource(dg.ConfigurableResource):
    """The data directory: video set, raw answers, Parquet lake and warehouse."""

    data_dir: str = "data"
    url_validity_s: int = DEFAULT_URL_VALIDITY_S

    def layout(self) -> Layout:
        root = Path(self.data_dir).resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise ConfigurationError(
                f"The data directory {root} (PIPELINE_DATA_DIR) cannot be written: {exc.strerror}"
            ) from None
        return Layout(root)


def day_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


# Non-secret settings of the vod resource: environment variable -> (field, type).
VOD_SETTINGS: dict[str, tuple[str, type]] = {
    "VOD_REGION": ("region", str),
    "VOD_ENDPOINT": ("endpoint", str),
    "VOD_SIGNATURE_METHOD": ("signature_method", str),
    "VOD_CALLS_PER_SECOND": ("calls_per_second", float),
    "VOD_CONCURRENCY": ("concurrency", int),
}


def _settings_from_env() -> dict[str, object]:
    settings: dict[str, object] = {}
    for name, (field, parse) in VOD_SETTINGS.items():
        value = os.environ.get(name, "").strip()
        if value:
            try:
                settings[field] = parse(value)
            except ValueError:
                raise ConfigurationError(f"{name}={value!r} is not a valid {parse.__name__}") from None
    if os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN"):
        settings["security_token"] = dg.EnvVar("ALIBABA_CLOUD_SECURITY_TOKEN")
    return settings


def check_environment(*, vod: bool = True) -> Layout:
    """Checks the environment as a run would, without starting one or calling VOD.

    Raises ConfigurationError naming what to fix; returns the data directory's layout.
    """
    if vod:
        plain = {field: os.environ.get(name, "") for field, name in CREDENTIAL_VARIABLES.items()}
        settings = {**_settings_from_env(), "security_token": os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None}
        VodResource(**plain, **settings).client().close()
    layout = LakeResource(data_dir=os.environ.get("PIPELINE_DATA_DIR") or "data").layout()
    read_video_set(layout.videos_csv)
    return layout


def resources() -> dict[str, dg.ConfigurableResource]:
    """The resources, configured from the environment (the README lists every variable)."""
    return {
        "vod": VodResource(
            # EnvVar keeps the values out of the run's stored config; an unset variable is left empty.
            **{field: dg.EnvVar(name) for field, name in CREDENTIAL_VARIABLES.items() if os.environ.get(name)},
            **_settings_from_env(),
        ),
        "lake": LakeResource(data_dir=os.environ.get("PIPELINE_DATA_DIR") or "data"),
    }
