"""One account's local VOD services across several regions: one listener per region, one catalog per region,
and (by default) one flow-control budget per action shared by every region, as VOD counts QPS per account.

The regions share one clock and one event notification setup (the HTTP callback and any extra sinks), as an
account's callback is configured once for all its regions. Moving the clock announces the sticker jobs that
finished since: ``advance_to`` for a simulated clock, and on the wall clock a ticker, about every second.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from localvod.changes import StickerChange
from localvod.clock import Clock
from localvod.config import ServiceConfig
from localvod.flow import flow_controls
from localvod.notify import Notifier, Sink
from localvod.server import LocalVodService

log = logging.getLogger(__name__)

TICK_S = 1.0  # how often the wall clock's sticker jobs are announced


class LocalVodAccount:
    """A ``LocalVodService`` per region. ``regions`` lists them, or maps each to ServiceConfig overrides
    (e.g. ``{"ap-southeast-1": {"access_key_id": "other"}}``). With ``shared_limits`` every action has one
    budget (``config``'s limits) spent by all regions together; without, each region has its own.

    The clock (``config.clock_start``, or ``clock``) and the callback (``config.callback_*``, ``fault_seed``
    for the losses) are the account's, taken from ``config``; ``sinks`` get every event of every region.

    ``config.accounts`` are served by every region beside this account, each with its own key pair and
    catalogs, its budgets shared by its regions as this account's are (or not, without ``shared_limits``);
    they send no events."""

    def __init__(
        self,
        config: ServiceConfig,
        regions: Mapping[str, Mapping[str, Any]] | Sequence[str] = ("cn-shanghai",),
        *,
        shared_limits: bool = True,
        sinks: Iterable[Sink] = (),
        clock: Clock | None = None,
    ):
        overrides = dict(regions) if isinstance(regions, Mapping) else {region: {} for region in regions}
        if not overrides:
            raise ValueError("an account needs at least one region")
        shared = flow_controls(config) if shared_limits else None
        shared_by_account = {name: flow_controls(account) for name, account in config.account_configs().items()} if shared_limits else None
        self.shared_limits = shared_limits
        self.clock = clock or Clock(config.clock_start)
        self.notifier = Notifier(
            config.callback_url,
            auth_key=config.callback_auth_key,
            retry_s=config.callback_retry_s,
            loss_rate=config.callback_loss_rate,
            loss_seed=config.fault_seed,
        )
        for sink in sinks:
            self.notifier.add_sink(sink)
        self.services: dict[str, LocalVodService] = {}
        for n, (region, changes) in enumerate(overrides.items()):
            port = config.port + n if config.port else 0  # consecutive ports from a fixed one
            region_config = dataclasses.replace(config, **{"port": port, **changes, "region": region})
            self.services[region] = LocalVodService(
                region_config,
                shared_flow_controls=shared,
                account_flow_controls=shared_by_account,
                clock=self.clock,
                notifier=self.notifier,
            )
        self._announced = self.clock.timestamp()  # sticker jobs up to this second were announced
        self._announcing = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._stop_ticking = threading.Event()

    def start(self) -> LocalVodAccount:
        """Start every region's service (those already started are left as they are), and on the wall clock
        with stickers that change, the ticker that announces their jobs as they finish."""
        try:
            for service in self.services.values():
                service.start()
        except BaseException:
            self.stop()
            raise
        changing = any(service.catalog.timeline.enabled for service in self.services.values())
        if self._ticker is None and changing and not self.clock.simulated:
            self._stop_ticking.clear()
            self._ticker = threading.Thread(target=self._tick, name="localvod-clock", daemon=True)
            self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop the ticker and every service; callbacks not sent yet are dropped."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            self._stop_ticking.set()
            ticker.join(timeout=10)
        for service in self.services.values():
            service.stop()
        self.notifier.close()

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
        """Region -> that service's stats (its events under ``events``)."""
        return {region: service.stats for region, service in self.services.items()}

    @property
    def event_stats(self) -> dict[str, Any]:
        """The events of every region and their callbacks (``Notifier.stats``)."""
        return self.notifier.stats()

    # --- what happens to the catalogs ---------------------------------------------------------------------

    def upload(self, region: str, count: int = 1, at: dt.datetime | None = None, **given: list[str] | None) -> list[str]:
        """Add ``count`` videos to the region's catalog (each announced by FileUploadComplete); returns their ids.
        ``ids`` and ``titles`` as ``Catalog.upload`` takes them."""
        return self.services[region].upload(count, at, **given)

    def delete(self, video_id: str) -> None:
        """Remove the video from whichever region holds it, announced by DeleteMediaComplete (KeyError when
        no region holds it)."""
        for service in self.services.values():
            if video_id in service.catalog:
                service.delete(video_id)
                return
        raise KeyError(f"no region holds video {video_id}")

    def add_sink(self, sink: Sink) -> None:
        """``sink(event)`` gets every event of every region from now on, in the emitter's thread."""
        self.notifier.add_sink(sink)

    # --- time ---------------------------------------------------------------------------------------------

    def advance_to(self, when: dt.datetime, *, wait: bool = False, timeout: float = 30.0) -> int:
        """Move every region's clock to ``when`` (a simulated time from now on; never back) and announce the
        sticker jobs that finished since the last announcement, oldest first; returns how many. With
        ``wait``, return once every callback was delivered or dropped (``wait_for_deliveries``)."""
        with self._announcing:
            self.clock.set(when)
            announced = self._announce()
        if wait:
            self.wait_for_deliveries(timeout)
        return announced

    def wait_for_deliveries(self, timeout: float = 30.0) -> bool:
        """Wait until every callback emitted so far was delivered or dropped; False if ``timeout`` came first."""
        return self.notifier.wait(timeout)

    def truth(self, at: dt.datetime | None = None) -> dict[str, dict[str, list[str]]]:
        """Region -> video id -> its DynamicImageIds at ``at`` (default: the clock's now), as ListDynamicImage
        answers them (``Catalog.truth``)."""
        return {region: service.catalog.truth(at) for region, service in self.services.items()}

    def changes(self, since: dt.datetime, until: dt.datetime) -> list[StickerChange]:
        """Every region's sticker changes with since < time <= until, oldest first (``Catalog.changes``)."""
        found = [change for service in self.services.values() for change in service.catalog.changes(since, until)]
        return sorted(found, key=lambda change: change.at)

    def _announce(self) -> int:
        """Under ``_announcing``: publish the sticker jobs finished after the last announcement, up to now."""
        since, until = self._announced, self.clock.timestamp()
        due = [(at, region, event) for region, service in self.services.items() for at, event in service.due_events(since, until)]
        due.sort(key=lambda item: item[0])  # stable: a region's own order stays
        for _, region, event in due:
            self.notifier.publish(event, region)
        self._announced = max(since, until)
        return len(due)

    def _tick(self) -> None:
        while not self._stop_ticking.wait(TICK_S):
            try:
                with self._announcing:
                    if not self.clock.simulated:
                        self._announce()
            except Exception:  # the next tick tries again; the service keeps answering
                log.exception("the local VOD account failed to announce its sticker jobs")
