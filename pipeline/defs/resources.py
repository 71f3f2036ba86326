"""The resources the assets use: VOD and the data directory, set by the environment (pipeline/settings/)."""

from __future__ import annotations

import dagster as dg

from pipeline.refresh import RefreshPolicy
from pipeline.settings import (
    LakeSettings,
    SourceSettings,
    VodSettings,
    account_entry,
    endpoints_from_env,
    lake_from_env,
    refresh_from_env,
    source_from_env,
    vod_from_env,
)
from pipeline.store.layout import Layout


class VodResource(dg.ConfigurableResource):
    """ApsaraVideo VOD: credentials, endpoint and the account's call budget.

    Read from the environment when a step starts, never stored in a run's config: a wrong value fails
    the step, naming the variable, before the first call.
    """

    def settings(self, account: str | None = None) -> VodSettings:
        """The deployment's settings, or ``account``'s (VOD_ACCOUNTS_FILE)."""
        return vod_from_env(account=account)

    def regions(self, account: str | None = None) -> list[str]:
        """The regions the deployment (or ``account``) follows (VOD_REGIONS), without needing credentials."""
        return list(endpoints_from_env(account=account))

    def refresh(self, settings: VodSettings) -> RefreshPolicy:
        """Which videos a day asks (VOD_REFRESH_DAYS) within how many calls (VOD_REFRESH_BUDGET or _WINDOW_HOURS)."""
        return refresh_from_env(settings)

    def source(self) -> SourceSettings:
        """Where the video set comes from (VIDEO_SOURCE) and how often a walk of the account is full."""
        return source_from_env()


class LakeResource(dg.ConfigurableResource):
    """The data directory (PIPELINE_DATA_DIR): video set, raw answers, Parquet lake, warehouse, reports."""

    def settings(self) -> LakeSettings:
        return lake_from_env()

    def layout(self, account: str | None = None) -> Layout:
        """The data directory, as ``account`` (in a deployment of several: one VOD_ACCOUNTS_FILE lists) writes
        to it."""
        account_entry(account)
        return self.settings().layout(account)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"vod": VodResource(), "lake": LakeResource()})
