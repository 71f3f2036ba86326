"""A deployment of several accounts: VOD_ACCOUNTS_FILE, each account's entry and its AccessKey."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigurationError
from pipeline.settings.environ import read, read_named
from pipeline.store.schema import DEFAULT_ACCOUNT
from pipeline.vod.client import Credentials
from pipeline.vod.regions import DEFAULT_REGION

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
        if missing := [v for v in (self.access_key_id_env, self.access_key_secret_env) if not read_named(environ, v)]:
            raise ConfigurationError(
                f"Account {self.name}: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: export the "
                "AccessKey of the account's RAM user allowed vod:ListDynamicImage (VOD_ACCOUNTS_FILE names these variables)"
            )
        token = read_named(environ, self.security_token_env) if self.security_token_env else ""
        return Credentials(read_named(environ, self.access_key_id_env), read_named(environ, self.access_key_secret_env), token or None)


def accounts_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, AccountEntry] | None:
    """The accounts listed in VOD_ACCOUNTS_FILE (a TOML file, docs/operators.md, "Several accounts"), by name; None when
    the deployment follows one account. Raises ConfigurationError naming the file, the account and the key."""
    path = read(environ, "VOD_ACCOUNTS_FILE")
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
