"""Fan-out: ListDynamicImage for every video of a set, concurrently, one outcome per video.

A fixed set of worker threads takes the videos one at a time from the queue it serves, so memory stays
flat whatever the number of videos; outcomes go to the caller's ``on_outcome`` as they arrive and are not
kept.

Videos of several regions go through one pool, each call to its region's client, in an order that
interleaves the regions by need (``by_need``): a region with more videos left gets more of the calls, so
regions sharing the account's budget finish together, and none sits idle while another has videos left.
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from pipeline.vod.client import DynamicImages, VodClient
from pipeline.vod.errors import FailingTooOften, FatalVodError, VideoNotFound, VodError
from pipeline.vod.outcome import FetchSummary, Outcome, Status, utc_now_iso


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float
    calls_per_s: float
    eta_s: float | None

    def __str__(self) -> str:
        eta = f"{self.eta_s:.0f} s left" if self.eta_s is not None else "time left unknown"
        return f"{self.done}/{self.total} videos ({self.done / max(self.total, 1):.0%}), {self.calls_per_s:.1f} calls/s, {eta}"


Clients = Mapping[str, VodClient]  # region -> the client calling it
_WORKER_DONE = object()  # a worker's last word: its queue is empty, or the fetch stops


def fetch_one(client: VodClient, video_id: str, region: str | None = None) -> Outcome:
    """One video's outcome (in ``region``, by default the client's). Only a FatalVodError escapes: it
    means every other call would fail too."""
    region = region or client.region
    try:
        answer = client.list_dynamic_image(video_id)
    except VideoNotFound as err:
        return _outcome_from_error(video_id, region, "not_found", err)
    except FatalVodError:
        raise
    except VodError as err:
        return _outcome_from_error(video_id, region, "failed", err)
    return _outcome_from_answer(answer, region)


def by_need(ids: Sequence[str], regions: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(region, video id) of every video, the regions interleaved evenly: each region's share of the calls
    is its share of the videos left, so regions sharing one budget finish together."""
    lanes: dict[str, list[str]] = {}
    for video_id, region in zip(ids, regions, strict=True):
        lanes.setdefault(region, []).append(video_id)

    def lane(region: str, videos: list[str]) -> Iterator[tuple[float, str, str]]:
        return (((i + 0.5) / len(videos), region, video_id) for i, video_id in enumerate(videos))

    merged = heapq.merge(*(lane(region, videos) for region, videos in lanes.items()))
    return ((region, video_id) for _, region, video_id in merged)


def _outcome_from_answer(answer: DynamicImages, region: str | None) -> Outcome:
    return Outcome(
        video_id=answer.video_id,
        region=region,
        status="answered",
        fetched_at=_iso(answer.received_at),
        attempts=answer.attempts,
        request_id=answer.request_id,
        http_status=answer.http_status,
        response=answer.document,
    )


def _outcome_from_error(video_id: str, region: str | None, status: Status, err: VodError) -> Outcome:
    return Outcome(
        video_id=video_id,
        region=region,
        status=status,
        fetched_at=utc_now_iso(),
        attempts=err.attempts,
        request_id=err.request_id,
        http_status=err.http_status,
        error_code=err.code,
        error_message=err.message or None,
    )


def _iso(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def fetch_all(
    clients: Clients,
    queues: Sequence[Iterable[tuple[str, str]]],
    *,
    total: int,
    concurrency: int = 16,
    on_outcome: Callable[[Outcome], None],
    on_progress: Callable[[Progress], None] | None = None,
    progress_every_s: float = 5.0,
    failure_window: int = 100,
    max_failure_rate: float = 0.5,
) -> FetchSummary:
    """Fetches every video, handing each outcome to ``on_outcome`` (from this thread) as it arrives.

    Each of ``queues`` is a series of (region, video id), called by ``concurrency`` workers of its own with
    the client of that region: regions sharing one budget go in one queue (interleaved: see ``by_need``), and
    regions with budgets of their own in a queue each, so that one slowed by throttling never holds another
    back.

    On a FatalVodError no new call starts; the calls under way finish and are handed over, then the
    error is raised. So it is when more than ``max_failure_rate`` of the last ``failure_window``
    videos failed after their retries (FailingTooOften): thousands of failing calls tell no more.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    recent = _FailureWindow(failure_window, max_failure_rate)
    summary = FetchSummary(asked=total, started_at=utc_now_iso())
    before = client_counts(clients)
    started = time.monotonic()
    last_report = started
    fatal: FatalVodError | None = None
    broken: BaseException | None = None  # anything else a worker raised: a bug, raised once the calls under way end
    arrived: queue.SimpleQueue[Outcome | BaseException | object] = queue.SimpleQueue()
    stop = threading.Event()

    def report() -> None:
        elapsed = time.monotonic() - started
        done = summary.answered + summary.not_found + summary.failed
        rate = (client_counts(clients)[0] - before[0]) / elapsed if elapsed > 0 else 0.0
        eta = (total - done) * elapsed / done if done else None
        if on_progress:
            on_progress(Progress(done, total, elapsed, rate, eta))

    def work(queued: Iterator[tuple[str, str]], taking: threading.Lock) -> None:
        # Each worker takes its next video itself and hands the outcome over: one hand-off a call.
        try:
            while not stop.is_set():
                with taking:  # a generator is advanced by one thread at a time
                    item = next(queued, None)
                if item is None:
                    return
                region, video_id = item
                arrived.put(fetch_one(clients[region], video_id, region or None))
        except BaseException as err:  # a FatalVodError, or a bug: the caller's thread raises it
            arrived.put(err)
        finally:
            arrived.put(_WORKER_DONE)

    # a queue's own workers: calls of a region waiting on its own budget never hold another region's workers
    workers = [
        threading.Thread(target=work, args=(queued, taking), name=f"vod-{lane}-{n}", daemon=True)
        for lane, (queued, taking) in enumerate((iter(queued), threading.Lock()) for queued in queues)
        for n in range(concurrency)
    ]
    for worker in workers:
        worker.start()
    running = len(workers)
    try:
        while running:
            try:  # woken by a worker, or when progress is due
                item = arrived.get(timeout=max(0.0, last_report + progress_every_s - time.monotonic()) if on_progress else None)
            except queue.Empty:
                item = None
            if item is _WORKER_DONE:
                running -= 1
            elif isinstance(item, FatalVodError):
                fatal = fatal or item
                stop.set()
            elif isinstance(item, BaseException):
                broken = broken or item
                stop.set()
            elif isinstance(item, Outcome):
                summary.count(item)
                on_outcome(item)
                fatal = fatal or recent.add(item)
                if fatal is not None:
                    stop.set()
            if on_progress and time.monotonic() - last_report >= progress_every_s:
                last_report = time.monotonic()
                report()
    finally:
        stop.set()  # on the caller's own error too: no new call; the calls under way end by themselves
        for worker in workers:
            worker.join()
    if broken is not None:
        raise broken

    summary.calls, summary.retries, summary.throttled = (n - b for n, b in zip(client_counts(clients), before, strict=True))
    summary.seconds = round(time.monotonic() - started, 3)
    summary.finished_at = utc_now_iso()
    if fatal is not None:
        raise fatal.replace(summary=summary)  # with what was fetched before the stop, for the caller to record
    report()
    return summary


def client_counts(clients: Clients) -> tuple[int, int, int]:
    """Calls, retries and throttled answers of every region's client so far."""
    return (
        sum(c.calls.value for c in clients.values()),
        sum(c.retries.value for c in clients.values()),
        sum(c.throttled.value for c in clients.values()),
    )


class _FailureWindow:
    """The outcomes of the last ``size`` videos; says when too many of them failed."""

    def __init__(self, size: int, max_rate: float):
        if size < 1 or not 0 < max_rate <= 1:
            raise ValueError(f"failure window {size} and rate {max_rate} must be >= 1 and in (0, 1]")
        self.size = size
        self.max_rate = max_rate
        self._last: collections.deque[str | None] = collections.deque(maxlen=size)  # error code, or None
        self._failed = 0

    def add(self, outcome: Outcome) -> FailingTooOften | None:
        if len(self._last) == self.size and self._last[0] is not None:
            self._failed -= 1
        failed = outcome.status == "failed"
        self._last.append((outcome.error_code or "unknown error") if failed else None)
        self._failed += failed
        if len(self._last) < self.size or self._failed <= self.max_rate * self.size:
            return None
        common = collections.Counter(code for code in self._last if code is not None).most_common(3)
        return FailingTooOften(
            common[0][0],
            f"{self._failed} of the last {self.size} videos failed after every retry "
            f"({', '.join(f'{code} x{n}' for code, n in common)}), so the fetch stopped",
            hint="VOD or the network to it is failing; the answers received are kept and a re-run of the "
            "day asks only the videos still missing",
        )
