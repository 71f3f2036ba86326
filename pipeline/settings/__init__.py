"""The pipeline's settings: read from the environment in one place and checked before anything runs.

The CLI and the Dagster resources both call ``vod_from_env`` and ``lake_from_env`` when a run starts, so a
wrong value stops the run before the first call, naming the variable to fix, and never stops Dagster from
loading the code. The rest of the package takes plain arguments and reads no environment variable.

One module a topic: ``vod`` (credentials, regions, budgets, the clients), ``accounts`` (VOD_ACCOUNTS_FILE),
``source`` (the video set and the refresh plan), ``events``, ``lake`` (the data directory and its store),
``runs`` (executor, alerts), all reading through ``environ`` and the declaration in ``pipeline.variables``.
"""

from pipeline.settings.accounts import ACCOUNT_NAME, VARIABLE_NAME, AccountEntry, account_entry, accounts_from_env
from pipeline.settings.environ import dagster_home
from pipeline.settings.events import DEFAULT_EVENTS_PORT, EventsSettings, events_from_env
from pipeline.settings.lake import DEFAULT_DATA_DIR, LakeSettings, lake_from_env, store_from_env
from pipeline.settings.runs import (
    DEFAULT_DEADLINE_HOUR,
    DEFAULT_UI_URL,
    EXECUTORS,
    AlertSettings,
    alerts_from_env,
    deadline_hour_from_env,
    executor_from_env,
)
from pipeline.settings.source import (
    DEFAULT_FULL_WALK_DAYS,
    DEFAULT_REFRESH_WINDOW_HOURS,
    VIDEO_SOURCES,
    SourceSettings,
    refresh_from_env,
    source_from_env,
)
from pipeline.settings.vod import RATE_LIMITS, RegionClients, VodSettings, endpoints_from_env, vod_from_env

__all__ = [
    "ACCOUNT_NAME",
    "AccountEntry",
    "AlertSettings",
    "DEFAULT_DATA_DIR",
    "DEFAULT_DEADLINE_HOUR",
    "DEFAULT_EVENTS_PORT",
    "DEFAULT_FULL_WALK_DAYS",
    "DEFAULT_REFRESH_WINDOW_HOURS",
    "DEFAULT_UI_URL",
    "EXECUTORS",
    "EventsSettings",
    "LakeSettings",
    "RATE_LIMITS",
    "RegionClients",
    "SourceSettings",
    "VARIABLE_NAME",
    "VIDEO_SOURCES",
    "VodSettings",
    "account_entry",
    "accounts_from_env",
    "alerts_from_env",
    "dagster_home",
    "deadline_hour_from_env",
    "endpoints_from_env",
    "events_from_env",
    "executor_from_env",
    "lake_from_env",
    "refresh_from_env",
    "source_from_env",
    "store_from_env",
    "vod_from_env",
]
