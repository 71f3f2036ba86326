"""Superset's settings for the VOD stickers dashboard (``SUPERSET_CONFIG_PATH``); ``start.py`` sets the
environment it reads: ``SUPERSET_HOME`` (a folder of the data directory) and ``SUPERSET_SECRET_KEY``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.pool import NullPool

HOME = Path(os.environ["SUPERSET_HOME"])

# Superset's own metadata (users, dashboards, the query log) in SQLite beside the data it shows.
SQLALCHEMY_DATABASE_URI = f"sqlite:///{HOME / 'superset.db'}"
# A dashboard's charts load at once, and each request writes Superset's log: on a busy machine a writer can
# wait for the file longer than SQLite's default 5 s, which would fail the chart.
SQLALCHEMY_ENGINE_OPTIONS = {"connect_args": {"timeout": 60}}
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]

# Nothing is cached between refreshes: a chart's next refresh asks DuckDB again, and so sees a publish.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}


def _httpfs() -> Path | None:
    """DuckDB's httpfs extension, from its Python package in this environment (no download at run time)."""
    return next(Path(sys.prefix).glob("lib/python3*/site-packages/duckdb_extension_httpfs/extensions/v*/httpfs.duckdb_extension"), None)


def _store_settings(environ: dict[str, str]) -> dict[str, str]:
    """DuckDB's S3 settings for a lake on an object store, from the pipeline's variables (AWS_* or OSS_*);
    empty without keys."""
    oss = bool(environ.get("OSS_ACCESS_KEY_ID"))
    prefix = "OSS" if oss else "AWS"
    key_id = environ.get(f"{prefix}_ACCESS_KEY_ID", "")
    secret = environ.get("OSS_ACCESS_KEY_SECRET" if oss else "AWS_SECRET_ACCESS_KEY", "")
    if not (key_id and secret):
        return {}
    settings = {"s3_access_key_id": key_id, "s3_secret_access_key": secret}
    token = environ.get("OSS_SESSION_TOKEN" if oss else "AWS_SESSION_TOKEN", "")
    if token:
        settings["s3_session_token"] = token
    endpoint = environ.get("OSS_ENDPOINT") if oss else environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, host = endpoint.rpartition("://")
        settings["s3_endpoint"] = host.rstrip("/")
        settings["s3_use_ssl"] = "false" if scheme == "http" else "true"
    style = "vhost" if oss else {"path": "path", "virtual": "vhost"}.get(environ.get("S3_ADDRESSING_STYLE", "").lower(), "")
    if not style and endpoint:
        style = "path"  # a local or private store (MinIO, SeaweedFS) serves path-style addresses
    if style:
        settings["s3_url_style"] = style
    region = environ.get("OSS_REGION") if oss else environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        settings["s3_region"] = region
    return settings


def DB_CONNECTION_MUTATOR(
    uri: Any, params: dict[str, Any], username: Any, security_manager: Any, source: Any
) -> tuple[Any, dict[str, Any]]:  # noqa: N802 - Superset's name
    """Every DuckDB connection: read-only, and, when the lake is on an object store, httpfs loaded with the
    store's keys taken from this process's environment (never kept in Superset's database)."""
    if uri.drivername != "duckdb":
        return uri, params
    # A connection of its own for every query, closed after it: each publish replaces warehouse.duckdb by a
    # rename, and a connection kept open (a pool's) would go on reading the replaced file. (DuckDB shares one
    # open database among the connections to a path: a query starting while one opened before the publish
    # still runs reads the old day too; the next refresh after they ended opens the new file.) Superset asks
    # for NullPool itself; it is said here so that the dashboard does not hang on that default.
    params["poolclass"] = NullPool
    connect_args = params.setdefault("connect_args", {})
    connect_args["read_only"] = True
    # An extension is loaded from this environment's packages or not at all: never fetched at run time
    connect_args.setdefault("config", {})["autoinstall_known_extensions"] = False
    store = _store_settings(dict(os.environ))
    if store:
        extension = _httpfs()
        if extension is None:
            raise RuntimeError(
                "duckdb-extension-httpfs is not installed in Superset's environment, which a lake on a store needs: "
                "rebuild it from deploy/superset/requirements.txt (rm -r .venv-superset, then make dashboards)"
            )
        # duckdb-engine runs LOAD <item>: a quoted path loads the packaged file
        connect_args["preload_extensions"] = ["'" + str(extension).replace("'", "''") + "'"]
        connect_args["config"].update(store)
    return uri, params
