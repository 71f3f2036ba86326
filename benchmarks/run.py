"""``make bench``: every benchmark against the local VOD service, one table, written to docs/benchmarks.md.

Each measurement runs in a process of its own (figures and peak memory are per benchmark); the local
VOD service runs in yet another, so its CPU is never counted as the client's. Benchmarks print figures:
they never fail on timing.

    python -m benchmarks.run                  # the documented sizes (about 12 minutes on 2 cores; the
                                              # first run also makes the year of days, 2.5 GB, in 3 minutes)
    python -m benchmarks.run --quick          # small sizes, for iterating (about two minutes)
    python -m benchmarks.run --only fetch,publish --no-docs
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
YEAR_BEGIN, YEAR_END = "<!-- bench-year:begin -->", "<!-- bench-year:end -->"  # `--only year` alone

REALISTIC = {"latency_ms": 50.0, "sigma": 0.6}  # lognormal: median 50 ms, p99 about 200 ms, p99.9 about 320 ms

# A week of a changing account (section 8): 2 % of its videos change a day, 1 % of the callbacks are lost
REFRESH_WEEK = {
    "videos": 100_000,
    "days": 7,
    "change_rate": 0.02,
    "loss_rate": 0.01,
    "every_days": 7,
    "quiet_days": 28,
    "sticker_share": 0.3,
    "calls_per_second": 3000.0,
}

FULL = {
    "fetch": {"videos": 2000, "sdk_videos": 2000, "limit": 100.0},
    "ceiling": {"calls": 6000, "sdk_calls": 2000},
    "normalize": {"rows": 1_000_000, "small_rows": 250_000},
    "publish": {"videos": 100_000, "days": [1, 10, 30], "copy_days": [1, 10, 30]},
    "e2e": {"videos": 10_000, "limit": 100.0},
    "flow": {"videos": 6000, "limit": 100.0},  # a minute of fetching against each flow-control algorithm
    "account": {"videos": 100_000, "fetch_videos": 4000, "share": 0.7, "limit": 100.0},
    "refresh": REFRESH_WEEK,
    "store": {"rows": 1_000_000, "videos": 100_000, "days": 10, "rounds": 3},
    "celery": {"videos": 3000, "limit": 100.0, "workers": 2},
    "accounts": {"accounts": 8, "videos": 2500, "alone_videos": 1000, "limit": 100.0},  # about 26 s, then 10 s alone
    "resume": {"videos": 1_000_000, "rounds": 3},
    "receiver": {"hostile": 500, "callbacks": 300},
    "year": {"videos": 100_000, "days": 365, "default_days": 90, "repeat": 20},  # the year is made once (a few minutes, 2.5 GB)
    "scale": {"sizes": [100_000, 300_000, 1_000_000]},  # day 1 of each size is made once (1M: about 1.3 GB of answers)
}
QUICK = {
    "fetch": {"videos": 300, "sdk_videos": 100, "limit": 100.0},
    "ceiling": {"calls": 1000, "sdk_calls": 300},
    "normalize": {"rows": 200_000, "small_rows": 50_000},
    "publish": {"videos": 10_000, "days": [1, 5], "copy_days": [1, 5]},
    "e2e": {"videos": 1000, "limit": 100.0},
    "flow": {"videos": 1500, "limit": 100.0},
    "account": {"videos": 10_000, "fetch_videos": 1000, "share": 0.7, "limit": 100.0},
    "refresh": {**REFRESH_WEEK, "videos": 10_000},
    "store": {"rows": 200_000, "videos": 10_000, "days": 5, "rounds": 2},
    "celery": {"videos": 300, "limit": 100.0, "workers": 2},
    "accounts": {"accounts": 8, "videos": 400, "alone_videos": 200, "limit": 100.0},
    "resume": {"videos": 100_000, "rounds": 2},
    "receiver": {"hostile": 500, "callbacks": 50},
    "year": {"videos": 5000, "days": 60, "default_days": 30, "repeat": 5},
    "scale": {"sizes": [20_000, 60_000, 200_000]},
}
FLOW_CONTROLS = {"token_bucket": "token bucket", "sliding_window": "sliding window", "fixed_window": "fixed window"}


@dataclass
class Row:
    benchmark: str
    figure: str
    baseline: str
    ratio: str
    goal: str
    met: str = ""


# What a process warmed for timing keeps of the memory it frees: glibc's heap only (no mmap of large
# blocks, no trim), with Arrow's allocations made there too (not in mimalloc's own arenas).
WARM_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 40), "ARROW_DEFAULT_MEMORY_POOL": "system"}


def measure(name: str, *, warm_mb: int = 0, **args: Any) -> dict[str, Any]:
    """Runs one task in a fresh process and returns its figures. With ``warm_mb``, the process first touches
    that much memory and keeps it (``WARM_ENV``), so that its time is the code's and not the machine's
    first touch of memory (``benchmarks.tasks.warm``); its peak memory is then at least ``warm_mb``, and
    is not the task's."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.tasks", name, json.dumps(args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **WARM_ENV, "BENCH_WARM_MB": str(warm_mb)} if warm_mb else None,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark task {name} failed:\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {name} {args}: " + ", ".join(f"{k}={_short(v)}" for k, v in figures.items()), file=sys.stderr, flush=True)
    return figures


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def bench_fetch(size: dict[str, Any]) -> list[Row]:
    limit = size["limit"]
    ours = measure("fetch_pipeline", videos=size["videos"], limit=limit, client_rate=limit, **REALISTIC)
    sdk = measure("fetch_sdk", videos=size["sdk_videos"], limit=limit, **REALISTIC)
    share, sdk_share = ours["calls_per_s"] / limit, sdk["calls_per_s"] / limit
    speedup = ours["calls_per_s"] / sdk["calls_per_s"]
    label = f"1. Fetch, {size['videos']:,} videos at {limit:g} calls/s"
    return [
        Row(
            label + ": share of the limit",
            f"{share:.3f} ({ours['calls_per_s']:.1f} calls/s)",
            f"{sdk_share:.3f} ({sdk['calls_per_s']:.1f} calls/s, official SDK loop)",
            f"{speedup:.1f}x",
            ">= 0.95 and >= 5x the SDK",
            _yes(share >= 0.95 and speedup >= 5),
        ),
        Row(label + ": throttled answers", str(ours["throttled"]), str(sdk["throttled"]), "", "0", _yes(ours["throttled"] == 0)),
        Row(
            label + ": total seconds",
            f"{ours['seconds']:.1f} s (floor {size['videos'] / limit:.0f} s)",
            f"{sdk['seconds']:.1f} s for {size['sdk_videos']:,} videos",
            "",
            "",
        ),
    ]


def bench_ceiling(size: dict[str, Any]) -> list[Row]:
    config = {"limit": None, "latency_ms": 5.0, "sigma": 0.5}
    ours = measure("fetch_pipeline", videos=size["calls"], client_rate=1e6, **config)
    sdk = measure("fetch_sdk", videos=size["sdk_calls"], **config)
    return [
        Row(
            "2. Client ceiling, no limit, 5 ms latency: calls/s per CPU core",
            f"{ours['calls_per_cpu_s']:.0f}",
            f"{sdk['calls_per_cpu_s']:.0f} (official SDK)",
            f"{ours['calls_per_cpu_s'] / sdk['calls_per_cpu_s']:.2f}x",
            "(shows overhead)",
        ),
        Row(
            "2. Client ceiling: calls/s on the wall clock, 16 workers",
            f"{ours['calls_per_s']:.0f}",
            f"{sdk['calls_per_s']:.0f} (SDK, one at a time)",
            f"{ours['calls_per_s'] / sdk['calls_per_s']:.1f}x",
            "",
        ),
    ]


def bench_normalize(size: dict[str, Any]) -> list[Row]:
    measure("prepare_raw", rows=size["rows"])
    measure("prepare_raw", rows=size["small_rows"])
    ours = measure("normalize_pipeline", rows=size["rows"])
    small = measure("normalize_pipeline", rows=size["small_rows"])
    native = measure("normalize_duckdb", rows=size["rows"])
    slower = ours["seconds"] / native["seconds"]
    label = f"3. Normalize and write, {ours['rows']:,} rows"
    growth = ours["peak_rss_mb"] / small["peak_rss_mb"]
    return [
        Row(
            label + ": rows/s",
            f"{ours['rows_per_s']:,.0f} ({ours['seconds']:.1f} s)",
            f"{native['rows_per_s']:,.0f} ({native['seconds']:.1f} s, DuckDB native)",
            f"{slower:.2f}x DuckDB's time",
            "<= 1.5x DuckDB's time",
            _yes(slower <= 1.5),
        ),
        Row(
            label + ": peak memory",
            f"{ours['peak_rss_mb']:.0f} MB",
            f"{native['peak_rss_mb']:.0f} MB (DuckDB)",
            "",
            "< 600 MB",
            _yes(ours["peak_rss_mb"] < 600),
        ),
        Row(
            f"3. Peak memory, {small['rows']:,} -> {ours['rows']:,} rows",
            f"{small['peak_rss_mb']:.0f} -> {ours['peak_rss_mb']:.0f} MB",
            "",
            f"{growth:.2f}x for {ours['rows'] / small['rows']:.0f}x the rows",
            "flat",
            _yes(growth < 1.25),
        ),
    ]


def bench_publish(size: dict[str, Any]) -> list[Row]:
    videos = size["videos"]
    for days in sorted(set(size["days"]) | set(size["copy_days"])):
        measure("prepare_lake", videos=videos, days=days)
    ours = {d: measure("publish_pipeline", videos=videos, days=d)["seconds"] for d in size["days"]}
    copy = {d: measure("publish_copy", videos=videos, days=d)["seconds"] for d in size["copy_days"]}
    most, fewest = max(ours), min(ours)
    growth = ours[most] / ours[fewest]
    copy_most = max(copy)
    label = f"4. Publish, {videos:,} videos a day"
    return [
        Row(
            label + f", {most} days kept: seconds",
            f"{ours[most]:.2f} s",
            f"{copy[copy_most]:.2f} s (copy every snapshot)",
            f"{copy[copy_most] / ours[copy_most if copy_most in ours else most]:.0f}x faster",
            "",
        ),
        Row(
            label + ": seconds by days kept",
            ", ".join(f"{d}: {s:.2f}" for d, s in ours.items()),
            ", ".join(f"{d}: {s:.2f}" for d, s in copy.items()),
            f"{growth:.2f}x from {fewest} to {most} days",
            "does not grow",
            _yes(growth < 1.5),
        ),
    ]


def bench_e2e(size: dict[str, Any]) -> list[Row]:
    videos, limit = size["videos"], size["limit"]
    floor = videos / limit
    run = measure("end_to_end", videos=videos, limit=limit, **REALISTIC)
    label = f"5. End to end through Dagster, {videos:,} videos at {limit:g} calls/s"
    return [
        Row(
            label + ": total / fetch floor",
            f"{run['seconds'] / floor:.3f} ({run['seconds']:.1f} s)",
            f"{floor:.0f} s (fetch floor)",
            f"{run['seconds'] / floor:.3f}",
            "<= 1.05",
            _yes(run["seconds"] / floor <= 1.05),
        ),
        Row(label + ": peak memory", f"{run['peak_rss_mb']:.0f} MB", "", "", ""),
    ]


def bench_flow(size: dict[str, Any]) -> list[Row]:
    videos, limit = size["videos"], size["limit"]
    rows = []
    for algorithm, name in FLOW_CONTROLS.items():
        run = measure("fetch_pipeline", videos=videos, limit=limit, client_rate=limit, flow_control=algorithm, **REALISTIC)
        share = run["admitted_per_s"] / limit
        per_minute = run["throttled"] / run["seconds"] * 60
        label = f"6. Flow control, {name}, {videos:,} videos at {limit:g} calls/s"
        rows += [
            Row(
                label + ": admitted calls/s against the limit",
                f"{share:.3f} ({run['admitted_per_s']:.1f} calls/s)",
                f"{limit:g} calls/s (the limit)",
                "",
                ">= 0.97",
                _yes(share >= 0.97),
            ),
            Row(
                label + ": throttled answers a minute",
                f"{per_minute:.2f} ({run['throttled']} in {run['seconds']:.1f} s)",
                "",
                "",
                "<= 1",
                _yes(per_minute <= 1),
            ),
        ]
    return rows


def bench_account(size: dict[str, Any]) -> list[Row]:
    videos, limit = size["videos"], size["limit"]
    walk = measure("discover_account", videos=videos, **REALISTIC)
    calls_floor, seconds_floor = videos / 100, videos / 100 / 100.0  # 100 videos a page, GetVideoList 100 calls/s
    label = f"7. Discovery, {videos:,} videos in 2 regions sharing GetVideoList's 100 calls/s"
    day = measure("fetch_regions", videos=size["fetch_videos"], share=size["share"], limit=limit, **REALISTIC)
    first, second = (f"{share:.0%}" for share in (size["share"], 1 - size["share"]))
    done = [day["cn-shanghai_done_s"], day["ap-southeast-1_done_s"]]
    idle = abs(done[0] - done[1]) / max(done)
    fetch = f"7. Fetch, {size['fetch_videos']:,} videos in 2 regions ({first} / {second}) sharing {limit:g} calls/s"
    return [
        Row(
            label + ": calls",
            f"{walk['calls']:,}",
            f"{calls_floor:,.0f} (one per 100 videos)",
            f"{walk['calls'] / calls_floor:.3f}",
            "<= 1.1",
            _yes(walk["calls"] / calls_floor <= 1.1),
        ),
        Row(
            label + ": seconds",
            f"{walk['seconds']:.1f} s ({walk['videos']:,} videos found)",
            f"{seconds_floor:.0f} s (calls floor / 100 calls/s)",
            f"{walk['seconds'] / seconds_floor:.3f}",
            "<= 1.1",
            _yes(walk["seconds"] / seconds_floor <= 1.1 and walk["videos"] == videos),
        ),
        Row(
            fetch + ": admitted calls/s against the budget",
            f"{day['admitted_per_s'] / limit:.3f} ({day['admitted_per_s']:.1f} calls/s)",
            f"{limit:g} calls/s (the shared budget)",
            "",
            ">= 0.95",
            _yes(day["admitted_per_s"] / limit >= 0.95),
        ),
        Row(
            fetch + ": when each region finished",
            f"{done[0]:.1f} s / {done[1]:.1f} s",
            "",
            f"{idle:.3f} of the run apart",
            "neither idle while the other has videos",
            _yes(idle <= 0.02),
        ),
    ]


def bench_refresh(size: dict[str, Any]) -> list[Row]:
    week = measure("refresh_week", **size)["days"]
    later = week[1:]  # the first day asks every video: with nothing answered yet, every video is new
    full = sum(d["videos"] for d in later)
    calls = sum(d["calls"] for d in later)
    k, q = size["every_days"], size["quiet_days"]
    share = f"{min(d['with_stickers'] / d['videos'] for d in week):.0%} to {max(d['with_stickers'] / d['videos'] for d in week):.0%}"
    label = (
        f"8. Refresh plan, {size['videos']:,} videos in 2 regions ({share} with stickers) over {size['days']} days, "
        f"{size['change_rate']:.0%} changing a day, {size['loss_rate']:.0%} of callbacks lost, K = {k}, quiet Q = {q}"
    )
    per_day = " / ".join(f"{d['calls'] / d['videos']:.3f}" for d in later)
    differ = [d["differing_share"] for d in later]
    announced = sum(d["announced_videos"] for d in later)
    wrong = sum(d["announced_wrong"] for d in later)
    oldest = max(d["oldest_row_days"] for d in week)
    oldest_bare = max(d["oldest_bare_days"] for d in week)
    within = all(d["stale_within_k"] and d["missing_within_k"] for d in later)
    arriving = all(d["events_state"] == "arriving" for d in later)
    return [
        Row(
            label + ": calls a day, days 2 to 7",
            f"{calls / len(later):,.0f} a day ({per_day})",
            f"{full / len(later):,.0f} a day (the full daily sweep: every video)",
            f"{calls / full:.3f}",
            "<= 0.10",
            _yes(calls / full <= 0.10),
        ),
        Row(
            label + ": videos with a delivered event, right that day",
            f"{announced - wrong:,} of {announced:,}",
            "",
            "",
            "all",
            _yes(wrong == 0 and announced > 0),
        ),
        Row(
            label + ": oldest answer in any snapshot, with stickers / without",
            f"{oldest} / {oldest_bare} days",
            f"K = {k} / Q = {q} days",
            "",
            "< K / < Q",
            _yes(oldest < k and oldest_bare < q),
        ),
        Row(
            label + ": snapshot rows differing from the truth",
            f"{min(differ):.3%} to {max(differ):.3%} of the rows a day",
            "",
            "",
            "every difference within its promise (deleted: K days; lost event: K, Q without stickers)",
            _yes(within and arriving),
        ),
    ]


def bench_store(size: dict[str, Any]) -> list[Row]:
    """The stickers asset's work and the warehouse's publication with the data directory on a local S3
    server (SeaweedFS, in its own process), beside the same work on local disk, measured in turn."""
    import tempfile

    from tests.support.seaweedfs import LocalS3

    with tempfile.TemporaryDirectory() as folder, LocalS3(Path(folder)) as s3:
        os.environ.update(s3.env())  # the tasks' processes inherit the keys, which so stay out of the log
        store = {"AWS_ENDPOINT_URL": s3.endpoint, "bucket": s3.create_bucket("bench")}
        measure("prepare_raw", rows=size["rows"])
        measure("prepare_lake", videos=size["videos"], days=size["days"])
        disk, remote, disk_mb, remote_mb, server_s, disk_cpu, remote_cpu = [], [], [], [], [], [], []
        for _ in range(size["rounds"]):  # alternated, so a slow spell of the machine hits both
            run = measure("normalize_to", rows=size["rows"])
            disk.append(run["seconds"])
            disk_mb.append(run["peak_rss_mb"])
            disk_cpu.append(run["own_cpu_s"])
            run = measure("normalize_to", rows=size["rows"], store=store, server_pid=s3.process.pid)
            server_s.append(run["server_cpu_s"])
            remote.append(run["seconds"])
            remote_mb.append(run["peak_rss_mb"])
            remote_cpu.append(run["own_cpu_s"])
        publish_disk = measure("publish_to", videos=size["videos"], days=size["days"])["seconds"]
        publish_remote = measure("publish_to", videos=size["videos"], days=size["days"], store=store)["seconds"]
    ratios = sorted(r / d for r, d in zip(remote, disk, strict=True))
    ratio = statistics.median(ratios)
    spread = f"{ratios[0]:.2f} / {ratio:.2f} / {ratios[-1]:.2f} (min / median / max of {len(ratios)})"
    label = "9. Data directory on a local S3 server (SeaweedFS)"
    return [
        Row(
            label + f": normalize and write {size['rows']:,} rows",
            f"{statistics.median(remote):.2f} s",
            f"{statistics.median(disk):.2f} s on local disk",
            spread,
            "<= 1.3x local disk",
            _yes(ratio <= 1.3),
        ),
        Row(
            label + f": normalize and write {size['rows']:,} rows, peak memory",
            f"{max(remote_mb):,.0f} MB",
            f"{max(disk_mb):,.0f} MB on local disk",
            f"{max(remote_mb) / max(disk_mb):.2f}x",
            "<= 1.2x local disk",
            _yes(max(remote_mb) <= 1.2 * max(disk_mb)),
        ),
        Row(
            label + ": the pipeline's own CPU a normalization",
            f"{statistics.median(remote_cpu):.2f} s",
            f"{statistics.median(disk_cpu):.2f} s on local disk",
            f"{statistics.median(remote_cpu) / statistics.median(disk_cpu):.2f}x",
            "",
        ),
        Row(
            label + ": the S3 server's CPU a normalization, on the same 2 cores",
            f"about {statistics.median(server_s):.1f} s",
            f"{statistics.median(disk):.2f} s, the normalization on local disk",
            "",
            "",
        ),
        Row(
            label + f": publish, {size['days']} days of {size['videos']:,} videos",
            f"{publish_remote:.2f} s",
            f"{publish_disk:.2f} s on local disk",
            f"{publish_remote / publish_disk:.2f}x",
            "<= 1.5x local disk",
            _yes(publish_remote / publish_disk <= 1.5),
        ),
    ]


def bench_celery(size: dict[str, Any]) -> list[Row]:
    videos, limit, workers = size["videos"], size["limit"], size["workers"]
    run = measure("celery_day", videos=videos, limit=limit, workers=workers, **REALISTIC)
    label = f"10. A day on the Celery executor, {workers} workers, Redis and PostgreSQL, {videos:,} videos at {limit:g} calls/s"
    overhead = run["celery_seconds"] - run["in_process_seconds"]
    steps = ", ".join(f"{name}: {n}" for name, n in sorted(run["steps_by_worker"].items()))
    return [
        Row(
            label + ": total seconds (`dg launch` to its exit)",
            f"{run['celery_seconds']:.1f} s",
            f"{run['in_process_seconds']:.1f} s (in process, same instance)",
            f"{run['celery_seconds'] / run['in_process_seconds']:.2f}x ({overhead:+.1f} s)",
            "(shows overhead)",
            "" if run["success"] else "**runs failed**",
        ),
        Row(
            label + ": steps by worker",
            steps,
            "",
            "",
            "both workers take steps",
            _yes(len(run["steps_by_worker"]) == workers and run["success"]),
        ),
        Row(
            label + ": deployment start (Redis, PostgreSQL, migrate, workers ready)",
            f"{run['deployment_up_seconds']:.1f} s",
            "",
            "",
            "(once, not per run)",
        ),
    ]


def bench_accounts(size: dict[str, Any]) -> list[Row]:
    n, videos, limit = size["accounts"], size["videos"], size["limit"]
    many = measure("fetch_accounts", accounts=n, videos=videos, limit=limit, **REALISTIC)
    alone = measure("fetch_accounts", accounts=1, videos=size["alone_videos"], limit=limit, **REALISTIC)
    total = n * limit
    share, alone_share = many["admitted_per_s"] / total, alone["admitted_per_s"] / limit
    ms, alone_ms = many["client_cpu_ms_per_call"], alone["client_cpu_ms_per_call"]
    label = f"11. Accounts of one deployment (VOD_ACCOUNTS_FILE), {n} fetched at once from one process, {videos:,} videos each, each at its own {limit:g} calls/s"
    return [
        Row(
            label + ": combined calls/s against the sum of the limits",
            f"{share:.3f} ({many['admitted_per_s']:.0f} of {total:g} calls/s)",
            f"{alone_share:.3f} ({alone['admitted_per_s']:.1f} calls/s, one account alone)",
            f"{share / alone_share:.3f}",
            ">= 0.95",
            _yes(share >= 0.95),
        ),
        Row(
            label + ": slowest / fastest account against its limit",
            f"{many['slowest_account_per_s'] / limit:.3f} / {many['fastest_account_per_s'] / limit:.3f}",
            "",
            "",
            "",
        ),
        Row(label + ": throttled answers", str(many["throttled"]), str(alone["throttled"]), "", "0", _yes(many["throttled"] == 0)),
        Row(
            label + ": client CPU per call (the process's, less the days' plans and raw answers)",
            f"{ms:.3f} ms ({many['client_cpu_s']:.1f} s for {many['calls']:,} calls; "
            f"the plans and raw answers {many['day_work_cpu_ms_per_call']:.3f} ms more)",
            f"{alone_ms:.3f} ms (one account alone)",
            f"{ms / alone_ms:.2f}x",
            "<= 0.6 ms",
            _yes(ms <= 0.6),
        ),
        Row(
            label + ": the local service's CPU per call, in its own process",
            f"{many['service_cpu_ms_per_call']:.3f} ms ({many['service_cpu_s'] / many['seconds']:.2f} of a core)",
            f"{alone['service_cpu_ms_per_call']:.3f} ms (one account alone)",
            "",
            "",
        ),
    ]


def bench_resume(size: dict[str, Any]) -> list[Row]:
    run = measure("refresh_resume", **size)
    ratios = sorted(r / m for r, m in zip(run["resumed_s"], run["made_s"], strict=True))
    ratio = statistics.median(ratios)
    spread = f"{ratios[0]:.2f} / {ratio:.2f} / {ratios[-1]:.2f} (min / median / max of {len(ratios)})"
    label = f"12. Refresh plan of {run['videos']:,} videos ({run['asks']:,} asked), resumed after an interruption"
    return [
        Row(
            label,
            f"{statistics.median(run['resumed_s']):.2f} s",
            f"{statistics.median(run['made_s']):.2f} s (the plan made new)",
            spread,
            "<= 2x",
            _yes(ratio <= 2),
        ),
    ]


def bench_receiver(size: dict[str, Any]) -> list[Row]:
    siege = measure("receiver_siege", **size)
    label = f"13. Events receiver, {siege['hostile_open']} slow or hostile connections open"
    within = siege["besieged_p99_ms"] <= 1000
    return [
        Row(
            label + ": signed callbacks' time to 200, p50 / p99 / max",
            f"{siege['besieged_p50_ms']:.0f} / {siege['besieged_p99_ms']:.0f} / {siege['besieged_max_ms']:.0f} ms",
            f"{siege['alone_p50_ms']:.0f} / {siege['alone_p99_ms']:.0f} ms (none open)",
            f"{siege['besieged_p99_ms'] / max(siege['alone_p99_ms'], 0.1):.1f}x p99",
            "p99 <= 1 s (VOD gives up at 5 s)",
            _yes(within),
        ),
        Row(
            label + ": the receiver's memory",
            f"{siege['receiver_peak_rss_mb']:.0f} MB peak",
            f"{siege['receiver_idle_rss_mb']:.0f} MB before ({siege['hostile_reconnects']:,} hostile requests turned away meanwhile)",
            f"+{siege['receiver_peak_rss_mb'] - siege['receiver_idle_rss_mb']:.0f} MB",
            "bounded: + at most 128 MB (256 KB a connection)",
            _yes(siege["receiver_peak_rss_mb"] - siege["receiver_idle_rss_mb"] <= 128),
        ),
        Row(
            label + ": what reached the inbox",
            f"{siege['kept']} events, {siege['rejected']} rejected",
            f"{siege['callbacks']} signed callbacks sent",
            "",
            "the signed ones only",
            _yes(siege["kept"] == siege["callbacks"] and siege["rejected"] == 0),
        ),
    ]


def _percentiles(runs: list[float]) -> tuple[float, float]:
    """p50 and p95 of a few runs (p95 by linear interpolation between the closest runs)."""
    ordered = sorted(runs)
    if len(ordered) == 1:
        return ordered[0], ordered[0]
    return statistics.median(ordered), statistics.quantiles(ordered, n=20, method="inclusive")[-1]


def bench_year(size: dict[str, Any]) -> list[Row]:
    measure("prepare_year", videos=size["videos"], days=size["days"])
    run = measure("dashboard_year", **size)
    days, default = size["days"], size["default_days"]
    goals = {"default": 1.0, "year": 3.0}
    spans = {"default": f"last {default} days", "year": f"all {days} days"}
    label = f"14. Dashboard over {days} days of {size['videos']:,} videos ({run['stickers']:,} sticker rows)"
    rows = [
        Row(
            label + ": disk",
            f"lake {run['lake_bytes'] / 2**30:.2f} GiB ({run['lake_bytes'] / days / 2**20:.1f} MiB a day), "
            f"summaries {run['summaries_bytes'] / 2**20:.0f} MiB, warehouse {run['warehouse_bytes'] / 2**20:.1f} MiB",
            "",
            "",
            "",
        ),
        Row(
            label + ": publish, the newest day new / nothing new",
            f"{run['publish_s']['new_day']:.2f} s / {run['publish_s']['unchanged']:.2f} s",
            f"{run['publish_s']['cold']:.1f} s (first publish: every day summarized)",
            "",
            "",
        ),
    ]
    for chart, by_range in run["times"].items():
        floor50, floor95 = _percentiles(by_range["day"])
        for name, goal in goals.items():
            p50, p95 = _percentiles(by_range[name])
            spread = f"min {min(by_range[name]):.3f}, max {max(by_range[name]):.3f}, {len(by_range[name])} runs"
            rows.append(
                Row(
                    f"{label}: {chart}, {spans[name]}: p50 / p95",
                    f"{p50:.3f} / {p95:.3f} s ({spread})",
                    f"{floor50:.3f} / {floor95:.3f} s (one day)",
                    f"{p95 / floor95:.1f}x",
                    f"p95 < {goal:g} s",
                    _yes(p95 < goal),
                )
            )
    return rows


SCALE_STAGES = {
    "discovery": "discovery typing (a full walk)",
    "plan": "refresh plan, made",
    "plan_resumed": "refresh plan, resumed",
    "carry": "the fetch's commit (the asked answers parsed, kept and put in the set's order; the day's state)",
    "normalize": "normalize and write (with the audit)",
    "checks": "checks (the blocking audit alone)",
    "publish": "publish (the warehouse, 2 days)",
    "report": "report",
}


SCALE_WARM_MB = 2048  # above every stage's peak at a million videos


def bench_scale(size: dict[str, Any]) -> list[Row]:
    """Each stage of a day at each size, in a process of its own: seconds, peak memory, growth exponent.
    Every size is run twice: as this machine runs it (its peak memory, and seconds that count the machine's
    first touch of memory), then with each process's memory warmed first (its seconds: the code's growth,
    which the exponent goal is about). ``BENCH_SCALE_SIZES`` (comma-separated) runs other sizes, such as
    ``1000000,10000000`` (10 GB of day 1 kept under benchmarks/.data, about 20 minutes)."""
    sizes = sorted({int(v) for v in os.environ.get("BENCH_SCALE_SIZES", "").split(",") if v.strip()}) or size["sizes"]
    if len(sizes) < 2:
        raise SystemExit(f"BENCH_SCALE_SIZES needs two sizes or more (the exponent is read between them), got {sizes}")
    stages = ("prepare", *SCALE_STAGES)
    cold: dict[str, dict[int, dict[str, Any]]] = {stage: {} for stage in stages}
    warm: dict[str, dict[int, dict[str, Any]]] = {stage: {} for stage in stages}
    for videos in sizes:
        for runs, warm_mb in ((cold, 0), (warm, SCALE_WARM_MB)):
            for stage in stages:  # in order, each on what the one before left; prepare starts the day anew
                runs[stage][videos] = measure("scale_stage", warm_mb=warm_mb, videos=videos, stage=stage)
    small, large = sizes[0], sizes[-1]

    def exponent(runs: dict[int, dict[str, Any]]) -> float:
        return math.log(runs[large]["seconds"] / runs[small]["seconds"]) / math.log(large / small)

    label = f"15. A day of an account at {' / '.join(f'{v:,}' for v in sizes)} videos (30% with stickers)"
    rows = []
    for stage, name in SCALE_STAGES.items():
        seconds = " / ".join(f"{warm[stage][v]['seconds']:.2f}" for v in sizes)
        memory = [cold[stage][v]["peak_rss_mb"] for v in sizes]
        rows.append(
            Row(
                f"{label}: {name}",
                f"{seconds} s warmed; " + " / ".join(f"{m:,.0f}" for m in memory) + " MB peak",
                " / ".join(f"{cold[stage][v]['seconds']:.2f}" for v in sizes) + f" s unwarmed (exponent {exponent(cold[stage]):.2f})",
                f"exponent {exponent(warm[stage]):.2f}",
                "exponent <= 1.1, peak < 2 GB",
                _yes(exponent(warm[stage]) <= 1.1 and memory[-1] < 2048),
            )
        )
    resumed = [runs["plan_resumed"][large]["seconds"] / runs["plan"][large]["seconds"] for runs in (warm, cold)]
    rows.append(
        Row(
            f"{label}: plan resumed / made, at {large:,}",
            f"{resumed[0]:.2f}x warmed",
            f"{resumed[1]:.2f}x unwarmed",
            "",
            "<= 2x",
            _yes(max(resumed) <= 2),
        )
    )
    share = warm["plan"][large]["asked"] / large
    ratio = [runs["normalize"][large]["seconds"] / runs["prepare"][large]["seconds"] for runs in (warm, cold)]
    rows.append(
        Row(
            f"{label}: normalize and write of a day asking {share:.1%}, against a day where every video is asked, at {large:,}",
            f"{warm['normalize'][large]['seconds']:.2f} s against {warm['prepare'][large]['seconds']:.2f} s warmed",
            f"{cold['normalize'][large]['seconds']:.2f} s against {cold['prepare'][large]['seconds']:.2f} s unwarmed "
            f"(the fetch's commit of the day asking {share:.1%}: {warm['carry'][large]['seconds']:.2f} s)",
            f"{ratio[0]:.2f} ({ratio[1]:.2f} unwarmed)",
            "<= 0.25",
            _yes(ratio[0] <= 0.25),
        )
    )
    return rows


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "fetch": bench_fetch,
    "ceiling": bench_ceiling,
    "normalize": bench_normalize,
    "publish": bench_publish,
    "e2e": bench_e2e,
    "flow": bench_flow,
    "account": bench_account,
    "refresh": bench_refresh,
    "store": bench_store,
    "celery": bench_celery,
    "accounts": bench_accounts,
    "resume": bench_resume,
    "receiver": bench_receiver,
    "year": bench_year,
    "scale": bench_scale,
}


def table(rows: list[Row]) -> str:
    head = ["benchmark", "figure", "baseline", "ratio", "goal", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([r.benchmark, r.figure, r.baseline, r.ratio, r.goal, r.met]) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1).strip()
    except (OSError, AttributeError):
        pass
    try:
        kb = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram = f"{kb / 1024 / 1024:.0f} GB"
    except (OSError, AttributeError):
        ram = "unknown"
    libs = []
    for dist in ("dagster", "pandas", "pyarrow", "duckdb", "requests", "aliyun-python-sdk-core", "aliyun-python-sdk-vod"):
        try:
            libs.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return (
        f"- CPU: {cpu}, {os.cpu_count()} cores\n- RAM: {ram}\n- OS: {platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()}; {', '.join(libs)}"
    )


def write_doc(text: str, begin: str = BEGIN, end_mark: str = END) -> None:
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Benchmarks\n\n{begin}\n{end_mark}\n"
    start, end = doc.index(begin) + len(begin), doc.index(end_mark)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for iterating (figures are not documented)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--no-docs", action="store_true", help="print the table without updating docs/benchmarks.md")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    rows: list[Row] = []
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        rows += BENCHMARKS[name](sizes[name])
    elapsed = time.perf_counter() - started
    result = table(rows)
    print(result)
    print(f"\n({elapsed / 60:.1f} min)", file=sys.stderr)
    if not args.quick and not args.no_docs and names == list(BENCHMARKS):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_doc(f"Measured {stamp} with `make bench` ({elapsed / 60:.1f} min), on:\n\n{machine()}\n\n{result}")
        print(f"Wrote {DOC.relative_to(REPO)}", file=sys.stderr)
    elif not args.quick and not args.no_docs and names == ["year"]:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_doc(
            f'Measured {stamp} with `make bench BENCH_ARGS="--only year"` ({elapsed / 60:.1f} min), on:\n\n{machine()}\n\n{result}',
            YEAR_BEGIN,
            YEAR_END,
        )
        print(f"Wrote {DOC.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
