"""One account's local VOD services across several regions: one listener per region, one catalog per region,
and (by default) one flow-control budget per action shared by every region, as VOD counts QPS per account."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.vod.local.server import LocalVodService, ServiceConfig, flow_controls


class LocalVodAccount:
    """A ``LocalVodService`` per region. ``regions`` lists them, or maps each to ServiceConfig overrides
    (e.g. ``{"ap-southeast-1": {"access_key_id": "other"}}``). With ``shared_limits`` every action has one
    budget (``config``'s limits) spent by all regions together; without, each region has its own."""

    def __init__(
        self,
        config: ServiceConfig,
        regions: Mapping[str, Mapping[str, Any]] | Sequence[str] = ("cn-shanghai",),
        *,
        shared_limits: bool = True,
    ):
        overrides = dict(regions) if isinstance(regions, Mapping) else {region: {} for region in regions}
        if not overrides:
            raise ValueError("an account needs at least one region")
        shared = flow_controls(config) if shared_limits else None
        self.shared_limits = shared_limits
        self.services: dict[str, LocalVodService] = {}
        for n, (region, changes) in enumerate(overrides.items()):
            port = config.port + n if config.port else 0  # consecutive ports from a fixed one
            region_config = dataclasses.replace(config, **{"port": port, **changes, "region": region})
            self.services[region] = LocalVodService(region_config, shared_flow_controls=shared)

    def start(self) -> LocalVodAccount:
        """Start every region's service (those already started are left as they are)."""
        try:
            for service in self.services.values():
                service.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    def __enter__(self) -> LocalVodAccount:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoints(self) -> dict[str, str]:
        """Region -> ``http://host:port`` of its running service."""
        return {region: service.endpoint for region, service in self.services.items()}

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        """Region -> that service's stats."""
        return {region: service.stats for region, service in self.services.items()}

    def upload(self, region: str, count: int = 1, at: dt.datetime | None = None) -> list[str]:
        """Add ``count`` videos to the region's catalog; returns their ids."""
        return self.services[region].catalog.upload(count, at)

    def delete(self, video_id: str) -> None:
        """Remove the video from whichever region holds it (KeyError when none does)."""
        for service in self.services.values():
            if video_id in service.catalog:
                service.catalog.delete(video_id)
                return
        raise KeyError(f"no region holds video {video_id}")
