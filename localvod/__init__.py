"""A local stand-in for ApsaraVideo VOD (ListDynamicImage and video discovery, one or several regions), and for
the MNS queues its events go to, for the demo, the tests and benchmarks."""

from localvod.account import LocalVodAccount
from localvod.catalog import VIDEO_STATUSES, Catalog, VideoQuery, catalog_ids, write_videos_csv
from localvod.changes import StickerChange
from localvod.cli import serve_forever
from localvod.clock import Clock
from localvod.config import ACTION_LIMITS, FAULT_KINDS, FLOW_CONTROLS, ServiceConfig
from localvod.flow import flow_controls
from localvod.mns import LocalMnsService, MnsQueueSink, QueuedMessage
from localvod.notify import Notifier, callback_lost, callback_signature
from localvod.server import LocalVodService

__all__ = [
    "ACTION_LIMITS",
    "FAULT_KINDS",
    "FLOW_CONTROLS",
    "VIDEO_STATUSES",
    "Catalog",
    "Clock",
    "LocalMnsService",
    "LocalVodAccount",
    "LocalVodService",
    "MnsQueueSink",
    "Notifier",
    "QueuedMessage",
    "ServiceConfig",
    "StickerChange",
    "VideoQuery",
    "callback_lost",
    "callback_signature",
    "catalog_ids",
    "flow_controls",
    "serve_forever",
    "write_videos_csv",
]
