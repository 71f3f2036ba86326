"""Discovery: every video of an account's regions, from VOD's own listings.

GetVideoList reads at most the first 5,000 matches of a query, so a region is walked oldest first in
``CreationTime`` windows: a window is read page by page (100 videos a page, the pages after the first
asked together), and when it held 5,000 the next window starts a second before the last video read.
Whether VOD's StartTime is inclusive is not documented: the overlap covers both readings, and videos read
twice are kept once. When more than 5,000 videos share one or two seconds no window can move past them:
those seconds are read with SearchMedia and its ScrollToken, which walks every match. So a walk costs
about one call per 100 videos, plus one call per 5,000 for the overlaps.

A deletion is noticed by a full walk: a video known before and not listed now. Before it is recorded as
gone, GetVideoInfos (20 ids a call) must say it does not exist, so a listing that missed a video for any
other reason never deletes it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pipeline.vod.api import GET_VIDEO_INFOS, GET_VIDEO_LIST, SEARCH_MEDIA
from pipeline.vod.client import Answer, VodClient
from pipeline.vod.errors import ScrollTokenExpired, UnusableListing, VideoNotFound

LIST_CAP = 5000  # matches GetVideoList (or SearchMedia without a ScrollToken) can read of one query
PAGE_SIZE = 100
INFOS_PER_CALL = 20
SEARCH_FIELDS = "Title,Status,CreationTime,ModificationTime,Duration,Size,CateId,CateName,StorageLocation,AppId"
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_SECOND = dt.timedelta(seconds=1)
_TOKEN_RESTARTS = 3

# Hands each answer over as it arrives, for the raw store: (region, action, params, answer).
OnAnswer = Callable[[str, str, Mapping[str, str], Answer], None]


@dataclass
class RegionWalk:
    """What a walk of one region found: VOD's fields of each video listed, by id, as VOD sent them."""

    region: str
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: int = 0
    rereads: int = 0  # windows read again because their pages held fewer videos than their Total
    crowded_seconds: int = 0  # seconds read with SearchMedia because more than 5,000 videos shared them


def vod_time(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime(_TIME)


def parse_vod_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, _TIME).replace(tzinfo=dt.UTC)


@dataclass
class _Window:
    """One window of a walk: from where, its pages (their answers to come), the last page, whether it held
    5,000 videos, and how many its first page said it holds (up to 5,000; None when it did not say)."""

    start: dt.datetime | None
    pages: list[Future[list[dict[str, Any]]]]
    last_page: list[dict[str, Any]]
    full: bool
    expected: int | None


class _Walker:
    def __init__(self, client: VodClient, region: str, on_answer: OnAnswer, stop: threading.Event, concurrency: int):
        self.client, self.region, self.on_answer, self.stop = client, region, on_answer, stop
        self.concurrency = concurrency

    def _stop_on_failure(self, page: Future[list[dict[str, Any]]]) -> None:
        """A page that failed stops every region's walk: the error is raised where the pages are read."""
        if page.exception() is not None:
            self.stop.set()

    def call(self, action: str, params: Mapping[str, str]) -> Answer:
        if self.stop.is_set():
            raise _Stopped
        answer = self.client.call(action, params)
        self.on_answer(self.region, action, params, answer)
        return answer

    def walk(self, since: dt.datetime | None, until: dt.datetime) -> RegionWalk:
        found = RegionWalk(self.region)
        start = since
        windows: list[_Window] = []
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"walk-{self.region}") as pool:
            while True:
                window = self._window(pool, start, until)
                windows.append(window)
                if not window.full:
                    break
                # The window held 5,000: the next starts from its last video while its other pages arrive.
                last = max(self._created(video, start) for video in window.last_page)
                if start is None or last >= start + 2 * _SECOND:
                    start = last - _SECOND  # the overlap: inclusive or not, no second is skipped
                    continue
                # 5,000 videos within [start, start + 1 s]: read those seconds whole, then go on after them
                crowd_end = last + _SECOND
                found.videos.update((v["VideoId"], v) for v in self._search(start, crowd_end))
                found.crowded_seconds += int((crowd_end - start) / _SECOND) + 1
                start = crowd_end
            for window in windows:
                videos = self._videos(window)
                if window.expected is not None and len(videos) < window.expected:
                    # Fewer videos than the window's Total: a video deleted (or added) while its pages were
                    # read shifts the later pages by one, and one video falls between two. Read it again.
                    found.rereads += 1
                    videos += self._videos(self._window(pool, window.start, until))
                found.videos.update((v["VideoId"], v) for v in videos)
        found.windows = len(windows) + found.rereads
        return found

    def _window(self, pool: ThreadPoolExecutor, start: dt.datetime | None, until: dt.datetime) -> _Window:
        """Asks every page of one window (up to 5,000 videos; the last page first, the others then); returns
        once the last page has arrived, the others still on their way. A page that fails stops the walk of
        every region at once."""
        params = {"SortBy": "CreationTime:Asc", "PageSize": str(PAGE_SIZE), "EndTime": vod_time(until)}
        if start is not None:
            params["StartTime"] = vod_time(start)
        first = self.call(GET_VIDEO_LIST, {**params, "PageNo": "1"})
        total = _whole(first.document.get("Total"))
        count = LIST_CAP // PAGE_SIZE if total is None else max(1, min(LIST_CAP // PAGE_SIZE, -(-total // PAGE_SIZE)))
        done: Future[list[dict[str, Any]]] = Future()
        done.set_result(videos_in(first.document))

        def ask(number: int) -> Future[list[dict[str, Any]]]:
            page = pool.submit(lambda: videos_in(self.call(GET_VIDEO_LIST, {**params, "PageNo": str(number)}).document))
            page.add_done_callback(self._stop_on_failure)
            return page

        last = ask(count) if count > 1 else done
        pages = [done, *(ask(number) for number in range(2, count)), *([last] if count > 1 else [])]
        last_page = self._result(last, pages)
        return _Window(
            start=start,
            pages=pages,
            last_page=last_page,
            full=count == LIST_CAP // PAGE_SIZE and len(last_page) == PAGE_SIZE,
            expected=None if total is None else min(total, LIST_CAP),
        )

    def _videos(self, window: _Window) -> list[dict[str, Any]]:
        """Every video of the window's pages, once they have all arrived."""
        return [video for page in window.pages for video in self._result(page, window.pages)]

    @staticmethod
    def _result(page: Future[list[dict[str, Any]]], pages: list[Future[list[dict[str, Any]]]]) -> list[dict[str, Any]]:
        try:
            return page.result()
        except _Stopped:
            raise _first_failure(pages) from None

    def _created(self, video: Mapping[str, Any], start: dt.datetime | None) -> dt.datetime:
        """A listed video's CreationTime, which must not be earlier than the window asked for: a listing
        that ignored StartTime would never move past its first 5,000 videos."""
        try:
            created = parse_vod_time(str(video.get("CreationTime")))
        except ValueError:
            created = None
        if created is None or (start is not None and created < start - _SECOND):
            raise UnusableListing(
                "UnusableListing",
                f"GetVideoList listed video {video.get('VideoId')} with CreationTime {video.get('CreationTime')!r}, "
                f"not a time from {vod_time(start) if start else 'the start'} on: the walk cannot go on safely",
            ).in_region(self.region)
        return created

    def _search(self, start: dt.datetime, end: dt.datetime) -> Iterator[dict[str, Any]]:
        """Every video created from ``start`` to ``end`` (both included), walked with SearchMedia's ScrollToken.
        A token that expires mid-walk (its lifetime is not documented) starts the walk again, a few times."""
        match = f"CreationTime = ['{vod_time(start)}','{vod_time(end)}']"
        for restart in range(_TOKEN_RESTARTS + 1):
            try:
                yield from self._scroll(match)
                return
            except ScrollTokenExpired as err:
                if restart == _TOKEN_RESTARTS:
                    raise UnusableListing(
                        "UnusableListing",
                        f"SearchMedia's ScrollToken expired during each of {_TOKEN_RESTARTS + 1} walks of the videos created "
                        f"{vod_time(start)} to {vod_time(end)}: {err.message}",
                        request_id=err.request_id,
                    ).in_region(self.region) from None

    def _scroll(self, match: str) -> Iterator[dict[str, Any]]:
        params = {"SearchType": "video", "Match": match, "Fields": SEARCH_FIELDS, "SortBy": "CreationTime:Asc", "PageSize": str(PAGE_SIZE)}
        token, page = None, 1
        while True:
            answer = self.call(SEARCH_MEDIA, {**params, "PageNo": str(page), **({"ScrollToken": token} if token else {})})
            media = answer.document.get("MediaList") or []
            yield from videos_in(answer.document)
            token = answer.document.get("ScrollToken") or token
            if len(media) < PAGE_SIZE:
                return
            if token is None and page * PAGE_SIZE >= LIST_CAP:
                raise UnusableListing(
                    "UnusableListing", "SearchMedia sent no ScrollToken, so a walk past its first 5,000 matches cannot go on"
                ).in_region(self.region)
            page += 1

    def infos(self, ids: list[str]) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """GetVideoInfos of ``ids``: the videos that exist, and the ids VOD says do not. A batch answered
        InvalidVideo.NotFound as a whole (when VOD does so instead of listing NonExistVideoIds is not
        documented) is asked again one id at a time, where that answer means the video is gone."""
        batches = [ids[i : i + INFOS_PER_CALL] for i in range(0, len(ids), INFOS_PER_CALL)]
        existing: dict[str, dict[str, Any]] = {}
        gone: set[str] = set()

        def ask(batch: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
            try:
                document = self.call(GET_VIDEO_INFOS, {"VideoIds": ",".join(batch)}).document
            except VideoNotFound:
                if len(batch) == 1:
                    return [], batch
                answers = [ask([video_id]) for video_id in batch]
                return [v for found, _ in answers for v in found], [i for _, missing in answers for i in missing]
            missing = document.get("NonExistVideoIds") or []
            if isinstance(missing, str):  # the documentation's sample sends a comma-separated string
                missing = [i.strip() for i in missing.split(",") if i.strip()]
            return videos_in(document), [i for i in missing if i in batch]

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"infos-{self.region}") as pool:
            for found, missing in pool.map(ask, batches):
                existing.update((v["VideoId"], v) for v in found)
                gone.update(missing)
        return existing, gone - set(existing)


class _Stopped(Exception):
    """Another page or region of the walk failed: this one stops at its next call."""


def _first_failure(pages: list[Future[Any]]) -> BaseException:
    """The error that stopped the walk, from the pages that ended (a _Stopped when another region's did)."""
    failures = (page.exception() for page in pages if page.done())
    return next((err for err in failures if err is not None and not isinstance(err, _Stopped)), _Stopped())


def walk_regions(
    clients: Mapping[str, VodClient],
    since: Mapping[str, dt.datetime | None],
    *,
    on_answer: OnAnswer,
    concurrency: int = 8,
) -> dict[str, RegionWalk]:
    """Walks every region of ``clients`` at once (``since[region]``: only videos created from then; None:
    all), up to the end of tomorrow (UTC). The first error of any region stops every walk and is raised."""
    until = dt.datetime.combine(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2), dt.time(), dt.UTC)
    return _each_region(clients, on_answer, concurrency, lambda walker: walker.walk(since.get(walker.region), until))


def confirm_gone(
    clients: Mapping[str, VodClient],
    missing: Mapping[str, Iterable[str]],
    *,
    on_answer: OnAnswer,
    concurrency: int = 8,
) -> dict[str, tuple[dict[str, dict[str, Any]], set[str]]]:
    """For each region, of the videos a full walk did not list: those VOD still has, and those it says are gone."""
    wanted = {region: sorted(ids) for region, ids in missing.items() if ids}
    return _each_region({r: clients[r] for r in wanted}, on_answer, concurrency, lambda walker: walker.infos(wanted[walker.region]))


def _each_region(clients: Mapping[str, VodClient], on_answer: OnAnswer, concurrency: int, work: Callable[[_Walker], Any]) -> dict[str, Any]:
    stop = threading.Event()
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(region: str, client: VodClient) -> None:
        try:
            results[region] = work(_Walker(client, region, on_answer, stop, concurrency))
        except _Stopped:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the caller below
            errors.append(err)
            stop.set()

    threads = [threading.Thread(target=run, args=item, name=f"region-{item[0]}") for item in clients.items()]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.set()  # interrupted (Ctrl-C, a terminated run): the walks stop at their next call
    if errors:
        raise errors[0]
    return results


def videos_in(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The videos of a GetVideoList, SearchMedia or GetVideoInfos answer, each as VOD describes it: the
    wrapped list (whichever shape an empty answer takes: no VideoList, ``{}``, ``{"Video": []}``), the
    flat one, or SearchMedia's ``MediaList`` of ``{"Video": ...}``."""
    wrapper = document.get("VideoList")
    videos = wrapper.get("Video") if isinstance(wrapper, dict) else wrapper
    if videos is None and isinstance(document.get("MediaList"), list):
        videos = [item.get("Video") for item in document["MediaList"] if isinstance(item, dict)]
    return [v for v in videos or [] if isinstance(v, dict) and v.get("VideoId")]


def _whole(value: Any) -> int | None:
    """A count VOD may send as a number or as text (its samples quote it)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
