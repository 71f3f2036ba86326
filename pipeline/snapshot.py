"""One snapshot day, step by step: take the video set, fetch, normalize, check. Plain functions over
the data directory that the Dagster assets (or anything else) call."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow.compute as pc

from pipeline import account, refresh
from pipeline.errors import ConfigurationError
from pipeline.events.inbox import Inbox
from pipeline.normalize import CHUNK_ROWS, DEFAULT_URL_VALIDITY_S, Chunk, Normalizer, quality
from pipeline.normalize.carry import carried_chunks
from pipeline.normalize.events import type_events
from pipeline.store import lake
from pipeline.store.files import write_json
from pipeline.store.layout import Layout
from pipeline.store.lease import DayLease
from pipeline.store.objects import Location
from pipeline.store.raw import AnswerWriter, day_summary, finished_days, read_state, write_state
from pipeline.store.schema import DAY_TABLES, DEFAULT_ACCOUNT, STICKERS, pandas_dtypes
from pipeline.store.videos import VideoSet, listed_set, read_day_set, read_video_set, write_video_set
from pipeline.vod.client import VodClient
from pipeline.vod.errors import FatalVodError
from pipeline.vod.fetch import Clients, Progress, by_need, fetch_all
from pipeline.vod.outcome import CARRIED, FetchSummary, Outcome, sticker_count, utc_now_iso
from pipeline.vod.regions import DEFAULT_REGION


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class DayIsOver(ConfigurationError):
    """A day that is over was asked to be fetched: no answer of VOD's today can stand for it."""


def is_over(day: dt.date, today: dt.date | None = None) -> bool:
    """Whether ``day`` is over (UTC): VOD can no longer be asked about it."""
    return day < (today or utc_today())


def video_set_source(layout: Layout, day: dt.date, *, today: dt.date | None = None) -> Location:
    """Where the day's video set comes from: ``videos.csv``, or for a day that is over the set it took then
    (today's ``videos.csv`` says nothing of it). A day that is over and took none is refused
    (``check_observable``)."""
    if is_over(day, today) and layout.day_videos(day).exists():
        return layout.day_videos(day)
    check_observable(layout, day, today=today)
    return layout.videos_csv


def take_video_set(
    layout: Layout, day: dt.date, *, today: dt.date | None = None, regions: tuple[str, ...] | list[str] = (DEFAULT_REGION,)
) -> VideoSet:
    """Reads and checks the day's video set (``video_set_source``, each video in one of ``regions``) and
    keeps the day's copy beside its answers."""
    source = video_set_source(layout, day, today=today)
    if source == layout.day_videos(day):
        return read_day_set(source, regions[0])
    videos = read_video_set(source, regions)
    write_video_set(layout.day_videos(day), videos.ids, videos.regions)
    return videos


def discover_video_set(
    layout: Layout,
    day: dt.date,
    clients: Clients,
    *,
    full_walk_days: int = 7,
    concurrency: int = 8,
    today: dt.date | None = None,
    run_id: str | None = None,
) -> tuple[VideoSet, account.Discovery | None]:
    """The day's video set from VOD itself: every video of the account in the regions of ``clients`` that
    was not deleted upstream (``account.discover_day``); the day's copy is kept beside its answers. A day
    that is over keeps the set it took then (no discovery: None), and one that took none is refused."""
    if is_over(day, today):
        if not layout.day_videos(day).exists():
            check_observable(layout, day, today=today)
            raise DayIsOver(f"{day} is over and took no video set: only today can be discovered")
        return read_day_set(layout.day_videos(day), next(iter(clients))), None
    table, summary = account.discover_day(layout, day, clients, full_walk_days=full_walk_days, concurrency=concurrency, run_id=run_id)
    alive = table[~table["deleted_upstream"] & table["region"].isin(list(clients))]
    videos = listed_set(alive["video_id"], alive["region"])  # an id that is no VOD video id is set aside
    write_video_set(layout.day_videos(day), videos.ids, videos.regions)
    return videos, summary


def check_observable(layout: Layout, day: dt.date, *, today: dt.date | None = None) -> None:
    """Raises DayIsOver if ``day`` is over and its fetch never finished: VOD answers only about now, so
    asking it today would file today's stickers under that day, a snapshot of a moment it never saw."""
    if not is_over(day, today) or layout.answers(day).exists():
        return
    redo = finished_days(layout.base)
    shown = ", ".join(d.isoformat() for d in redo[-10:])
    raise DayIsOver(
        f"{day} is over and its fetch never finished: VOD answers only about now, so asking it today would file "
        f"today's stickers under {day}; only today can be fetched. Days with kept answers, which can be "
        "redone without calling VOD: " + (f"{shown}{f' (and {len(redo) - 10} earlier)' if len(redo) > 10 else ''}" if redo else "none")
    )


def fetch_day(
    layout: Layout,
    day: dt.date,
    clients: VodClient | Clients,
    *,
    concurrency: int = 16,
    policy: refresh.RefreshPolicy = refresh.RefreshPolicy(),
    inbox: Inbox | None = None,
    run_id: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    today: dt.date | None = None,
) -> FetchSummary:
    """Calls ListDynamicImage for the videos of the day's set that the day's refresh plan asks about
    (``refresh.plan_day``: new, announced by an event in ``inbox``, failed, due or swept), each in its
    region (``clients`` by region, or one client for every video), and keeps every answer under raw/.
    Every other video carries its last answer into the day's answer file, which so holds the whole set.

    Answers are made durable in small batches as they arrive. If the fetch stops (a FatalVodError, or
    the process is killed), what arrived stays on disk, and the next fetch of the day calls VOD only
    for the videos of the plan without an answer yet. A past day is never asked again: its kept answers
    stand (their summary is returned), and one without them is refused (``check_observable``).
    """
    if is_over(day, today):
        check_observable(layout, day, today=today)
        return fetch_summary(layout, day)
    path = layout.day_videos(day)
    if not path.exists():
        raise ConfigurationError(f"No video set taken for {day}: materialize the videos asset for that day first")
    # A set kept before regions were recorded holds one region's videos: the region of this deployment
    one_region = (clients.region if isinstance(clients, VodClient) else next(iter(clients))) or DEFAULT_REGION
    videos = read_day_set(path, one_region)
    if not isinstance(clients, VodClient) and (strange := sorted(set(videos.regions) - set(clients))):
        raise ConfigurationError(
            f"The video set of {day} has videos in {', '.join(strange)}, which VOD_REGIONS "
            f"({', '.join(clients)}) does not list: add the region, or take the day's video set again"
        )
    with DayLease(layout, day, run_id=run_id) as lease:
        return _fetch(layout, day, clients, videos, lease, concurrency, policy, inbox, run_id, on_progress)


def _fetch(
    layout: Layout,
    day: dt.date,
    clients: VodClient | Clients,
    videos: VideoSet,
    lease: DayLease,
    concurrency: int,
    policy: refresh.RefreshPolicy,
    inbox: Inbox | None,
    run_id: str | None,
    on_progress: Callable[[Progress], None] | None,
) -> FetchSummary:
    ids = videos.ids
    plan = refresh.plan_day(layout, day, videos, policy, inbox=inbox, run_id=run_id)
    writer = AnswerWriter(layout.answers(day), layout.answers_in_progress(day))
    kept = {video_id: writer.done[video_id] for video_id in ids if video_id in plan.asks and video_id in writer.done}
    todo = [
        (video_id, region) for video_id, region in zip(ids, videos.regions, strict=True) if video_id in plan.asks and video_id not in kept
    ]

    # Each asked video's outcome, for the day's state: those an interrupted fetch kept, then the new ones
    asked: dict[str, list[Any]] = {
        "video_id": list(kept),
        "status": [record["status"] for record in kept.values()],
        "stickers": [record["stickers"] for record in kept.values()],
    }

    def keep(outcome: Outcome) -> None:
        outcome.reason = plan.asks.get(outcome.video_id)
        writer.write(outcome)
        asked["video_id"].append(outcome.video_id)
        asked["status"].append(outcome.status)
        asked["stickers"].append(sticker_count(outcome.response) if outcome.status == "answered" else 0)

    queues: list[Iterable[tuple[str, str]]]
    if isinstance(clients, VodClient):
        only = clients
        clients = {only.region or region: only for _, region in todo}
        queues = [((only.region or region, video_id) for video_id, region in todo)]
    elif len({id(client.limiter) for client in clients.values()}) == 1:  # one budget: one queue, by need
        queues = [by_need([v for v, _ in todo], [r for _, r in todo])]
    else:  # a budget each: a queue each
        queues = [[(region, v) for v, r in todo if r == region] for region in clients]
    try:
        summary = fetch_all(clients, queues, total=len(todo), concurrency=concurrency, on_outcome=keep, on_progress=on_progress)
    except BaseException as err:
        writer.close()  # keeps what arrived; the day stays unfinished and the next fetch resumes it
        if isinstance(err, FatalVodError) and err.summary is not None:
            err.summary.carry_over(kept)
        raise
    summary.carry_over(kept)
    lease.check()

    # The summary and the state are written before the answers are put into place (the day's commit point),
    # so a finished day always has them: killed in between, the day is unfinished and the next fetch writes
    # them again.
    state, summary.unannounced = refresh.day_state(day, videos, plan, pd.DataFrame(asked))
    carried = pc.equal(state["status"], CARRIED)
    summary.carried, summary.carried_stickers = (
        int(pc.sum(carried).as_py() or 0),
        int(pc.sum(state["stickers"].filter(carried)).as_py() or 0),
    )

    def keep_summary() -> None:
        write_state(layout.day_state(day), state)
        write_json(layout.fetch_summary(day), dataclasses.asdict(summary))

    writer.commit([video_id for video_id in ids if video_id in plan.asks], before_commit=keep_summary)
    return summary


@dataclass
class DayReport:
    """What normalization made of a day, and what its audit made of that."""

    stickers: int = 0
    quarantined: int = 0
    videos: dict[str, int] = field(default_factory=dict)
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    preview: pd.DataFrame | None = None
    audit: quality.Audit | None = None

    @property
    def committed(self) -> bool:
        return self.audit is not None and self.audit.committed


def normalize_day(
    layout: Layout,
    day: dt.date,
    *,
    url_validity_s: int = DEFAULT_URL_VALIDITY_S,
    chunk_rows: int = CHUNK_ROWS,
    run_id: str | None = None,
) -> DayReport:
    """Types the day's raw answers into the stickers, quarantine, video_fetches and events partitions, audits
    them (``quality.audit``, the blocking checks) and commits them into the lake together only if every
    check passed (holding the day's lease: ``store.lease``). A day that failed is held in staging, and the
    lake keeps its previous version of the day; ``report.audit`` says which."""
    answers = layout.answers(day)
    if not answers.exists():
        raise ConfigurationError(f"No finished answers for {day} at {answers}: materialize sticker_responses for that day first")
    report = DayReport(videos=collections.Counter())
    with (
        DayLease(layout, day, run_id=run_id) as lease,
        Normalizer(day, url_validity_s=url_validity_s) as normalizer,
        lake.DayWriter(layout, day, DAY_TABLES) as out,
    ):
        # The fetch the day is typed from goes into the lake with it: what the lake says of a day's fetch is
        # what its rows were made of, whatever happens to raw/ later.
        out["video_fetches"].describe(lake.FETCH_SUMMARY_KEY, json.dumps(dataclasses.asdict(fetch_summary(layout, day))))
        plan = refresh.read_plan(layout, day, asks=False) if layout.plan(day).exists() else None
        out["events"].write(type_events(layout.day_events(day), day, plan.run_id if plan else None))
        carried = _carried(layout, day, plan, normalizer, chunk_rows)  # first: an asked answer repeating a carried id is the repeat
        for chunk in itertools.chain(carried, normalizer.normalize_file(answers, chunk_rows=chunk_rows)):
            out["stickers"].write(chunk.stickers)
            out["quarantine"].write(chunk.quarantine)
            out["video_fetches"].write(chunk.video_fetches)
            report.videos.update(chunk.video_fetches["status"].to_pylist())
            report.reasons.update(_reason_kinds(chunk.quarantine["reason"].to_pandas()))
            if report.preview is None or report.preview.empty:
                report.preview = chunk.stickers.slice(0, 10).to_pandas().astype(pandas_dtypes(STICKERS))
        staged = out.stage()
        report.audit = quality.Audit(
            day=day.isoformat(), checks=quality.audit(lake.DayFiles(day, staged)), run_id=run_id, audited_at=utc_now_iso()
        )
        lease.check()
        if report.audit.passed:
            rows = out.commit(with_staged=("videos",))  # the day's discovery, published with the day
            report.audit.committed = True
        else:
            rows = {table: out[table].rows for table in DAY_TABLES}
            report.audit.held = {table: str(path) for table, path in out.hold().items()}
        write_json(layout.audit(day), report.audit.to_json())
    report.stickers, report.quarantined = rows["stickers"], rows["quarantine"]
    report.videos = dict(report.videos)
    return report


def _carried(layout: Layout, day: dt.date, plan: refresh.Plan | None, normalizer: Normalizer, chunk_rows: int) -> Iterator[Chunk]:
    """The rows of the videos the day carried (``normalize.carry``); none for a day fetched before states were
    kept, whose answer file holds its carried videos itself."""
    if not layout.day_state(day).exists():
        return iter(())
    carried = read_state(layout.day_state(day), status=CARRIED)
    if carried.empty:
        return iter(())
    previous = dt.date.fromisoformat(plan.previous_day) if plan is not None and plan.previous_day else None
    return carried_chunks(layout, day, previous, carried, normalizer, chunk_rows=chunk_rows)


def day_audit(layout: Layout, day: dt.date) -> quality.Audit:
    """The audit of the day's last normalization; for a day normalized before audits were kept, the blocking
    checks run on the lake's version of it."""
    if (kept := quality.Audit.read(layout.audit(day))) is not None:
        return kept
    files = lake.committed(layout, day, DAY_TABLES)
    return quality.Audit(day=day.isoformat(), checks=quality.audit(files), committed=True)


def staged_days(layout: Layout) -> list[StagedDay]:
    """Every account's days with files under staging/, oldest first: held after failing their audit (with
    the checks they failed), or a day's discovered videos waiting for the day's audit."""
    staged = []
    for (account_name, day), files in lake.staged_days(layout).items():
        own = layout.of_account(None if account_name == DEFAULT_ACCOUNT else account_name)
        audit = quality.Audit.read(own.audit(day))
        rows = {table: lake.DayFiles(day, files).parquet(table).metadata.num_rows for table in files}
        held = audit is not None and not audit.committed and bool(set(files) & set(DAY_TABLES))
        staged.append(StagedDay(account=account_name, day=day, files=files, rows=rows, audit=audit if held else None))
    return staged


@dataclass
class StagedDay:
    """An account's day with files under staging/: ``held`` after failing its audit (``audit`` says what
    failed), else files waiting for the day's audit (the videos discovery wrote)."""

    account: str
    day: dt.date
    files: dict[str, Location]
    rows: dict[str, int]
    audit: quality.Audit | None

    @property
    def held(self) -> bool:
        return self.audit is not None


def fetch_summary(layout: Layout, day: dt.date) -> FetchSummary:
    """The summary of the day's finished fetch; rebuilt from its answers if it was lost (``raw.summary_of``)."""
    return day_summary(layout.fetch_summary(day), layout.answers(day), layout.day_state(day))


def _reason_kinds(reasons: pd.Series) -> list[str]:
    """Reasons without the quoted values, to count them by kind."""
    return reasons.str.split("; ").explode().str.replace(r"'[^']*'", "…", regex=True).dropna().tolist()
