"""Which videos a day asks about: the video set's source, the full walks' period and the refresh plan's policy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import variables
from pipeline.errors import ConfigurationError
from pipeline.refresh import QUIET_FACTOR, RefreshPolicy
from pipeline.settings.environ import read, read_choice, read_number, read_optional_number
from pipeline.settings.vod import VodSettings

VIDEO_SOURCES = ("csv", "vod")


DEFAULT_FULL_WALK_DAYS = int(variables.declared("VOD_FULL_WALK_DAYS").default or 0)


@dataclass(frozen=True)
class SourceSettings:
    """Where the video set comes from: ``videos.csv`` or VOD's own listings, and how often a walk of the
    account is a full one (which notices deletions) rather than one of the videos created since the last."""

    source: str = "csv"
    full_walk_days: int = DEFAULT_FULL_WALK_DAYS


def source_from_env(environ: Mapping[str, str] = os.environ) -> SourceSettings:
    """Where the video set comes from (VIDEO_SOURCE) and the full walks' period (VOD_FULL_WALK_DAYS)."""
    source = read_choice(
        environ,
        "VIDEO_SOURCE",
        VIDEO_SOURCES,
        "'csv' (the default) reads videos.csv in the data directory, 'vod' discovers every video of the account in VOD_REGIONS",
    )
    return SourceSettings(
        source=source,
        full_walk_days=read_number(environ, "VOD_FULL_WALK_DAYS", int, "a whole number of days, at least 1", lambda v: v >= 1),
    )


DEFAULT_REFRESH_WINDOW_HOURS = float(variables.declared("VOD_REFRESH_WINDOW_HOURS").default or 0)


def refresh_from_env(vod: VodSettings, environ: Mapping[str, str] = os.environ) -> RefreshPolicy:
    """The refresh plan's policy: VOD_REFRESH_DAYS (every video asked at least this often; 1 asks every
    video every day), VOD_REFRESH_QUIET_DAYS (the same for a video without stickers while events arrive),
    and the calls a day may take: VOD_REFRESH_BUDGET, or what ListDynamicImage's limit allows in
    VOD_REFRESH_WINDOW_HOURS (default 4); each region's when VOD_RATE_LIMITS=per-region."""
    every = read_number(environ, "VOD_REFRESH_DAYS", int, "a whole number of days, at least 1 (1: every video every day)", lambda v: v >= 1)
    if read(environ, "VOD_REFRESH_BUDGET") and read(environ, "VOD_REFRESH_WINDOW_HOURS"):
        raise ConfigurationError("VOD_REFRESH_BUDGET and VOD_REFRESH_WINDOW_HOURS both set the day's calls: set one")
    budget = read_optional_number(environ, "VOD_REFRESH_BUDGET", int, "a whole number of calls a day, at least 1", lambda v: v >= 1)
    if not budget:
        hours = read_number(
            environ, "VOD_REFRESH_WINDOW_HOURS", float, "a number of hours, more than 0 and at most 24", lambda v: 0 < v <= 24
        )
        budget = int(vod.calls_per_second * 3600 * hours)
    quiet = read_optional_number(
        environ,
        "VOD_REFRESH_QUIET_DAYS",
        int,
        f"a whole number of days, at least VOD_REFRESH_DAYS ({every})",
        lambda v: v >= every,
    )
    # With limits per region, the budget is each region's: a region's calls are spent against its own limit
    return RefreshPolicy(
        every_days=every,
        budget=budget,
        per_region=not vod.shared_limits and len(vod.endpoints) > 1,
        quiet_days=quiet or (QUIET_FACTOR * every if every > 1 else every),
    )
