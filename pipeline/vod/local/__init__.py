"""A local stand-in for ApsaraVideo VOD's ListDynamicImage, for the demo, the tests and benchmarks."""

from pipeline.vod.local.catalog import Catalog, catalog_ids, write_videos_csv
from pipeline.vod.local.server import (
    FAULT_KINDS,
    FLOW_CONTROLS,
    LocalVodService,
    ServiceConfig,
    serve_forever,
)

__all__ = [
    "FAULT_KINDS",
    "FLOW_CONTROLS",
    "Catalog",
    "LocalVodService",
    "ServiceConfig",
    "catalog_ids",
    "serve_forever",
    "write_videos_csv",
]
