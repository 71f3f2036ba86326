"""``vod-stickers``: the local VOD service, the demo video set, the demo itself and the Dagster UI."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from pipeline.errors import ConfigurationError
from pipeline.layout import Layout
from pipeline.localvod import LocalVodService, ServiceConfig, serve_forever, write_videos_csv

EXIT_CONFIG = 2
EXIT_RUN_FAILED = 3

DEMO_ASSETS = ("videos", "sticker_responses", "stickers", "warehouse")
DEMO_KEY_ID = "demo-access-key-id"
DEMO_KEY_SECRET = "demo-access-key-secret"


def _service_args(parser: argparse.ArgumentParser) -> None:
    defaults = ServiceConfig()
    add = parser.add_argument
    add("--host", default=defaults.host, help="address to bind (default: loopback only)")
    add("--port", type=int, default=18080, help="port (0: any free port)")
    add("--access-key-id", default=defaults.access_key_id)
    add("--access-key-secret", default=defaults.access_key_secret)
    add("--security-token", default=None, help="require this STS token on every call")
    add("--catalog-size", type=int, default=defaults.catalog_size, help="videos in the synthetic catalog")
    add("--catalog-seed", type=int, default=defaults.catalog_seed)
    add("--calls-per-second", type=float, default=defaults.calls_per_second, help="flow-control limit (0: none)")
    add("--latency-ms", type=float, default=defaults.latency_ms, help="median answer latency")
    for fault in ("server_error", "throttle", "slow", "drop", "truncated", "html", "xml"):
        add(f"--{fault.replace('_', '-')}-rate", type=float, default=0.0, help=f"share of calls answered with a {fault} fault")
    add("--fault-seed", type=int, default=defaults.fault_seed)


def _service_config(args: argparse.Namespace) -> ServiceConfig:
    return ServiceConfig(
        host=args.host,
        port=args.port,
        access_key_id=args.access_key_id,
        access_key_secret=args.access_key_secret,
        security_token=args.security_token,
        catalog_size=args.catalog_size,
        catalog_seed=args.catalog_seed,
        calls_per_second=args.calls_per_second or None,
        latency_ms=args.latency_ms,
        server_error_rate=args.server_error_rate,
        throttle_rate=args.throttle_rate,
        slow_rate=args.slow_rate,
        drop_rate=args.drop_rate,
        truncated_rate=args.truncated_rate,
        html_rate=args.html_rate,
        xml_rate=args.xml_rate,
        fault_seed=args.fault_seed,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    serve_forever(_service_config(args))
    return 0


def cmd_videos(args: argparse.Namespace) -> int:
    write_videos_csv(Path(args.out), count=args.count, unknown=args.unknown, seed=args.catalog_seed, size=args.catalog_size)
    print(f"Wrote {args.out}")
    return 0


def _pipeline_env(data_dir: Path, dagster_home: Path, endpoint: str) -> dict[str, str]:
    dagster_home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(dagster_home.resolve()),
        PIPELINE_DATA_DIR=str(data_dir.resolve()),
        ALIBABA_CLOUD_ACCESS_KEY_ID=DEMO_KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=DEMO_KEY_SECRET,
        VOD_ENDPOINT=endpoint,
        PYTHONWARNINGS="ignore",  # Dagster's deprecation notices are for developers, not the demo
    )
    env.pop("ALIBABA_CLOUD_SECURITY_TOKEN", None)
    return env


def _demo_service(args: argparse.Namespace) -> LocalVodService:
    return LocalVodService(
        ServiceConfig(
            port=args.port,
            access_key_id=DEMO_KEY_ID,
            access_key_secret=DEMO_KEY_SECRET,
            catalog_size=args.videos,
            latency_ms=50.0,
        )
    )


def cmd_demo(args: argparse.Namespace) -> int:
    data_dir, dagster_home = Path(args.data_dir), Path(args.dagster_home)
    day = dt.datetime.now(dt.UTC).date().isoformat()
    with _demo_service(args).start() as service:
        print(f"Local VOD service on {service.endpoint} ({args.videos} videos in its catalog)")
        layout = Layout(data_dir)
        write_videos_csv(layout.videos_csv, unknown=max(1, args.videos // 50), seed=service.catalog.seed, size=service.catalog.size)
        print(f"Video set written to {layout.videos_csv}")
        print(f"Running snapshot day {day} through Dagster (DAGSTER_HOME={dagster_home})")
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pipeline.definitions", "--select", ",".join(DEMO_ASSETS), "--partition", day,
             "--config-json", '{"loggers": {"console": {"config": {"log_level": "INFO"}}}}'],
            env=_pipeline_env(data_dir, dagster_home, service.endpoint),
        )
        seconds = time.monotonic() - started
    if run.returncode != 0:
        print(f"The Dagster run failed (exit {run.returncode}); see the log above.", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(f"\nDagster run finished in {seconds:.1f} s.\n")
    print(summary(layout))
    shell = Path(sys.executable).parent / "duckdb"
    print(
        f"\nQuery it:  {os.path.relpath(shell)} -readonly {layout.warehouse}\n"
        f"Browse it: make dev   (the Dagster UI at http://127.0.0.1:3000)"
    )
    return 0


def summary(layout: Layout) -> str:
    """A few lines from the warehouse, as an analyst would first look at it."""
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        log = con.execute(
            "SELECT snapshot_date, videos_asked, videos_answered, videos_not_found, videos_failed, "
            "stickers_typed, rows_quarantined, calls, retries, throttled_answers, seconds "
            "FROM fetch_log ORDER BY snapshot_date DESC LIMIT 1"
        )
        names = [d[0] for d in log.description]
        newest = dict(zip(names, log.fetchall()[0]))
        formats = con.sql(
            "SELECT format, stickers, videos, round(total_bytes / 1e6, 1) AS total_mb, "
            "round(avg_duration_s, 2) AS avg_duration_s FROM format_stats ORDER BY format"
        )
        top = con.sql(
            "SELECT video_id, stickers, round(total_bytes / 1e6, 2) AS total_mb FROM video_sticker_stats "
            "ORDER BY stickers DESC, total_bytes DESC LIMIT 5"
        )
        lines = [f"Snapshot {newest.pop('snapshot_date')} (fetch_log):"]
        lines += [f"  {name:<18} {value}" for name, value in newest.items()]
        return "\n".join(lines) + f"\nformat_stats:\n{formats}\nTop videos by stickers (video_sticker_stats):\n{top}"


def cmd_dev(args: argparse.Namespace) -> int:
    with _demo_service(args).start() as service:
        print(f"Local VOD service on {service.endpoint}; starting the Dagster UI (Ctrl-C stops both)")
        env = _pipeline_env(Path(args.data_dir), Path(args.dagster_home), service.endpoint)
        ui = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"],
            env=env,
            # Started from a script or in the background, SIGINT may arrive ignored; dagster dev
            # shuts down its webserver and daemon cleanly only on SIGINT.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        # A SIGTERM to this process stops the UI too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: ui.send_signal(signal.SIGINT))
        try:
            return ui.wait()
        except KeyboardInterrupt:
            return ui.wait()


def cmd_recover(args: argparse.Namespace) -> int:
    """Closes the runs whose process died, so their pool slots stop blocking the next runs."""
    import dagster as dg  # heavy; only this command needs it in-process

    from pipeline.runs import close_dead_runs

    home = Path(args.dagster_home).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        closed = close_dead_runs(instance)
    for run in closed:
        print(f"Closed {run}")
    print(f"{len(closed)} dead run(s) closed in {home}" + ("; re-run their days to resume them" if closed else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vod-stickers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the local VOD service until Ctrl-C")
    _service_args(serve)
    serve.set_defaults(func=cmd_serve)

    videos = sub.add_parser("videos", help="write a videos.csv matching the local service's catalog")
    videos.add_argument("--out", default="data/videos.csv")
    videos.add_argument("--catalog-size", type=int, default=ServiceConfig().catalog_size)
    videos.add_argument("--catalog-seed", type=int, default=ServiceConfig().catalog_seed)
    videos.add_argument("--count", type=int, default=None, help="catalog videos to include (default: all)")
    videos.add_argument("--unknown", type=int, default=0, help="extra ids the catalog does not know")
    videos.set_defaults(func=cmd_videos)

    for name, func, text in [
        ("demo", cmd_demo, "local VOD service + today's partition through Dagster + a summary"),
        ("dev", cmd_dev, "local VOD service + the Dagster UI (dagster dev)"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("--videos", type=int, default=1000, help="videos in the demo catalog")
        p.add_argument("--port", type=int, default=0, help="port of the local VOD service (0: a free one)")
        p.add_argument("--data-dir", default=os.environ.get("PIPELINE_DATA_DIR") or "data")
        p.add_argument("--dagster-home", default="dagster_home")
        p.set_defaults(func=func)

    recover = sub.add_parser(
        "recover",
        help="mark failed the Dagster runs whose process was killed, freeing their pool slots",
        description="A run whose process was killed (SIGKILL, out of memory, a restart) stays 'Started' and "
        "keeps its vod_api or warehouse pool slot, so later runs wait behind it. This marks such runs failed "
        "and frees their slots; re-running their day then resumes the fetch where it stopped.",
    )
    recover.add_argument("--dagster-home", default=os.environ.get("DAGSTER_HOME") or "dagster_home")
    recover.set_defaults(func=cmd_recover)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigurationError as err:
        print(f"vod-stickers: {err}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
