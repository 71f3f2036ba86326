"""The events receiver's settings: its port, the callback's URL and keys, the MNS queue."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import variables
from pipeline.errors import ConfigurationError
from pipeline.events.callbacks import CallbackAuth
from pipeline.settings.accounts import account_entry
from pipeline.settings.environ import read, read_named, read_number
from pipeline.vod.client import Credentials

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
        if entry.callback_keys_env and not read_named(environ, entry.callback_keys_env):
            raise ConfigurationError(
                f"Account {account}: {entry.callback_keys_env} is not set: export the callback AuthKey configured in "
                "VOD (VOD_ACCOUNTS_FILE names this variable as the account's callback_keys_env); without it callbacks "
                "would be taken unauthenticated"
            )
        key_text = read_named(environ, entry.callback_keys_env) if entry.callback_keys_env else ""
        url, endpoint, queue = entry.callback_url or "", entry.mns_endpoint or "", entry.mns_queue or ""
    else:
        key_text, url = read(environ, "VOD_CALLBACK_KEYS"), read(environ, "VOD_CALLBACK_URL")
        endpoint, queue = read(environ, "VOD_MNS_ENDPOINT"), read(environ, "VOD_MNS_QUEUE")
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
        key_id, secret = read(environ, "ALIBABA_CLOUD_ACCESS_KEY_ID"), read(environ, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        if not key_id or not secret:
            raise ConfigurationError("Reading the MNS queue needs ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        credentials = Credentials(key_id, secret, read(environ, "ALIBABA_CLOUD_SECURITY_TOKEN") or None)
    port = read_number(environ, "VOD_EVENTS_PORT", int, "a TCP port, 0 to 65535", lambda v: 0 <= v <= 65535)
    return EventsSettings(
        port=entry.events_port if entry and entry.events_port is not None else port,
        callback=CallbackAuth(url, keys) if keys else None,
        mns_endpoint=endpoint or None,
        mns_queue=queue or None,
        credentials=credentials,
    )
