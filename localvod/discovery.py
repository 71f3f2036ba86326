"""The local service's video discovery actions: GetVideoList, SearchMedia (its Match grammar and ScrollToken
walks) and GetVideoInfos, answered from a ``Catalog``.

Each action takes the request's parameters and returns the answer's document (without RequestId), or raises
``ParameterError`` with the code and message VOD documents.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from localvod.catalog import VIDEO_STATUSES, Catalog, VideoKey, VideoQuery

READ_CAP = 5000  # without a ScrollToken only the first 5,000 matches can be read
MAX_PAGE_SIZE = 100
MAX_SCROLL_JUMP = 100  # records a ScrollToken walk may skip forward from the page it last served
MAX_VIDEO_IDS = 20  # GetVideoInfos
MAX_MATCH_IDS = 100  # SearchMedia's VideoId in (...)
SEARCH_TYPES = ("video", "audio", "image", "attached")
_SORTS = {"CreationTime:Desc": True, "CreationTime:Asc": False}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TIME_SHAPE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_MAX_WALKS = 10_000


class ParameterError(Exception):
    """A request the action refuses: HTTP status, VOD error code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def _invalid(name: str) -> ParameterError:
    return ParameterError(400, "InvalidParameter", f"The specified parameter {name} is not valid.")


def _syntax(part: str) -> ParameterError:
    return ParameterError(400, "ErrorMatchSyntax", f"The parameter Match.{part} has an error syntax, please check it.")


def _exceeded() -> ParameterError:
    return ParameterError(400, "VideoListExceededMax", "The video list exceeded maximum.")


def _time(text: str) -> int | None:
    """Unix seconds of a ``yyyy-MM-ddTHH:mm:ssZ`` time; None when it is not one."""
    if not _TIME_SHAPE.fullmatch(text):
        return None
    try:
        return int(dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=dt.UTC).timestamp())
    except ValueError:
        return None


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int | None = None) -> int:
    text = params.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise _invalid(name) from None
    if value < low or (high is not None and value > high):
        raise _invalid(name)
    return value


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    """(PageNo, PageSize) with VOD's defaults and bounds."""
    return _int(params, "PageNo", 1, 1), _int(params, "PageSize", 10, 1, MAX_PAGE_SIZE)


def _descending(params: Mapping[str, str]) -> bool:
    sort_by = params.get("SortBy") or "CreationTime:Desc"
    if sort_by not in _SORTS:
        raise _invalid("SortBy")
    return _SORTS[sort_by]


def _capped_page(page_no: int, page_size: int) -> tuple[int, int]:
    """(skip, limit) of a page among the first READ_CAP matches; a page beyond them is refused."""
    skip = (page_no - 1) * page_size
    if skip >= READ_CAP:
        raise _exceeded()
    return skip, min(page_size, READ_CAP - skip)


# --- GetVideoList --------------------------------------------------------------------------------------------


def get_video_list(catalog: Catalog, params: Mapping[str, str], *, ignore_start: bool = False) -> dict[str, Any]:
    """GetVideoList: videos whose CreationTime is within [StartTime, EndTime] (both inclusive), a page of
    the first 5,000. ``VideoList`` is left out when the page holds no video; ``Total`` is never capped.
    With ``ignore_start``, StartTime is checked but not applied (a listing that does not honour it)."""
    bounds = {}
    for name in ("StartTime", "EndTime"):
        text = params.get(name, "")
        bounds[name] = None if text == "" else _time(text)
        if text != "" and bounds[name] is None:
            raise _invalid(name)
    start, end = bounds["StartTime"], bounds["EndTime"]
    if start is not None and end is not None and end <= start:
        raise _invalid("EndTime")
    if ignore_start:
        start = None
    statuses = None
    if params.get("Status"):
        statuses = frozenset(s.strip() for s in params["Status"].split(","))
        if not statuses <= set(VIDEO_STATUSES):
            raise _invalid("Status")
    descending = _descending(params)
    skip, limit = _capped_page(*_paging(params))
    query = VideoQuery(start=start, end=end, statuses=statuses, descending=descending)
    doc: dict[str, Any] = {"Total": catalog.count(query)}
    videos = [v for v in (catalog.video(video_id) for _, video_id in catalog.page(query, skip, limit)) if v]
    if videos:
        doc["VideoList"] = {"Video": [{**v, "Snapshots": {"Snapshot": v["Snapshots"]}} for v in videos]}
    return doc


# --- GetVideoInfos -------------------------------------------------------------------------------------------


def get_video_infos(catalog: Catalog, params: Mapping[str, str], *, not_found: str = "list") -> dict[str, Any]:
    """GetVideoInfos: up to 20 videos by id; the ids the catalog does not hold come back in NonExistVideoIds,
    or (``not_found`` "all" / "any") the call is answered 404 InvalidVideo.NotFound when all / any of them
    are unknown: when VOD does which is not documented."""
    ids = list(dict.fromkeys(v.strip() for v in params.get("VideoIds", "").split(",") if v.strip()))
    if not ids:
        raise ParameterError(
            400,
            "MissingParameter",
            'The input parameter "VideoIds" that is mandatory for processing this request is not supplied.',
        )
    if len(ids) > MAX_VIDEO_IDS:
        raise _invalid("VideoIds")
    found = {video_id: catalog.video(video_id) for video_id in ids}
    unknown = [video is None for video in found.values()]
    if (not_found == "all" and all(unknown)) or (not_found == "any" and any(unknown)):
        raise ParameterError(404, "InvalidVideo.NotFound", "The video does not exist.")
    return {
        "VideoList": [video for video in found.values() if video is not None],
        "NonExistVideoIds": [video_id for video_id, video in found.items() if video is None],
    }


# --- SearchMedia: the Match grammar -----------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:'(?P<string>[^']*)'|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[()\[\],=]))")
_MATCH_FIELDS = ("CreationTime", "VideoId", "Status")


def _tokens(match: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: kind is 'string', 'word' or a punctuation mark itself."""
    tokens, at = [], 0
    while at < len(match):
        if match[at:].strip() == "":
            break
        found = _TOKEN.match(match, at)
        if found is None:
            raise _syntax(match[at:].strip()[:20])
        kind = found.lastgroup or ""
        text = found.group(kind)
        tokens.append(("string", text) if kind == "string" else (text if kind == "punct" else "word", text))
        at = found.end()
    return tokens


class _MatchParser:
    """Recursive descent over: clause ('and' clause)*, where a clause is
    ``CreationTime = ('a','b')`` (``(``/``)`` open, ``[``/``]`` closed, either side may be empty),
    ``VideoId = 'x'``, ``VideoId in ('x', ...)``, ``Status = 'x'`` or ``Status in ('x', ...)``."""

    def __init__(self, match: str):
        self.tokens, self.at = _tokens(match), 0
        self.field = "Match"

    def parse(self) -> VideoQuery:
        start = end = None
        ids = statuses = None
        while self.at < len(self.tokens):
            if self.at and not self._take_word("and"):
                raise _syntax(self.field)
            name = self._expect("word")
            if name not in _MATCH_FIELDS:
                raise _syntax(name)
            self.field = name
            if name == "CreationTime":
                low, high = self._range()
                start = low if start is None or (low is not None and low > start) else start
                end = high if end is None or (high is not None and high < end) else end
                continue
            values = frozenset(self._values())
            if name == "VideoId":
                if len(values) > MAX_MATCH_IDS:
                    raise _syntax(name)
                ids = values if ids is None else ids & values
            else:
                statuses = values if statuses is None else statuses & values
        return VideoQuery(start=start, end=end, statuses=statuses, video_ids=ids)

    def _range(self) -> tuple[int | None, int | None]:
        """Inclusive unix-second bounds of ``= ('a','b')``."""
        self._expect("=")
        opening = self._expect_one("(", "[")
        low = self._optional_time()
        self._expect(",")
        high = self._optional_time()
        closing = self._expect_one(")", "]")
        if low is not None and opening == "(":
            low += 1
        if high is not None and closing == ")":
            high -= 1
        return low, high

    def _optional_time(self) -> int | None:
        if self._peek() != "string":
            return None
        value = _time(self._expect("string"))
        if value is None:
            raise _syntax(self.field)
        return value

    def _values(self) -> list[str]:
        if self._take_word("in"):
            self._expect("(")
            values = [self._expect("string")]
            while self._peek() == ",":
                self._expect(",")
                values.append(self._expect("string"))
            self._expect(")")
            return values
        self._expect("=")
        return [self._expect("string")]

    def _peek(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def _take_word(self, word: str) -> bool:
        if self._peek() == "word" and self.tokens[self.at][1].lower() == word:
            self.at += 1
            return True
        return False

    def _expect(self, kind: str) -> str:
        if self._peek() != kind:
            raise _syntax(self.field)
        self.at += 1
        return self.tokens[self.at - 1][1]

    def _expect_one(self, *kinds: str) -> str:
        kind = self._peek()
        if kind not in kinds:
            raise _syntax(self.field)
        return self._expect(kind)


def parse_match(match: str, *, descending: bool = True) -> VideoQuery:
    """SearchMedia's ``Match`` as a catalog query; raises ParameterError(ErrorMatchSyntax) when malformed."""
    query = _MatchParser(match).parse()
    return VideoQuery(query.start, query.end, query.statuses, query.video_ids, descending)


# --- SearchMedia: ScrollToken walks ------------------------------------------------------------------------------


@dataclass
class _Walk:
    """What a ScrollToken remembers: the query, and where its last page began and ended."""

    query: VideoQuery
    used_at: float
    first: tuple[int, VideoKey | None] = (0, None)  # (offset, key just before it) of the last page served
    after: tuple[int, VideoKey | None] = (0, None)  # (offset, last key) just after it
    lock: threading.Lock = field(default_factory=threading.Lock)


class ScrollWalks:
    """The ScrollTokens handed out; a token unused for ``ttl_s`` seconds is expired."""

    def __init__(self, ttl_s: float, clock: Any = time.monotonic):
        self.ttl_s, self._clock = ttl_s, clock
        self._walks: dict[str, _Walk] = {}
        self._lock = threading.Lock()

    def start(self, query: VideoQuery) -> tuple[str, _Walk]:
        now = self._clock()
        with self._lock:
            for token in [t for t, w in self._walks.items() if now - w.used_at > self.ttl_s]:
                del self._walks[token]
            while len(self._walks) >= _MAX_WALKS:
                del self._walks[next(iter(self._walks))]
            token = uuid.uuid4().hex
            walk = self._walks[token] = _Walk(query, now)
        return token, walk

    def resume(self, token: str) -> _Walk:
        now = self._clock()
        with self._lock:
            walk = self._walks.get(token)
            if walk is None or now - walk.used_at > self.ttl_s:
                self._walks.pop(token, None)
                raise ParameterError(400, "InvalidScrollToken.Expired", "The ScrollToken is expired, please refresh it.")
            walk.used_at = now
            return walk


def search_media(catalog: Catalog, walks: ScrollWalks, params: Mapping[str, str]) -> dict[str, Any]:
    """SearchMedia over videos. Without ScrollToken: a page of the first 5,000 hits (a page beyond them is
    refused with VideoListExceededMax). With it: the walk's next page, any number of hits deep. A video
    holds the fields named in ``Fields`` (only its id and CreationTime without)."""
    search_type = params.get("SearchType") or "video"
    if search_type not in SEARCH_TYPES:
        raise _invalid("SearchType")
    page_no, page_size = _paging(params)
    offset = (page_no - 1) * page_size
    fields = [f.strip() for f in params.get("Fields", "").split(",") if f.strip()]
    token = params.get("ScrollToken", "")
    if token:
        walk = walks.resume(token)
        with walk.lock:
            keys = _walk_page(catalog, walk, offset, page_size)
    else:
        descending = _descending(params)
        query = parse_match(params.get("Match", ""), descending=descending)
        if search_type != "video":  # only videos here: other media types find nothing
            query = VideoQuery(video_ids=frozenset())
        skip, limit = _capped_page(page_no, page_size)
        token, walk = walks.start(query)
        with walk.lock:
            keys = _served(walk, catalog, offset, skip, limit, None)
    media = []
    for _, video_id in keys:
        video = catalog.video(video_id)
        if video is not None:
            # Without Fields, the protocol's reading: the id and creation time only (the doc's sample shows
            # more; which VOD sends is not documented, so a client must name the fields it needs)
            video = {name: video[name] for name in ("VideoId", *(fields or ["CreationTime"])) if name in video}
            media.append({"MediaType": "video", "MediaId": video_id, "CreationTime": video.get("CreationTime"), "Video": video})
    return {"Total": catalog.count(walk.query), "ScrollToken": token, "MediaList": media}


def _walk_page(catalog: Catalog, walk: _Walk, offset: int, page_size: int) -> list[VideoKey]:
    """The page at ``offset`` of a walk: the last page again (a retry), or up to MAX_SCROLL_JUMP records
    past its end; anything else is refused."""
    (first_offset, first_key), (after_offset, after_key) = walk.first, walk.after
    if offset >= after_offset:
        skip, from_key = offset - after_offset, after_key
        if skip > MAX_SCROLL_JUMP:
            raise _invalid("PageNo")
    elif offset >= first_offset:
        skip, from_key = offset - first_offset, first_key
    else:
        raise _invalid("PageNo")
    return _served(walk, catalog, offset, skip, page_size, from_key)


def _served(walk: _Walk, catalog: Catalog, offset: int, skip: int, limit: int, from_key: VideoKey | None) -> list[VideoKey]:
    """The page ``skip`` records past ``from_key``, remembered as the walk's last page (at ``offset``)."""
    if skip:
        fetched = catalog.page(walk.query, skip - 1, limit + 1, after=from_key)
        before, keys = (fetched[0] if fetched else from_key), fetched[1:]
    else:
        before, keys = from_key, catalog.page(walk.query, 0, limit, after=from_key)
    walk.first = (offset, before)
    walk.after = (offset + len(keys), keys[-1] if keys else before)
    return keys
