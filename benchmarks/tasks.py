"""One benchmark measurement per process: ``python -m benchmarks.tasks NAME '{"arg": ...}'`` prints a
JSON object of figures, with the process's own CPU seconds and peak resident memory added."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import data
from benchmarks.serve import KEY_ID, KEY_SECRET, account_keys, service

TASKS: dict[str, Callable[..., dict[str, Any]]] = {}


def task(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    TASKS[fn.__name__] = fn
    return fn


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@task
def prepare_raw(rows: int) -> dict[str, Any]:
    """Makes (once) the raw answers the normalize benchmarks read."""
    return {"stickers": data.stickers_in(data.raw_day(rows=rows))}


@task
def prepare_lake(videos: int, days: int) -> dict[str, Any]:
    """Makes (once) the lake the publish benchmarks read."""
    data.lake_of_days(videos, days)
    return {}


# --- fetch ----------------------------------------------------------------------------------------------


def _service_config(
    videos: int, limit: float | None, latency_ms: float, sigma: float, flow_control: str = "token_bucket"
) -> dict[str, Any]:
    return {
        "catalog_size": videos,
        "calls_per_second": limit,
        "flow_control": flow_control,
        "latency_ms": latency_ms,
        "latency_sigma": sigma,
    }


@task
def fetch_pipeline(
    videos: int,
    limit: float | None,
    latency_ms: float,
    sigma: float,
    client_rate: float,
    concurrency: int = 16,
    flow_control: str = "token_bucket",
) -> dict[str, Any]:
    """The pipeline's own fetch (``snapshot.fetch_day``: client, fan-out, raw answers on disk)."""
    from localvod import write_videos_csv
    from pipeline import snapshot
    from pipeline.store.layout import Layout
    from pipeline.vod.client import Credentials, VodClient

    config = _service_config(videos, limit, latency_ms, sigma, flow_control)
    with tempfile.TemporaryDirectory() as tmp, service(**config) as svc:
        layout = Layout(Path(tmp))
        write_videos_csv(layout.videos_csv, size=videos)
        snapshot.take_video_set(layout, data.DAY, today=data.DAY)
        client = VodClient(Credentials(KEY_ID, KEY_SECRET), endpoint=svc.endpoint, calls_per_second=client_rate, pool_size=concurrency)
        with client:
            cpu, wall = _cpu_s(), time.perf_counter()
            summary = snapshot.fetch_day(layout, data.DAY, client, concurrency=concurrency, today=data.DAY)
            wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    return {
        "calls": summary.calls,
        "answered": summary.answered,
        "failed": summary.failed,
        "throttled": svc.stats.get("throttled", 0),
        "seconds": wall,
        "calls_per_s": summary.calls / wall,
        "admitted_per_s": svc.stats.get("answered", 0) / wall,
        "client_cpu_s": cpu,
        "calls_per_cpu_s": summary.calls / cpu,
    }


@task
def fetch_sdk(videos: int, limit: float | None, latency_ms: float, sigma: float) -> dict[str, Any]:
    """The loop a user would write with the official SDK: one ListDynamicImageRequest after another."""
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkvod.request.v20170321.ListDynamicImageRequest import (
        ListDynamicImageRequest,
    )

    from localvod import catalog_ids

    with service(**_service_config(videos, limit, latency_ms, sigma)) as svc:
        host = svc.endpoint.split("://", 1)[1]
        client = AcsClient(KEY_ID, KEY_SECRET, "cn-shanghai")
        answered = failed = 0
        cpu, wall = _cpu_s(), time.perf_counter()
        for video_id in catalog_ids(7, videos):
            request = ListDynamicImageRequest()
            request.set_VideoId(video_id)
            request.set_endpoint(host)
            request.set_protocol_type("http")
            request.set_accept_format("JSON")
            try:
                json.loads(client.do_action_with_exception(request))
                answered += 1
            except ServerException:
                failed += 1
        wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    calls = svc.stats["requests"]
    return {
        "calls": calls,
        "answered": answered,
        "failed": failed,
        "throttled": svc.stats.get("throttled", 0),
        "seconds": wall,
        "calls_per_s": calls / wall,
        "client_cpu_s": cpu,
        "calls_per_cpu_s": calls / cpu,
    }


# --- normalize and write ----------------------------------------------------------------------------------


# --- an account of several regions -----------------------------------------------------------------------

ACCOUNT_REGIONS = ("cn-shanghai", "ap-southeast-1")


def _account_clients(endpoints: dict[str, str], limit: float, concurrency: int = 16):
    from pipeline.settings import VodSettings
    from pipeline.vod.client import Credentials

    settings = VodSettings(Credentials(KEY_ID, KEY_SECRET), endpoints=endpoints, calls_per_second=limit, concurrency=concurrency)
    return settings.clients()


@task
def discover_account(videos: int, latency_ms: float, sigma: float) -> dict[str, Any]:
    """A first (full) discovery of an account of ``videos`` videos split evenly over two regions that share
    the account's budgets (GetVideoList 100 calls/s), through ``snapshot.discover_video_set``."""
    from pipeline import snapshot
    from pipeline.store.layout import Layout

    per_region = videos // len(ACCOUNT_REGIONS)
    config = {
        "catalog_size": per_region,
        "latency_ms": latency_ms,
        "latency_sigma": sigma,
        "regions": list(ACCOUNT_REGIONS),
        "shared_limits": True,
    }
    with tempfile.TemporaryDirectory() as tmp, service(**config) as svc, _account_clients(svc.endpoints, 100.0) as clients:
        layout = Layout(Path(tmp))
        cpu, wall = _cpu_s(), time.perf_counter()
        found, summary = snapshot.discover_video_set(layout, data.DAY, clients, today=data.DAY)
        wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    throttled = sum(r["stats"]["actions"]["GetVideoList"]["throttled"] for r in svc.stats.values())
    return {"videos": len(found.ids), "calls": summary.calls, "throttled": throttled, "seconds": wall, "client_cpu_s": cpu}


@task
def fetch_regions(videos: int, share: float, limit: float, latency_ms: float, sigma: float) -> dict[str, Any]:
    """A day's fetch of ``videos`` videos in two regions (``share`` of them in the first) sharing the
    account's ListDynamicImage budget of ``limit`` calls/s."""
    from localvod import catalog_ids
    from pipeline import snapshot
    from pipeline.store.layout import Layout
    from pipeline.store.videos import write_video_set

    sizes = {ACCOUNT_REGIONS[0]: round(videos * share), ACCOUNT_REGIONS[1]: videos - round(videos * share)}
    config = {
        "catalog_size": max(sizes.values()),
        "calls_per_second": limit,
        "latency_ms": latency_ms,
        "latency_sigma": sigma,
        "regions": list(ACCOUNT_REGIONS),
        "shared_limits": True,
    }
    with tempfile.TemporaryDirectory() as tmp, service(**config) as svc, _account_clients(svc.endpoints, limit) as clients:
        layout = Layout(Path(tmp))
        pairs = [(v, r) for r, n in sizes.items() for v in catalog_ids(7, n, region=r)]
        write_video_set(layout.day_videos(data.DAY), [v for v, _ in pairs], [r for _, r in pairs])
        wall = time.perf_counter()
        summary = snapshot.fetch_day(layout, data.DAY, clients, concurrency=16, today=data.DAY)
        wall = time.perf_counter() - wall
    regions = svc.stats
    start = min(r["ListDynamicImage_first"] for r in regions.values())
    admitted = sum(r["stats"]["actions"]["ListDynamicImage"]["answered"] for r in regions.values())
    span = max(r["ListDynamicImage_last"] for r in regions.values()) - start
    return {
        "answered": summary.answered,
        "seconds": wall,
        "admitted_per_s": admitted / span,
        "throttled": sum(r["stats"]["actions"]["ListDynamicImage"]["throttled"] for r in regions.values()),
        **{f"{region}_videos": sizes[region] for region in ACCOUNT_REGIONS},
        **{f"{region}_done_s": regions[region]["ListDynamicImage_last"] - start for region in ACCOUNT_REGIONS},
    }


# --- several accounts at once ------------------------------------------------------------------------------


@contextlib.contextmanager
def _cpu_of(*functions: tuple[Any, str]) -> Iterator[list[float]]:
    """Adds up the CPU seconds the calling threads spend in each (class or module, name) while the block runs,
    in the list yielded (threads those functions start themselves are not counted)."""
    spent = [0.0]
    originals = [(owner, name, getattr(owner, name)) for owner, name in functions]

    def timed(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[0] += time.thread_time() - started

        return run

    for owner, name, original in originals:
        setattr(owner, name, timed(original))
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


@task
def fetch_accounts(accounts: int, videos: int, limit: float, latency_ms: float, sigma: float, concurrency: int = 16) -> dict[str, Any]:
    """``accounts`` accounts of one deployment (``VOD_ACCOUNTS_FILE``) fetched at once from this process, each
    a day of ``videos`` videos through ``snapshot.fetch_day`` with the clients of its own settings, into its
    own directory of one data directory, against its own limit of ``limit`` calls/s in one local service
    (serving every account side by side, in a process of its own)."""
    from concurrent.futures import ThreadPoolExecutor

    from localvod import catalog_ids
    from pipeline import refresh, settings, snapshot
    from pipeline.store.layout import Layout
    from pipeline.store.raw import AnswerWriter
    from pipeline.store.videos import write_video_set
    from pipeline.vod.regions import DEFAULT_REGION

    config = {**_service_config(videos, limit, latency_ms, sigma), "accounts": accounts}
    with tempfile.TemporaryDirectory() as tmp, service(**config) as svc:
        accounts_file, environ = Path(tmp) / "accounts.toml", {}
        lines = []
        for n, (key_id, secret) in enumerate(account_keys(accounts)):
            lines += [
                f"[accounts.a{n}]",
                f'access_key_id_env = "A{n}_KEY_ID"',
                f'access_key_secret_env = "A{n}_KEY_SECRET"',
                f'endpoints = {{ {DEFAULT_REGION} = "{svc.endpoint}" }}',
                f"calls_per_second = {limit}",
                f"concurrency = {concurrency}",
                "",
            ]
            environ |= {f"A{n}_KEY_ID": key_id, f"A{n}_KEY_SECRET": secret}
        accounts_file.write_text("\n".join(lines))
        environ["VOD_ACCOUNTS_FILE"] = str(accounts_file)
        root, days = Layout(Path(tmp) / "data"), []
        for n in range(accounts):
            layout = root.of_account(f"a{n}")
            ids = catalog_ids(7 + n, videos)  # the n-th account's catalog has seed 7 + n
            write_video_set(layout.day_videos(data.DAY), ids, [DEFAULT_REGION] * videos)
            days.append((layout, settings.vod_from_env(environ, account=f"a{n}")))

        def fetch(day: tuple[Layout, Any]) -> Any:
            layout, vod = day
            with vod.clients() as clients:
                return snapshot.fetch_day(layout, data.DAY, clients, concurrency=vod.concurrency, today=data.DAY)

        # The day's own work, not the client's: its plan, and its raw answers written and put in order.
        with _cpu_of((refresh, "plan_day"), (AnswerWriter, "write"), (AnswerWriter, "commit")) as day_work:
            cpu, wall = _cpu_s(), time.perf_counter()
            with ThreadPoolExecutor(accounts, thread_name_prefix="account") as pool:
                summaries = list(pool.map(fetch, days))
            wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    each = svc.stats["accounts"] if accounts > 1 else {"account-0": {"stats": svc.stats, **svc.stats["times"]}}
    admitted = {name: a["stats"]["actions"]["ListDynamicImage"]["answered"] for name, a in each.items()}
    spans = {name: a["ListDynamicImage_last"] - a["ListDynamicImage_first"] for name, a in each.items()}
    span = max(a["ListDynamicImage_last"] for a in each.values()) - min(a["ListDynamicImage_first"] for a in each.values())
    calls = sum(summary.calls for summary in summaries)
    client_cpu = cpu - day_work[0]
    return {
        "accounts": accounts,
        "calls": calls,
        "answered": sum(summary.answered for summary in summaries),
        "failed": sum(summary.failed for summary in summaries),
        "throttled": sum(a["stats"]["throttled"] for a in each.values()),
        "seconds": wall,
        "admitted_per_s": sum(admitted.values()) / span,
        "slowest_account_per_s": min((admitted[name] - 1) / spans[name] for name in each),
        "fastest_account_per_s": max((admitted[name] - 1) / spans[name] for name in each),
        "cpu_s_fetching": cpu,
        "client_cpu_s": client_cpu,
        "client_cpu_ms_per_call": client_cpu / calls * 1000,
        "day_work_cpu_ms_per_call": day_work[0] / calls * 1000,
        "service_cpu_s": svc.stats["cpu_s"],
        "service_cpu_ms_per_call": svc.stats["cpu_s"] / calls * 1000,
    }


@task
def refresh_week(
    videos: int,
    days: int,
    change_rate: float,
    loss_rate: float,
    every_days: int,
    calls_per_second: float,
    quiet_days: int | None = None,
    sticker_share: float = 0.8,
) -> dict[str, Any]:
    """``days`` days of a local account of ``videos`` videos in two regions (``sticker_share`` of them made
    with stickers) whose stickers change (``change_rate`` of the videos a day) and whose callbacks are partly
    lost, fetched by the refresh plan and compared each day with the account's truth (``simulation.simulate``)."""
    from pipeline import refresh
    from tests.support.simulation import as_dict, simulate

    with tempfile.TemporaryDirectory() as tmp:
        checks = [
            as_dict(check)
            for check in simulate(
                Path(tmp),
                videos_per_region=videos // 2,
                days=days,
                change_rate=change_rate,
                loss_rate=loss_rate,
                policy=refresh.RefreshPolicy(every_days=every_days, quiet_days=quiet_days),
                calls_per_second=calls_per_second,
                sticker_share=sticker_share,
            )
        ]
    return {"days": checks}


@task
def scale_stage(videos: int, stage: str) -> dict[str, Any]:
    """One stage of a day of an account of ``videos`` videos (``benchmarks.scale``), timed in this process:
    ``prepare`` makes day 1 (once) and normalizes it (the all-asked day: ``seconds``); the others run day 2's
    stages in order, each on what the one before left."""
    import pandas as pd

    from benchmarks import scale
    from pipeline import refresh, snapshot
    from pipeline.events.inbox import Inbox
    from pipeline.normalize import quality
    from pipeline.publish import report, warehouse
    from pipeline.store import lake
    from pipeline.store.raw import AnswerWriter, day_summary, write_state
    from pipeline.store.schema import DAY_TABLES
    from pipeline.store.videos import read_day_set
    from pipeline.vod.outcome import Outcome

    layout = scale.layout_of(videos)
    policy = refresh.RefreshPolicy(every_days=7, quiet_days=28)
    figures: dict[str, Any] = {"videos": videos, "stage": stage}
    started = time.perf_counter()
    if stage == "prepare":
        scale.prepare(videos)
        started = time.perf_counter()
        scale.lake_day_one(layout)
    elif stage == "discovery":
        from pipeline import account

        now = dt.datetime(2026, 3, 2, 2, tzinfo=dt.UTC)
        typist = account._Typist(now)
        for region, page in scale.discovery_pages(videos):
            typist.add(region, page)
        fresh = typist.frame()
        table = account._merge(fresh.copy(), fresh, set(), scale.NEXT, now)
        figures["rows"] = len(table)
    elif stage in ("plan", "plan_resumed"):
        with Inbox(layout.events_inbox) as inbox:
            plan = refresh.plan_day(layout, scale.NEXT, read_day_set(layout.day_videos(scale.NEXT), scale.REGIONS[0]), policy, inbox=inbox)
        figures["asked"] = len(plan.asks)
    elif stage == "carry":
        # The asked videos' answers, as the fetch would write them (day 1's, again): set aside untimed
        videos_set = read_day_set(layout.day_videos(scale.NEXT), scale.REGIONS[0])
        with Inbox(layout.events_inbox) as inbox:
            plan = refresh.plan_day(layout, scale.NEXT, videos_set, policy, inbox=inbox)
        # (kept as the bytes VOD would send, parsed as the fetch parses them: the parsed records would hold
        # more memory than the fetch ever does)
        answers = []
        with open(layout.answers(scale.DAY), "rb") as src:
            for line in src:
                if line[13:45].decode() in plan.asks:  # {"video_id":"<32 hex>"
                    answers.append(line)
        started = time.perf_counter()
        writer = AnswerWriter(layout.answers(scale.NEXT), layout.answers_in_progress(scale.NEXT))
        asked: dict[str, list[Any]] = {"video_id": [], "status": [], "stickers": []}
        for record in map(json.loads, answers):
            record["reason"] = plan.asks[record["video_id"]]
            writer.write(Outcome(**record))
            asked["video_id"].append(record["video_id"])
            asked["status"].append("answered")
            asked["stickers"].append(len(record["response"]["DynamicImageList"]))
        state, _ = refresh.day_state(scale.NEXT, videos_set, plan, pd.DataFrame(asked))
        writer.commit([v for v in videos_set.ids if v in plan.asks], before_commit=lambda: write_state(layout.day_state(scale.NEXT), state))
        figures["seconds"] = time.perf_counter() - started
        # The day's counts, as the fetch keeps them (rebuilt from its answers and state: untimed)
        summary = day_summary(layout.fetch_summary(scale.NEXT), layout.answers(scale.NEXT), layout.day_state(scale.NEXT))
        layout.fetch_summary(scale.NEXT).write_text(json.dumps(dataclasses.asdict(summary)), encoding="utf-8")
        carried = summary.carried
        figures["asked"], figures["carried"] = len(answers), carried
        return figures
    elif stage == "normalize":
        report_ = snapshot.normalize_day(layout, scale.NEXT)
        figures["stickers"], figures["committed"] = report_.stickers, report_.committed
    elif stage == "checks":
        checks = quality.audit(lake.committed(layout, scale.NEXT, DAY_TABLES))
        figures["passed"] = all(check.passed for check in checks.values())
    elif stage == "publish":
        figures["rows"] = warehouse.publish(layout)["stickers"]
    elif stage == "report":
        figures["bytes"] = report.render(layout, scale.NEXT).size_bytes
    else:
        raise ValueError(f"unknown stage {stage}")
    figures["seconds"] = time.perf_counter() - started
    return figures


# --- normalize --------------------------------------------------------------------------------------------


@task
def refresh_resume(videos: int, rounds: int) -> dict[str, Any]:
    """The day's refresh plan over ``videos`` videos (most answered the day before, some failed, some new),
    made new and then resumed (a fetch of the day interrupted and run again), ``rounds`` times each."""
    import hashlib

    import numpy as np
    import pandas as pd

    from pipeline import refresh
    from pipeline.store.layout import Layout
    from pipeline.store.raw import write_state
    from pipeline.store.videos import VideoSet

    day = data.DAY + dt.timedelta(days=1)
    ids = [hashlib.md5(str(n).encode()).hexdigest() for n in range(videos)]
    answered = ids[: videos * 5 // 6]
    made, resumed, asks = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp))
        layout.answers(data.DAY).parent.mkdir(parents=True, exist_ok=True)
        layout.answers(data.DAY).touch()  # the day is finished; the plan reads its state
        old = pd.Timestamp(data.DAY - dt.timedelta(days=2))
        failed = np.arange(len(answered)) % 50 == 0
        carried = np.arange(len(answered)) % 5 == 1
        write_state(
            layout.day_state(data.DAY),
            pd.DataFrame(
                {
                    "video_id": answered,
                    "region": "cn-shanghai",
                    "status": np.where(failed, "failed", np.where(carried, "carried", "answered")),
                    "answer": np.where(failed, None, "answered"),
                    "answered_on": np.where(failed, pd.NaT, np.where(carried, old, pd.Timestamp(data.DAY))),
                    "stickers": np.arange(len(answered), dtype="int32") % 4,
                }
            ).astype({"answered_on": "datetime64[ns]"}),
        )
        videos_set = VideoSet(ids=ids, regions=["cn-shanghai"] * videos)
        policy = refresh.RefreshPolicy(every_days=2)
        for _ in range(rounds):  # alternated, so a slow spell of the machine hits both
            for kept in (layout.plan(day), layout.plan_asks(day), layout.day_events(day)):
                kept.unlink(missing_ok=True)
            started = time.perf_counter()
            plan = refresh.plan_day(layout, day, videos_set, policy)
            made.append(time.perf_counter() - started)
            started = time.perf_counter()
            again = refresh.plan_day(layout, day, videos_set, policy)
            resumed.append(time.perf_counter() - started)
            if again.asks != plan.asks:
                raise AssertionError("the resumed plan asks other videos than the plan it resumed")
            asks = len(plan.asks)
    return {"videos": videos, "asks": asks, "made_s": made, "resumed_s": resumed}


@task
def normalize_pipeline(rows: int) -> dict[str, Any]:
    """The stickers asset's work: raw answers to the day's typed Parquet (stickers, quarantine, video_fetches)."""
    from pipeline import snapshot
    from pipeline.store.layout import Layout

    source = data.raw_day(rows=rows)
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp))
        layout.answers(data.DAY).parent.mkdir(parents=True)
        os.symlink(source.answers(data.DAY), layout.answers(data.DAY))
        os.symlink(source.fetch_summary(data.DAY), layout.fetch_summary(data.DAY))  # as a fetched day has
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wall = time.perf_counter()
        report = snapshot.normalize_day(layout, data.DAY)
        wall = time.perf_counter() - wall
    return {
        "rows": report.stickers + report.quarantined,
        "seconds": wall,
        "rows_per_s": (report.stickers + report.quarantined) / wall,
        "rss_before_mb": rss_before / 1024,
    }


NATIVE_SQL = """
COPY (
    WITH answers AS (
        SELECT request_id, fetched_at, unnest(response.DynamicImageList) AS i
        FROM read_json($answers, format = 'newline_delimited', columns = $columns)
        WHERE status = 'answered'
    )
    SELECT
        i.VideoId                                                   AS video_id,
        i.DynamicImageId                                            AS dynamic_image_id,
        i.JobId                                                     AS job_id,
        lower(i.Format)                                             AS format,
        strptime(i.CreationTime, '%Y-%m-%dT%H:%M:%SZ')::TIMESTAMPTZ AS creation_time,
        i.Duration::DOUBLE                                          AS duration_s,
        i.Fps::INTEGER                                              AS fps,
        i.Width::INTEGER                                            AS width,
        i.Height::INTEGER                                           AS height,
        i.FileSize::BIGINT                                          AS file_size_bytes,
        split_part(i.FileURL, '?', 1)                               AS file_url,
        to_timestamp(regexp_extract(i.FileURL, 'auth_key=(\\d+)-', 1)::BIGINT + 1800) AS url_expires_at,
        request_id,
        fetched_at::TIMESTAMPTZ                                     AS fetched_at
    FROM answers
) TO $target (FORMAT parquet, COMPRESSION zstd)
"""


def _native_columns() -> dict[str, str]:
    """Every raw field read as text, as VOD sends it, so DuckDB does the casting as the pipeline does."""
    from pipeline.vod.api import API_FIELDS

    item = ", ".join(f"{name} VARCHAR" for name in API_FIELDS)
    return {
        "status": "VARCHAR",
        "request_id": "VARCHAR",
        "fetched_at": "VARCHAR",
        "response": f"STRUCT(RequestId VARCHAR, DynamicImageList STRUCT({item})[])",
    }


@task
def normalize_duckdb(rows: int) -> dict[str, Any]:
    """DuckDB doing the same job natively: read the JSON lines, cast the fields, write Parquet."""
    import duckdb

    source = data.raw_day(rows=rows)
    with tempfile.TemporaryDirectory() as tmp:
        target = str(Path(tmp) / "stickers.parquet")
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            wall = time.perf_counter()
            con.execute(NATIVE_SQL, {"answers": str(source.answers(data.DAY)), "target": target, "columns": _native_columns()})
            wall = time.perf_counter() - wall
            written = con.execute("SELECT count(*) FROM read_parquet($t)", {"t": target}).fetchone()[0]
    return {"rows": written, "seconds": wall, "rows_per_s": written / wall}


# --- publish ------------------------------------------------------------------------------------------------


def _timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@task
def publish_pipeline(videos: int, days: int, repeat: int = 3) -> dict[str, Any]:
    """``warehouse.publish`` over ``days`` snapshots: the median of ``repeat`` publishes."""
    from pipeline.publish import warehouse

    layout = data.lake_of_days(videos, days)
    counts = warehouse.publish(layout)
    return {"days": days, "seconds": _timed(lambda: warehouse.publish(layout), repeat), "stickers": counts["stickers"]}


@task
def publish_copy(videos: int, days: int, repeat: int = 1) -> dict[str, Any]:
    """The previous design: every snapshot copied into a new DuckDB file on each publish."""
    from benchmarks.baselines import publish_by_copy

    layout = data.lake_of_days(videos, days)
    return {"days": days, "seconds": _timed(lambda: publish_by_copy(layout), repeat)}


# --- a year of days, queried as the dashboard does -------------------------------------------------------


def dashboard_queries() -> dict[str, str]:
    """Each chart's SQL as Superset sends it, by chart, with ``{since}`` and ``{until}`` to fill."""
    from benchmarks.dashboard import queries

    return queries()


def _disk_bytes(path: Path) -> int:
    """Bytes a file, or a folder's files, take on disk."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_blocks * 512 for p in files)


@task
def prepare_year(videos: int, days: int) -> dict[str, Any]:
    """Makes (once) the year of synthetic days the dashboard benchmark reads."""
    data.year_lake(videos, days)
    return {}


@task
def dashboard_year(videos: int, days: int, default_days: int, repeat: int) -> dict[str, Any]:
    """Publishes the warehouse over ``days`` synthetic days, then times each dashboard chart's query
    through it (a read-only connection per query, as a dashboard's pool without reuse) over the default
    range, the whole span and the newest day alone: seconds per run of each."""
    import datetime as dt
    import shutil

    from pipeline.publish import warehouse

    layout = data.year_lake(videos, days)
    summaries = layout.root / "summaries"
    shutil.rmtree(summaries, ignore_errors=True)
    publishes = {}
    start = time.perf_counter()
    counts = warehouse.publish(layout)  # every day summarized: once, the first publish over the year
    publishes["cold"] = time.perf_counter() - start
    for path in summaries.glob("*/snapshot_date=*/*.parquet"):  # as if the newest day had just been written
        if path.parent.name == max(p.name for p in summaries.glob("*/snapshot_date=*")):
            path.unlink()
    start = time.perf_counter()
    warehouse.publish(layout)
    publishes["new_day"] = time.perf_counter() - start
    publishes["unchanged"] = _timed(lambda: warehouse.publish(layout), 3)
    newest = data.YEAR_START + dt.timedelta(days=days - 1)
    until = (newest + dt.timedelta(days=1)).isoformat()
    ranges = {
        "default": (newest - dt.timedelta(days=default_days - 1)).isoformat(),
        "year": data.YEAR_START.isoformat(),
        "day": newest.isoformat(),
    }
    times: dict[str, dict[str, list[float]]] = {}
    answers: dict[str, dict[str, int]] = {}
    for chart, text in dashboard_queries().items():
        times[chart], answers[chart] = {}, {}
        for name, since in ranges.items():
            query = text.format(since=since, until=until)
            runs = []
            for n in range(repeat + 1):  # the first run warms the operating system's file cache, not counted
                begin = time.perf_counter()
                with warehouse.connect(layout.warehouse) as con:
                    rows = con.execute(query).fetchall()
                took = time.perf_counter() - begin
                if n:
                    runs.append(took)
                if took > 20 and len(runs) >= 2:  # a query this slow says enough in three runs
                    break
            times[chart][name] = runs
            answers[chart][name] = len(rows)
    return {
        "stickers": counts["stickers"],
        "publish_s": publishes,
        "lake_bytes": _disk_bytes(layout.lake_root),
        "summaries_bytes": _disk_bytes(summaries),
        "warehouse_bytes": _disk_bytes(Path(layout.warehouse)),
        "times": times,
        "rows": answers,
    }


# --- the data directory on an object store -------------------------------------------------------------------


def _store_layout(store: dict[str, str] | None, name: str) -> tuple[Any, Any]:
    """A fresh data directory: a temporary folder, or a prefix of the bucket of ``store`` (a LocalS3's env
    plus ``bucket``); returns it and its cleanup."""
    from pipeline import settings
    from pipeline.store import objects
    from pipeline.store.layout import Layout

    if store is None:
        folder = tempfile.TemporaryDirectory()
        return Layout(Path(folder.name)), folder.cleanup
    root = objects.location(f"s3://{store['bucket']}/{name}-{os.getpid()}", settings.store_from_env({**os.environ, **store}))
    return Layout(root), lambda: root.fs.rm(root.path, recursive=True)


@task
def normalize_to(rows: int, store: dict[str, str] | None = None, repeat: int = 3, server_pid: int | None = None) -> dict[str, Any]:
    """The stickers asset's work on a day of ``rows`` rows, its answers and lake on disk or on the store:
    the median of ``repeat`` runs."""
    import shutil

    from pipeline import snapshot
    from pipeline.store import objects

    source = data.raw_day(rows=rows)
    layout, cleanup = _store_layout(store, "normalize")
    try:
        # Copied in a streaming way, so the process's peak memory is normalization's, not the copy's
        if store is None:
            layout.answers(data.DAY).parent.mkdir(parents=True)
            shutil.copyfile(source.answers(data.DAY), layout.answers(data.DAY))
        else:
            objects.upload(source.answers(data.DAY), layout.answers(data.DAY))
        layout.fetch_summary(data.DAY).write_bytes(source.fetch_summary(data.DAY).read_bytes())  # as a fetched day has
        server, own = (_tree_cpu_s(server_pid) if server_pid else 0.0), _cpu_s()
        seconds = _timed(lambda: snapshot.normalize_day(layout, data.DAY), repeat)
        server, own = ((_tree_cpu_s(server_pid) - server) / repeat if server_pid else 0.0), (_cpu_s() - own) / repeat
    finally:
        cleanup()
    return {"rows": rows, "seconds": seconds, "server_cpu_s": server, "own_cpu_s": own}


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (whole seconds, as ps counts them)."""
    out = subprocess.run(["ps", "-o", "times=", "-p", str(pid), "--ppid", str(pid)], capture_output=True, text=True).stdout
    return float(sum(int(value) for value in out.split()))


@task
def publish_to(videos: int, days: int, store: dict[str, str] | None = None, repeat: int = 3) -> dict[str, Any]:
    """``warehouse.publish`` over ``days`` snapshots on disk or on the store: the median of ``repeat``."""
    from pipeline.publish import warehouse
    from pipeline.store import objects

    source = data.lake_of_days(videos, days)
    layout, cleanup = _store_layout(store, "publish")
    try:
        for path in sorted(source.root.rglob("*")):
            if path.is_file() and "lake/.tmp" not in path.as_posix():
                target = layout.root / path.relative_to(source.root).as_posix()
                if objects.is_remote(target):
                    objects.upload(path, target)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(path, target)
        seconds = _timed(lambda: warehouse.publish(layout), repeat)
    finally:
        cleanup()
    return {"days": days, "seconds": seconds}


# --- end to end ------------------------------------------------------------------------------------------------


@task
def end_to_end(videos: int, limit: float, latency_ms: float, sigma: float) -> dict[str, Any]:
    """A whole day through Dagster (videos, sticker_responses, stickers with its checks, warehouse)."""
    import dagster as dg

    from localvod import write_videos_csv
    from pipeline import snapshot

    with tempfile.TemporaryDirectory() as tmp, service(**_service_config(videos, limit, latency_ms, sigma)) as svc:
        root = Path(tmp)
        write_videos_csv(root / "data" / "videos.csv", size=videos)
        os.environ.update(
            ALIBABA_CLOUD_ACCESS_KEY_ID=KEY_ID,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=KEY_SECRET,
            VOD_ENDPOINT=svc.endpoint,
            VOD_CALLS_PER_SECOND=str(limit),
            PIPELINE_DATA_DIR=str(root / "data"),
        )
        started = time.perf_counter()
        from pipeline.definitions import defs

        job = defs().resolve_job_def("daily_snapshot")
        (root / "home").mkdir()
        with dg.DagsterInstance.local_temp(str(root / "home")) as instance:
            run_started = time.perf_counter()
            result = job.execute_in_process(partition_key=snapshot.utc_today().isoformat(), instance=instance)
            run_s = time.perf_counter() - run_started
        total_s = time.perf_counter() - started
        fetch = next(
            e.event_specific_data.materialization.metadata
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.to_user_string() == "sticker_responses"
        )
    return {
        "success": result.success,
        "seconds": total_s,
        "run_seconds": run_s,
        "fetch_seconds": fetch["seconds"].value,
        "throttled": svc.stats.get("throttled", 0),
    }


@task
def celery_day(videos: int, limit: float, latency_ms: float, sigma: float, workers: int) -> dict[str, Any]:
    """The same day through `dg launch` twice, on one Dagster instance in PostgreSQL: in process, then on
    ``workers`` Celery workers with a Redis broker (tests/local_celery.py); each into a data directory of its own."""
    import dagster as dg

    from localvod import write_videos_csv
    from pipeline import snapshot
    from tests import local_celery

    day = snapshot.utc_today().isoformat()
    with tempfile.TemporaryDirectory() as tmp, service(**_service_config(videos, limit, latency_ms, sigma)) as svc:
        root = Path(tmp)
        dirs = {executor: root / executor / "data" for executor in ("in_process", "celery")}
        for folder in dirs.values():
            write_videos_csv(folder / "videos.csv", size=videos)
        env = {
            **os.environ,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
            "VOD_ENDPOINT": svc.endpoint,
            "VOD_CALLS_PER_SECOND": str(limit),
            "PIPELINE_DATA_DIR": str(dirs["celery"]),
        }
        started = time.perf_counter()
        with local_celery.deployment(root / "deployment", env, workers=workers) as deployment:
            up_s = time.perf_counter() - started
            seconds = {}
            for executor, folder in dirs.items():
                run_env = {**deployment.env, "PIPELINE_EXECUTOR": executor, "PIPELINE_DATA_DIR": str(folder)}
                started = time.perf_counter()
                launched = local_celery.launch_day(run_env, day)
                seconds[executor] = time.perf_counter() - started
                if launched.returncode != 0:
                    raise RuntimeError(f"the {executor} run failed:\n{launched.stdout[-3000:]}{launched.stderr[-3000:]}")
            os.environ.update({k: v for k, v in deployment.env.items() if k.startswith("DAGSTER_PG_")})
            with dg.DagsterInstance.from_config(str(deployment.home)) as instance:
                celery_run = instance.get_runs(limit=1)[0]
                steps: dict[str, int] = {}
                for record in instance.all_logs(celery_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                    worker = record.dagster_event.event_specific_data.metadata.get("Celery worker")
                    if worker is not None:
                        name = worker.value.partition("@")[0]
                        steps[name] = steps.get(name, 0) + 1
                succeeded = all(run.status == dg.DagsterRunStatus.SUCCESS for run in instance.get_runs(limit=2))
    return {
        "success": succeeded,
        "in_process_seconds": seconds["in_process"],
        "celery_seconds": seconds["celery"],
        "deployment_up_seconds": up_s,
        "steps_by_worker": steps,
    }


@task
def receiver_siege(hostile: int, callbacks: int) -> dict[str, Any]:
    """``vod-stickers events`` in a process of its own, signed callbacks sent to it one connection each (as VOD
    sends them): first alone, then with ``hostile`` slow and hostile connections held open. Its peak memory,
    each callback's time to its 200, and what reached its inbox."""
    import requests

    from benchmarks.siege import Crowd
    from pipeline.events.callbacks import callback_signature
    from pipeline.events.inbox import Inbox

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    url, key = "https://events.example.com/vod/events", "bench-callback-auth-key"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PIPELINE_DATA_DIR": tmp, "VOD_CALLBACK_URL": url, "VOD_CALLBACK_KEYS": key, "VOD_ACCOUNTS_FILE": ""}
        receiver = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "events", "--host", "127.0.0.1", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            endpoint = re.search(r"http://[\d.]+:\d+", receiver.stdout.readline()).group(0)
            host, port = endpoint.removeprefix("http://").split(":")
            sent = itertools.count()

            def signed_callbacks() -> list[float]:
                seconds = []
                for _ in range(callbacks):
                    n = next(sent)
                    stamp = str(int(time.time()))
                    body = {
                        "EventType": "DynamicImageComplete",
                        "EventTime": "2026-12-05T00:00:00Z",
                        "VideoId": f"v{n:06d}",
                        "Status": "success",
                        "JobId": f"job{n:06d}",
                    }
                    started = time.perf_counter()
                    answer = requests.post(
                        endpoint + "/vod/events",
                        json=body,
                        timeout=10,
                        headers={"X-VOD-TIMESTAMP": stamp, "X-VOD-SIGNATURE": callback_signature(url, stamp, key), "Connection": "close"},
                    )
                    seconds.append(time.perf_counter() - started if answer.status_code == 200 else float("inf"))
                return seconds

            alone = signed_callbacks()
            idle = _rss_mb(receiver.pid)
            with Crowd(host, int(port), hostile) as crowd:
                time.sleep(2)  # the crowd at its size, its slow bodies trickling
                besieged = signed_callbacks()
                held = crowd.open
                rss = _rss_mb(receiver.pid)
            reconnects = crowd.reconnects
        finally:
            receiver.send_signal(signal.SIGINT)
            try:
                receiver.wait(timeout=30)
            except subprocess.TimeoutExpired:  # still draining the crowd's connections: its figures are taken
                receiver.kill()
                receiver.wait()
        with Inbox(Path(tmp) / "events" / "inbox.sqlite") as inbox:
            kept, rejected = len(inbox), len(inbox.rejected())

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000

    return {
        "hostile_open": held,
        "hostile_reconnects": reconnects,
        "callbacks": 2 * callbacks,
        "alone_p50_ms": pct(alone, 0.5),
        "alone_p99_ms": pct(alone, 0.99),
        "besieged_p50_ms": pct(besieged, 0.5),
        "besieged_p99_ms": pct(besieged, 0.99),
        "besieged_max_ms": max(besieged) * 1000,
        "receiver_idle_rss_mb": idle["VmRSS"],
        "receiver_rss_mb": rss["VmRSS"],
        "receiver_peak_rss_mb": rss["VmHWM"],
        "kept": kept,
        "rejected": rejected,
    }


def _rss_mb(pid: int) -> dict[str, float]:
    """A process's resident memory now and at its peak (Linux), in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def warm(megabytes: int) -> float:
    """Touches ``megabytes`` of memory and frees it into the process's heap, where it stays (``run.WARM_ENV``);
    returns the seconds it took. This machine is a virtual one that hands the memory a process frees back to
    its host within seconds, and a page's first touch after that costs about 7 ms a megabyte (150 MB/s,
    against some 5 GB/s once touched): a stage that allocates 1 GB would spend some 7 s of its time there,
    more at each larger size, whatever its code does."""
    import numpy as np

    started = time.perf_counter()
    block = np.ones(megabytes << 20, dtype=np.uint8)
    del block
    return time.perf_counter() - started


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    warmed = warm(int(os.environ["BENCH_WARM_MB"])) if os.environ.get("BENCH_WARM_MB") else None
    figures = TASKS[name](**args)
    if warmed is not None:
        figures["warm_s"] = warmed
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["cpu_s"] = usage.ru_utime + usage.ru_stime
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
