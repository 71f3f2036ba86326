"""The product's commands: run a day, receive events, query, list held days, recover runs, test alerts."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import settings, snapshot
from pipeline.errors import ConfigurationError, PipelineError
from pipeline.events import mns
from pipeline.events.callbacks import CallbackReceiver
from pipeline.events.inbox import Inbox
from pipeline.publish import shell, warehouse
from pipeline.store.layout import Layout
from pipeline.store.videos import read_video_set

if TYPE_CHECKING:  # the local VOD service is imported by the demo and dev commands only, when they run
    pass

from pipeline.cli.progress import FetchBar
from pipeline.cli.recovery import close_dead_runs

EXIT_CONFIG = 2


EXIT_RUN_FAILED = 3


EXIT_NOT_DELIVERED = 4


DAY_ASSETS = ("videos", "sticker_responses", "stickers", "warehouse", "report")


def cmd_run(args: argparse.Namespace) -> int:
    day = args.day or dt.datetime.now(dt.UTC).date()
    assets = [a.strip() for a in args.assets.split(",")] if args.assets else DAY_ASSETS
    unknown = [a for a in assets if a not in DAY_ASSETS]
    if unknown:
        raise ConfigurationError(f"--assets: no asset named {', '.join(map(repr, unknown))}; choose from {','.join(DAY_ASSETS)}")
    layout = check_settings(assets, day, account=args.account)
    home = settings.dagster_home().resolve()
    env = dict(os.environ, DAGSTER_HOME=str(home), PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    home.mkdir(parents=True, exist_ok=True)
    of = f" of account {args.account}" if args.account else ""
    print(f"Running snapshot day {day}{of} through Dagster (DAGSTER_HOME={home}, data in {layout.root})")
    returncode = materialize(layout, day, env, assets=assets)
    if returncode != 0:
        print(
            f"vod-stickers: the run of {day}{of} failed; its first error line above says why "
            "(the Runs page of the Dagster UI has the whole log)",
            file=sys.stderr,
        )
        return EXIT_RUN_FAILED
    print(f"Snapshot day {day}{of} done: {layout.warehouse}, {layout.report(day)}")
    return 0


def check_settings(assets: tuple[str, ...] | list[str], day: dt.date, *, account: str | None = None) -> Layout:
    """Checks what the run of ``assets`` for ``account``'s ``day`` will need, as its steps will, without calling
    VOD: raises ConfigurationError (exit 2) naming what to fix, before anything runs."""
    source = settings.source_from_env()
    settings.account_entry(account)  # the account is one VOD_ACCOUNTS_FILE lists (or there is no such file)
    if "sticker_responses" in assets or ("videos" in assets and source.source == "vod"):
        settings.vod_from_env(account=account)
    regions = list(settings.endpoints_from_env(account=account))
    layout = settings.lake_from_env().layout(account)
    settings.alerts_from_env()  # the daemon's alerts about this run would fail on a bad value
    settings.executor_from_env()  # a wrong executor would stop the run before its first step
    if "sticker_responses" in assets:
        snapshot.check_observable(layout, day)
    if "videos" in assets and source.source == "csv" and snapshot.video_set_source(layout, day) == layout.videos_csv:
        read_video_set(layout.videos_csv, regions)
    return layout


def materialize(layout: Layout, day: dt.date, env: dict[str, str], assets: tuple[str, ...] | list[str] = DAY_ASSETS) -> int:
    """Runs the day's assets (and their checks) with `dg launch`, recorded in DAGSTER_HOME.

    In a terminal, the fetch shows as a progress bar and Dagster logs only warnings and errors;
    otherwise (CI, a pipe) every INFO line of the run is printed and no bar is drawn.
    """
    interactive = sys.stderr.isatty()
    level = "WARNING" if interactive else "INFO"
    command = [
        str(Path(sys.executable).parent / "dg"),
        "launch",
        "-m",
        "pipeline.definitions",
        "--assets",
        ",".join(assets),
        "--partition",
        _partition(day, layout.account),
        "--config-json",
        f'{{"loggers": {{"console": {{"config": {{"log_level": "{level}"}}}}}}}}',
    ]
    close_dead_runs(Path(env["DAGSTER_HOME"]))  # a killed run's pool slot would make this one wait for ever
    run = subprocess.Popen(command, env=env)
    # The bar follows the answers on disk; on an object store they land in batches the bar does not read
    bar = FetchBar(layout, day) if interactive and "sticker_responses" in assets and isinstance(layout.root, Path) else None
    if bar:
        bar.follow(run)
    return run.wait()


def _partition(day: dt.date, account: str | None) -> str:
    """The Dagster partition of ``account``'s day: the day alone for a deployment of one account."""
    if account is None:
        return day.isoformat()
    from pipeline.defs.partitions import partition_key  # Dagster, only for a deployment of several accounts

    return partition_key(day, account)


def summary(layout: Layout) -> str:
    """A few lines from the warehouse, as an analyst would first look at it."""
    with warehouse.connect(layout.warehouse) as con:
        log = con.execute(
            "SELECT snapshot_date, videos, videos_asked, videos_answered, videos_not_found, videos_failed, videos_carried, "
            "stickers_typed, rows_quarantined, calls, retries, throttled_answers, seconds "
            "FROM fetch_log ORDER BY snapshot_date DESC LIMIT 1"
        )
        names = [d[0] for d in log.description]
        newest = dict(zip(names, log.fetchall()[0], strict=False))
        formats = con.sql(
            "SELECT format, stickers, videos, round(total_bytes / 1e6, 1) AS total_mb, "
            "round(avg_duration_s, 2) AS avg_duration_s FROM format_stats ORDER BY format"
        )
        top = con.sql(
            "SELECT video_id, region, title, stickers, round(total_bytes / 1e6, 2) AS total_mb FROM video_sticker_stats "
            "ORDER BY stickers DESC, total_bytes DESC LIMIT 5"
        )
        lines = [f"Snapshot {newest.pop('snapshot_date')} (fetch_log):"]
        lines += [f"  {name:<18} {value}" for name, value in newest.items()]
        return "\n".join(lines) + f"\nformat_stats:\n{formats}\nTop videos by stickers (video_sticker_stats):\n{top}"


def cmd_events(args: argparse.Namespace) -> int:
    """Receives VOD's events into the data directory's inbox until Ctrl-C: HTTP callbacks, and the MNS queue
    when one is configured."""
    layout = settings.lake_from_env().layout(args.account)
    config = settings.events_from_env(account=args.account)  # the account's keys read its MNS queue
    port = config.port if args.port is None else args.port
    host = args.host or ("0.0.0.0" if config.callback else "127.0.0.1")
    stop = threading.Event()
    with Inbox(layout.events_inbox) as inbox, CallbackReceiver(inbox, host=host, port=port, auth=config.callback) as receiver:
        print(
            f"Receiving VOD's callbacks on {receiver.endpoint} "
            f"({'signatures checked' if config.callback else 'unauthenticated: set VOD_CALLBACK_URL and VOD_CALLBACK_KEYS to check them'}); "
            f"events kept in {layout.events_inbox}",
            flush=True,
        )
        consumer, failure = None, []
        if config.mns_endpoint and config.mns_queue and config.credentials:
            endpoint, queue, credentials = config.mns_endpoint, config.mns_queue, config.credentials

            def read_queue() -> None:
                try:
                    mns.consume(
                        endpoint,
                        queue,
                        credentials.access_key_id,
                        credentials.access_key_secret,
                        inbox,
                        stop=stop,
                        security_token=credentials.security_token,
                    )
                except Exception as err:  # noqa: BLE001 - said in one line below
                    failure.append(err)

            consumer = threading.Thread(target=read_queue, name="mns-consumer", daemon=True)
            consumer.start()
            print(f"Reading the MNS queue {config.mns_queue} at {config.mns_endpoint}", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                if consumer is not None and not consumer.is_alive():
                    print(f"vod-stickers: the MNS queue cannot be read: {failure[0] if failure else 'the reader stopped'}", file=sys.stderr)
                    return EXIT_CONFIG if failure and isinstance(failure[0], PipelineError) else 1
        except KeyboardInterrupt:
            pass
        stop.set()
        if consumer is not None:
            consumer.join(timeout=35)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    lake = settings.lake_from_env()
    with shell.arguments(lake.layout(), lake.store) as arguments:
        return subprocess.call([str(Path(sys.executable).parent / "duckdb"), *arguments, *args.duckdb_args])


def cmd_staged(args: argparse.Namespace) -> int:
    """Lists the days with files under staging/: held after failing their audit (what failed), or waiting
    for it; each with its files."""
    layout = settings.lake_from_env().layout()
    staged = [
        s
        for s in snapshot.staged_days(layout)
        if (args.account is None or s.account == args.account) and (args.day is None or s.day == args.day)
    ]
    if not any(s.held for s in staged):
        print(f"No day is held in staging under {layout.root}: every day in the lake passed its audit.")
    for s in staged:
        if s.held:
            audited = f"audited {s.audit.audited_at} in run {s.audit.run_id}" if s.audit else "its audit was not kept"
            print(f"{s.day} of account {s.account}: held, not in the lake ({audited})")
            for name, result in (s.audit.failed if s.audit else {}).items():
                print(f"  failed {name}: {result.summary}")
        else:
            print(f"{s.day} of account {s.account}: waiting for the day's audit (stickers not yet normalized)")
        for table, path in s.files.items():
            print(f"  {table}: {s.rows[table]:,} rows in {path}")
    if any(s.held for s in staged):
        example = next(s for s in staged if s.held).files["stickers"]
        print(
            "The lake keeps each day's previous audited version. Read a held file with DuckDB, e.g. "
            f"SELECT * FROM read_parquet('{example}'); fix the cause and re-run stickers for the day to audit "
            "and commit it."
        )
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    """Closes the runs whose process died, so their pool slots stop blocking the next runs."""
    home = Path(args.dagster_home).resolve()
    closed = close_dead_runs(home)
    print(f"{len(closed)} dead run(s) closed in {home}" + ("; re-run their days to resume them" if closed else ""))
    return 0


def cmd_alert_test(args: argparse.Namespace) -> int:
    """Posts a test message to the alert webhook, as the sensors do, and says whether it arrived."""
    from pipeline import alerts

    config = settings.alerts_from_env()
    if config.webhook is None:
        raise ConfigurationError("ALERT_WEBHOOK_URL is not set: export the robot's webhook address (docs/operators.md, 'Alerts')")
    hook = config.webhook
    alert = alerts.Alert(
        title="Test message: alerts of this pipeline reach this chat",
        day=None,
        what="vod-stickers alert-test",
        error="none, this is a test",
        link=config.ui_url,
    )
    print(f"Posting to the {hook.kind} webhook at {hook.host} ({'signed' if hook.secret else 'not signed'}):\n{alert.text()}")
    try:
        attempts = alerts.deliver(hook, alert, on_retry=lambda problem: print(problem, file=sys.stderr))
    except alerts.AlertNotDelivered as err:
        print(f"vod-stickers: {err}", file=sys.stderr)
        return EXIT_NOT_DELIVERED
    print(f"Delivered ({attempts} attempt{'s' if attempts > 1 else ''}).")
    return 0
