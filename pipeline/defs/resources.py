"""The resources the assets use: VOD and the data directory, set by the environment (pipeline/settings.py)."""

from __future__ import annotations

import dagster as dg

from pipeline import settings
from pipeline.store.layout import Layout
from pipeline.vod.client import VodClient


class VodResource(dg.ConfigurableResource):
    """ApsaraVideo VOD: credentials, endpoint and the account's call budget.

    Read from the environment when a step starts, never stored in a run's config: a wrong value fails
    the step, naming the variable, before the first call.
    """

    def settings(self) -> settings.VodSettings:
        return settings.vod_from_env()

    def client(self) -> VodClient:
        return self.settings().client()


class LakeResource(dg.ConfigurableResource):
    """The data directory (PIPELINE_DATA_DIR): video set, raw answers, Parquet lake, warehouse, reports."""

    def settings(self) -> settings.LakeSettings:
        return settings.lake_from_env()

    def layout(self) -> Layout:
        return self.settings().layout()


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"vod": VodResource(), "lake": LakeResource()})
