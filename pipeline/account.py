"""The account's videos, day by day: discovered in every region, kept as the lake's ``videos`` table.

A day's table is the day before's (the newest earlier partition) brought up to date by a walk of each
region: a full walk of every video when the region's last one is ``full_walk_days`` old or more (or it was
never walked), otherwise a walk of the videos created since the last walk began (an hour earlier, for
listings that lag). A full walk notices deletions (``pipeline.vod.discovery``). Every answer of the walk is
kept unchanged under raw/, beside a summary of it; the strings VOD sent are typed here, in pandas.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.normalize.rules import utc_times
from pipeline.store import lake, objects
from pipeline.store.files import durable, write_json
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.lease import DayLease
from pipeline.store.objects import Location
from pipeline.store.schema import UTC_TIMESTAMP, VIDEOS, pandas_dtypes
from pipeline.store.videos import id_array, video_id_problem
from pipeline.vod import discovery
from pipeline.vod.client import Answer, VodClient
from pipeline.vod.fetch import client_counts

LISTING_LAG = dt.timedelta(hours=1)  # an incremental walk starts this long before the last walk began
_COLUMNS = [c.name for c in VIDEOS]


@dataclass
class RegionDiscovery:
    """What one region's walk of a day did."""

    kind: str  # "full" or "incremental"
    started_at: str  # ISO 8601 UTC
    since: str | None = None  # an incremental walk's first CreationTime
    listed: int = 0
    new: int = 0
    deleted: int = 0
    calls: int = 0  # of the region's client: the region's share of the calls when the budget is shared


@dataclass
class Discovery:
    """A day's discovery: per region, and the account's videos after it."""

    regions: dict[str, RegionDiscovery] = field(default_factory=dict)
    videos: int = 0  # not deleted
    deleted: int = 0  # deleted upstream, kept in the table
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    seconds: float = 0.0


def discover_day(
    layout: Layout,
    day: dt.date,
    clients: Mapping[str, VodClient],
    *,
    full_walk_days: int = 7,
    concurrency: int = 8,
    now: dt.datetime | None = None,
    run_id: str | None = None,
) -> tuple[pd.DataFrame, Discovery]:
    """Walks every region of ``clients`` and writes the day's ``videos`` partition; returns the table
    (deleted videos included) and what was done. Holds the day's lease (``store.lease``), as every writer
    of a day does."""
    with DayLease(layout, day, run_id=run_id) as lease:
        return _discover_day(layout, day, clients, full_walk_days, concurrency, now or dt.datetime.now(dt.UTC), lease)


def _discover_day(
    layout: Layout,
    day: dt.date,
    clients: Mapping[str, VodClient],
    full_walk_days: int,
    concurrency: int,
    now: dt.datetime,
    lease: DayLease,
) -> tuple[pd.DataFrame, Discovery]:
    previous = _previous_table(layout, day)
    walks = _last_walks(layout, day)
    # A region without rows in the previous table (a lake restored or wiped since) is walked whole again
    known_regions = set(previous["region"]) if previous is not None else set()
    plan = {region: _plan(walks.get(region) if region in known_regions else None, day, now, full_walk_days) for region in clients}
    before = client_counts(clients)
    calls_before = {region: client.calls.value for region, client in clients.items()}
    started = dt.datetime.now(dt.UTC)
    typist = _Typist(now)

    def on_answer(region: str, action: str, params: Mapping[str, str], answer: Answer) -> None:
        log.write(region, action, params, answer)
        typist.add(region, discovery.videos_in(answer.document))

    with _AnswerLog(layout.discovery_answers(day)) as log:
        since = {r: _time(p.since) if p.since else None for r, p in plan.items()}
        listed = discovery.walk_regions(clients, since, on_answer=on_answer, concurrency=concurrency)
        full = {r for r, p in plan.items() if p.kind == "full"}
        known = previous[~previous["deleted_upstream"]] if previous is not None else None
        # An id that is not a VOD video id is never sent back to VOD: it would split GetVideoInfos' list
        missing = (
            {
                region: {
                    video_id
                    for video_id in set(known.loc[known["region"] == region, "video_id"]) - set(listed[region].videos)
                    if video_id_problem(video_id) is None
                }
                for region in full
            }
            if known is not None
            else {}
        )
        checked = discovery.confirm_gone(clients, missing, on_answer=on_answer, concurrency=concurrency)
        log.commit()
    gone = set().union(*(ids for _, ids in checked.values()))
    table = _merge(previous, typist.frame(), gone, day, now)
    for region, walk in listed.items():
        report = plan[region]
        report.listed = len(walk.videos)
        report.new = len(set(walk.videos) - (set(previous["video_id"]) if previous is not None else set()))
        report.deleted = len(checked.get(region, ({}, set()))[1])
        report.calls = clients[region].calls.value - calls_before[region]
    summary = Discovery(
        regions=plan,
        videos=int((~table["deleted_upstream"]).sum()),
        deleted=int(table["deleted_upstream"].sum()),
        seconds=round((dt.datetime.now(dt.UTC) - started).total_seconds(), 3),
    )
    summary.calls, summary.retries, summary.throttled = (a - b for a, b in zip(client_counts(clients), before, strict=True))
    # Under staging/: the day's videos reach the lake with the day's other tables, once they pass their audit
    with lake.DayWriter(layout, day, ("videos",), staging=True) as out:
        out["videos"].write(table)
        lease.check()
        out.commit()
    write_json(layout.discovery_summary(day), asdict(summary))
    return table, summary


def _plan(last: dict[str, Any] | None, day: dt.date, now: dt.datetime, full_walk_days: int) -> RegionDiscovery:
    """A full walk when the region's last full walk was ``full_walk_days`` snapshot days ago or more (or
    there was none), else one of the videos created since the last walk began, less the listing lag."""
    if last is None or (day - last["full_day"]).days >= full_walk_days:
        return RegionDiscovery(kind="full", started_at=_iso(now))
    return RegionDiscovery(kind="incremental", started_at=_iso(now), since=_iso(_time(last["any"]) - LISTING_LAG))


def _last_walks(layout: Layout, day: dt.date) -> dict[str, dict[str, Any]]:
    """Per region, when its last walk began and the day of its last full walk, over the days before ``day``."""
    last: dict[str, dict[str, Any]] = {}
    walks: list[Location] = sorted((layout.base / "raw").glob(f"{PARTITION_KEY}=*/discovery.json"))
    for path in walks:
        walked = dt.date.fromisoformat(path.parent.name.split("=", 1)[1])
        if walked >= day:
            continue
        for region, walk in json.loads(path.read_text(encoding="utf-8"))["regions"].items():
            seen = last.setdefault(region, {})
            seen["any"] = walk["started_at"]
            if walk["kind"] == "full":
                seen["full_day"] = walked
    return {region: walks for region, walks in last.items() if "full_day" in walks}


def _previous_table(layout: Layout, day: dt.date) -> pd.DataFrame | None:
    """The newest earlier day's table as its discovery left it: in the lake, or under staging/ while that
    day waits for its audit or was held (its walk happened all the same)."""
    days = set(lake.partition_days(layout, "videos")) | set(lake.partition_days(layout, "videos", staging=True))
    earlier = sorted(d for d in days if d < day)
    if not earlier:
        return None
    return lake.read_partition(layout, "videos", earlier[-1], path=lake.staged_or_committed(layout, "videos", earlier[-1]))


def _merge(previous: pd.DataFrame | None, fresh: pd.DataFrame, gone: set[str], day: dt.date, now: dt.datetime) -> pd.DataFrame:
    """The day's table: every video found now (``fresh``: listed, or found by GetVideoInfos) as VOD
    describes it, seen now; every earlier one not found as it was, or deleted if it is ``gone``. Ids are
    matched in Arrow, once, and the table sorted there: pandas' own lookups of a million strings cost more
    than their share."""
    table = fresh
    if previous is not None:
        # Where each video found now was in the earlier table: it keeps when it was first seen there
        ids, earlier_ids = id_array(fresh["video_id"]), id_array(previous["video_id"])
        earlier = pc.index_in(ids, value_set=earlier_ids)
        found = earlier.is_valid().to_numpy(zero_copy_only=False)
        first_seen = previous["first_seen"].take(earlier.fill_null(0).to_numpy()).set_axis(fresh.index)
        fresh = fresh.assign(first_seen=fresh["first_seen"].mask(found, first_seen))
        not_found = pc.invert(pc.is_in(earlier_ids, value_set=ids)).to_numpy(zero_copy_only=False)
        table = pd.concat([fresh, previous[not_found]], ignore_index=True)
    if gone:
        newly_gone = (
            pc.is_in(id_array(table["video_id"]), value_set=pa.array(sorted(gone), pa.large_string())).to_numpy(zero_copy_only=False)
            & ~table["deleted_upstream"].to_numpy()
        )
        table.loc[newly_gone, "deleted_upstream"] = True
        table.loc[newly_gone, "deleted_at"] = pd.Timestamp(now)
    table[PARTITION_KEY] = day
    keys = pa.table({key: pa.array(table[key]) for key in ("region", "creation_time", "video_id")})
    order = pc.sort_indices(keys, sort_keys=[(key, "ascending") for key in keys.column_names])  # stable; nulls last
    return table[_COLUMNS].take(order.to_numpy()).astype(pandas_dtypes(VIDEOS)).reset_index(drop=True)


class _Typist:
    """Types the videos of the walk's answers as they arrive, a few thousand at a time, from the walk's
    threads: the walk waits on VOD's pace, so its typing is done by the time the last page is in."""

    BATCH = 5000

    def __init__(self, now: dt.datetime):
        self.now = now
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._frames: list[pd.DataFrame] = []
        self._lock = threading.Lock()

    def add(self, region: str, videos: list[dict[str, Any]]) -> None:
        with self._lock:
            batch = self._pending.setdefault(region, [])
            batch += videos
            if len(batch) < self.BATCH:
                return
            self._pending[region] = []
        frame = _typed([(region, batch)], self.now)
        with self._lock:
            self._frames.append(frame)

    def frame(self) -> pd.DataFrame:
        """Every video typed, each once (a video read twice, in a window's overlap, keeps its last reading)."""
        frames = [*self._frames, _typed(list(self._pending.items()), self.now)]
        fresh = pd.concat(frames, ignore_index=True)
        return fresh.drop_duplicates("video_id", keep="last") if fresh["video_id"].duplicated().any() else fresh


# VOD's names of the video fields the table keeps, and the table's.
_FIELDS = {
    "VideoId": "video_id",
    "Title": "title",
    "Status": "status",
    "CreationTime": "creation_time",
    "Duration": "duration_s",
    "Size": "size_bytes",
}


def _typed(found: list[tuple[str, Iterable[dict[str, Any]]]], now: dt.datetime) -> pd.DataFrame:
    """VOD's video fields (strings, or numbers as VOD sent them) as the table's typed columns, in pandas:
    CreationTime read as the sticker rules read it, numbers that are not numbers left null."""
    values: dict[str, list[Any]] = {name: [] for name in ("region", *_FIELDS.values())}
    for region, videos in found:
        videos = list(videos)
        values["region"] += [region] * len(videos)
        for api, name in _FIELDS.items():
            values[name] += [video.get(api) for video in videos]
    text = {name: pd.Series(values[name], dtype=pd.ArrowDtype(pa.string())) for name in ("region", "video_id", "title", "status")}
    raw = pd.DataFrame(
        {
            **text,
            "creation_time": _utc(utc_times(pd.Series([_text(v) for v in values["creation_time"]], dtype=pd.ArrowDtype(pa.string())))),
            "duration_s": pd.to_numeric(pd.Series(values["duration_s"], dtype=object), errors="coerce").astype("float64"),
            "size_bytes": pd.to_numeric(pd.Series(values["size_bytes"], dtype=object), errors="coerce").astype("Int64"),
        }
    )
    instant = pd.Series(pd.Timestamp(now), index=raw.index, dtype="datetime64[us, UTC]")
    return raw.assign(
        first_seen=instant,
        last_seen=instant,
        deleted_upstream=False,
        deleted_at=pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us, UTC]"),
    )


def _utc(times: pd.Series) -> pd.Series:
    """Arrow-backed instants as the table's ``datetime64[us, UTC]``, through Arrow (pandas' own cast goes
    value by value)."""
    return pd.Series(pa.array(times).cast(UTC_TIMESTAMP).to_pandas(), index=times.index)


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


def _iso(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class _AnswerLog:
    """Discovery's answers, one JSON line each as they arrive (from several threads), renamed into
    place (on an object store: put) when the walk is done: a walk that stops leaves the day's last finished
    log as it was."""

    def __init__(self, path: Location):
        self.path = path
        self._local = tempfile.TemporaryDirectory(prefix="vod-stickers-") if objects.is_remote(path) else None
        self.partial = (
            Path(self._local.name) / f"{path.name}.partial" if self._local else objects.local(path).with_name(f"{path.name}.partial")
        )
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.partial, "wb")  # noqa: SIM115 - closed in commit or on exit
        self._lock = threading.Lock()

    def write(self, region: str, action: str, params: Mapping[str, str], answer: Answer) -> None:
        head = json.dumps(
            {
                "region": region,
                "action": action,
                "params": dict(params),
                "request_id": answer.request_id,
                "received_at": answer.received_at,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        # VOD's answer as it came (it was read as one JSON object); re-written only if it spans lines
        body = answer.body if answer.body and b"\n" not in answer.body else json.dumps(answer.document).encode()
        line = head[:-1].encode() + b',"response":' + body.strip() + b"}\n"
        with self._lock:
            self._file.write(line)

    def commit(self) -> None:
        durable(self._file)
        self._file.close()
        if self._local is None:
            self.partial.replace(objects.local(self.path))
        else:
            objects.upload(self.partial, objects.remote(self.path))

    def __enter__(self) -> _AnswerLog:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._file.closed:
            self._file.close()
        if self._local is not None:
            self._local.cleanup()
