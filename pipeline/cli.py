"""vod-stickers: run a snapshot day, the demo, the Dagster UI, and the local VOD service."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from pipeline import settings, snapshot
from pipeline.errors import ConfigurationError, PipelineError
from pipeline.events import mns
from pipeline.events.callbacks import CallbackAuth, CallbackReceiver
from pipeline.events.inbox import Inbox
from pipeline.publish import shell, warehouse
from pipeline.store.layout import Layout
from pipeline.store.videos import read_video_set

if TYPE_CHECKING:  # the local VOD service is imported by the demo and dev commands only, when they run
    from localvod import LocalVodAccount

EXIT_CONFIG = 2
EXIT_RUN_FAILED = 3
EXIT_NOT_DELIVERED = 4

EPILOG = """\
exit codes:
  0  done
  1  an unexpected error (a traceback follows)
  2  bad configuration or usage: a variable, an option or videos.csv to fix; nothing was run
  3  the Dagster run failed: its first error line says why (the UI's Runs page has the whole log)
  4  alert-test: the webhook did not take the test message (the line before says why)
"""

DAY_ASSETS = ("videos", "sticker_responses", "stickers", "warehouse", "report")
DEMO_KEY_ID = "demo-access-key-id"
DEMO_KEY_SECRET = "demo-access-key-secret"
# The demo and `dev` work in folders of their own, so trying them never touches a real data directory or
# Dagster instance; a folder they made carries this mark, and they refuse any other that is not empty.
DEMO_DATA_DIR, DEMO_DAGSTER_HOME = Path("demo/data"), Path("demo/dagster_home")
DEMO_MARK = ".vod-stickers-demo"
INSTANCE_CONFIG = Path(__file__).resolve().parents[1] / "dagster_home" / "dagster.yaml"


def demo_folders(data_dir: Path, dagster_home: Path) -> None:
    """Makes (or reuses) the demo's folders; raises ConfigurationError, before anything is written, for
    a folder that holds something the demo did not make."""
    for folder, flag, keep in ((data_dir, "--data-dir", ()), (dagster_home, "--dagster-home", ("dagster.yaml",))):
        if folder.exists() and not (folder / DEMO_MARK).exists():
            found = sorted(p.name for p in folder.iterdir() if p.name not in keep)
            if found:
                raise ConfigurationError(
                    f"{flag} {folder} holds {', '.join(found[:3])}{', ...' if len(found) > 3 else ''}, which the demo "
                    f"did not make, and the demo never writes over real data: give {flag} an empty folder or "
                    f"leave it out (default: {DEMO_DATA_DIR if flag == '--data-dir' else DEMO_DAGSTER_HOME})"
                )
    for folder in (data_dir, dagster_home):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DEMO_MARK).touch()
    if not (dagster_home / "dagster.yaml").exists() and INSTANCE_CONFIG.exists():
        shutil.copy(INSTANCE_CONFIG, dagster_home / "dagster.yaml")  # its pools, and telemetry off


def _pipeline_env(data_dir: Path, dagster_home: Path, endpoints: dict[str, str]) -> dict[str, str]:
    """The environment of the demo's Dagster runs: its folders, its local account's regions, its credentials;
    the video set is discovered (VIDEO_SOURCE=vod)."""
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(dagster_home.resolve()),
        PIPELINE_DATA_DIR=str(data_dir.resolve()),
        ALIBABA_CLOUD_ACCESS_KEY_ID=DEMO_KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=DEMO_KEY_SECRET,
        VOD_REGIONS=",".join(endpoints),
        VOD_ENDPOINTS=",".join(f"{region}={address}" for region, address in endpoints.items()),
        VIDEO_SOURCE="vod",
        PYTHONWARNINGS="ignore",  # Dagster's deprecation notices are for developers, not the demo
    )
    for name in ("ALIBABA_CLOUD_SECURITY_TOKEN", "VOD_ENDPOINT", "VOD_REGION", "VOD_RATE_LIMITS"):
        env.pop(name, None)
    return env


def _demo_account(args: argparse.Namespace, **events: object) -> LocalVodAccount:
    """The demo's VOD account: ``--videos`` videos, three fifths in cn-shanghai and the rest in
    ap-southeast-1, sharing the account's calls per second. ``events`` are ServiceConfig's settings of
    sticker changes and callbacks (none: a catalog that does not change)."""
    from localvod import LocalVodAccount, ServiceConfig

    first = args.videos * 3 // 5
    return LocalVodAccount(
        ServiceConfig(port=args.port, access_key_id=DEMO_KEY_ID, access_key_secret=DEMO_KEY_SECRET, latency_ms=50.0, **events),  # type: ignore[arg-type]
        {"cn-shanghai": {"catalog_size": first}, "ap-southeast-1": {"catalog_size": args.videos - first}},
    )


DEV_CHANGE_RATE = 0.2  # a fifth of the dev account's videos change a day, so events come every few minutes
DEV_CALLBACK_KEY = "DevCallbackKey2026"
DEV_QUEUE = "vod-events"


@contextlib.contextmanager
def _dev_events(layout: Layout, args: argparse.Namespace) -> Iterator[LocalVodAccount]:
    """The dev account, its stickers changing through the day, and its events received as in production:
    signed HTTP callbacks to a receiver, and a local MNS queue read through the MNS SDK, both into the
    data directory's inbox."""
    from localvod import LocalMnsService, MnsQueueSink

    stop = threading.Event()
    with (
        Inbox(layout.events_inbox) as inbox,
        CallbackReceiver(inbox) as receiver,
        LocalMnsService((DEV_QUEUE,), access_key_id=DEMO_KEY_ID, access_key_secret=DEMO_KEY_SECRET) as queue,
    ):
        url = receiver.endpoint + "/vod/events"
        receiver.auth = CallbackAuth(url, (DEV_CALLBACK_KEY,))
        reader = threading.Thread(
            target=mns.consume, args=(queue.endpoint, DEV_QUEUE, DEMO_KEY_ID, DEMO_KEY_SECRET, inbox), kwargs={"stop": stop}, daemon=True
        )
        account = _demo_account(
            args, sticker_change_rate=DEV_CHANGE_RATE, callback_url=url, callback_auth_key=DEV_CALLBACK_KEY, callback_loss_rate=0.01
        )
        account.add_sink(MnsQueueSink(queue.endpoint, DEV_QUEUE, DEMO_KEY_ID, DEMO_KEY_SECRET))
        reader.start()
        try:
            with account.start():
                print(
                    f"VOD's events: signed callbacks to {url}, and the MNS queue {DEV_QUEUE} at {queue.endpoint}, kept in {layout.events_inbox}"
                )
                yield account
        finally:
            stop.set()
            reader.join(timeout=10)


def _describe(account: LocalVodAccount) -> str:
    return ", ".join(f"{region} on {service.endpoint} ({len(service.catalog)} videos)" for region, service in account.services.items())


def cmd_demo(args: argparse.Namespace) -> int:
    data_dir, dagster_home = Path(args.data_dir), Path(args.dagster_home)
    demo_folders(data_dir, dagster_home)
    day = dt.datetime.now(dt.UTC).date()
    with _demo_account(args).start() as account:
        print(f"Local VOD account: {_describe(account)}")
        layout = Layout(data_dir.resolve())
        print(f"Running snapshot day {day} through Dagster (DAGSTER_HOME={dagster_home}): the account's videos are discovered, then asked")
        started = time.monotonic()
        returncode = materialize(layout, day, _pipeline_env(data_dir, dagster_home, account.endpoints))
        seconds = time.monotonic() - started
    if returncode != 0:
        print(f"vod-stickers: the Dagster run failed (exit {returncode}); see the log above.", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(f"\nDagster run finished in {seconds:.1f} s.\n")
    print(summary(layout))
    shell = Path(sys.executable).parent / "duckdb"
    print(
        f"\nQuery it:  {os.path.relpath(shell)} -readonly {os.path.relpath(layout.warehouse)}\n"
        f"Look at it: {os.path.relpath(layout.report(day))}   (open in a browser)\n"
        f"Browse it: make dev   (the Dagster UI at http://127.0.0.1:3000)"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    day = args.day or dt.datetime.now(dt.UTC).date()
    assets = [a.strip() for a in args.assets.split(",")] if args.assets else DAY_ASSETS
    unknown = [a for a in assets if a not in DAY_ASSETS]
    if unknown:
        raise ConfigurationError(f"--assets: no asset named {', '.join(map(repr, unknown))}; choose from {','.join(DAY_ASSETS)}")
    layout = check_settings(assets, day, account=args.account)
    home = Path(os.environ.get("DAGSTER_HOME") or "dagster_home").resolve()
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


class FetchBar:
    """A terminal progress bar of the fetch a Dagster run is doing, read from the day's answers as they land.

    The answers are flushed in batches of a few hundred videos, so the bar moves in steps.
    """

    def __init__(self, layout: Layout, day: dt.date):
        self.layout, self.day = layout, day
        self.started = time.time()
        self.offset = 0

    def follow(self, run: subprocess.Popen) -> None:
        threading.Thread(target=self._watch, args=(run,), daemon=True).start()

    def _fresh(self, path: Path) -> bool:
        try:
            return path.stat().st_mtime >= self.started - 1
        except FileNotFoundError:
            return False

    def _watch(self, run: subprocess.Popen) -> None:
        width = shutil.get_terminal_size().columns or 100  # a terminal that reports no width gets 100
        with tqdm(desc=f"Fetching {self.day}", unit=" videos", ncols=min(width, 120), leave=True) as bar:
            while run.poll() is None:
                if bar.total is None and self._fresh(self.layout.day_videos(self.day)):
                    bar.total = max(0, sum(1 for _ in open(self.layout.day_videos(self.day), "rb")) - 1)
                if self._fresh(self.layout.answers(self.day)):
                    bar.update((bar.total or bar.n) - bar.n)
                    return
                if self._fresh(self.layout.answers_in_progress(self.day)):
                    bar.update(self._new_lines())
                time.sleep(0.5)

    def _new_lines(self) -> int:
        with open(self.layout.answers_in_progress(self.day), "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        return chunk.count(b"\n")


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


def cmd_dev(args: argparse.Namespace) -> int:
    demo_folders(Path(args.data_dir), Path(args.dagster_home))
    with _dev_events(Layout(Path(args.data_dir).resolve()), args) as account:
        print(f"Local VOD account: {_describe(account)}; starting the Dagster UI on http://127.0.0.1:{args.ui_port} (Ctrl-C stops both)")
        env = _pipeline_env(Path(args.data_dir), Path(args.dagster_home), account.endpoints)
        close_dead_runs(Path(env["DAGSTER_HOME"]))
        ui = subprocess.Popen(
            [str(Path(sys.executable).parent / "dg"), "dev", "--port", str(args.ui_port)],
            env=env,
            # Started from a script or in the background, SIGINT may arrive ignored; dg dev
            # shuts down its webserver and daemon cleanly only on SIGINT.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        # A SIGTERM to this process stops the UI too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: ui.send_signal(signal.SIGINT))
        try:
            return ui.wait()
        except KeyboardInterrupt:
            return ui.wait()


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
            credentials = config.credentials

            def read_queue() -> None:
                try:
                    mns.consume(
                        config.mns_endpoint,
                        config.mns_queue,
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
            print(f"{s.day} of account {s.account}: held, not in the lake (audited {s.audit.audited_at} in run {s.audit.run_id})")
            for name, result in s.audit.failed.items():
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


def close_dead_runs(home: Path) -> list:
    """Closes the dead runs of the instance in ``home``, saying so for each."""
    import dagster as dg  # heavy: imported only when a command needs the instance in-process

    from pipeline import runs

    if not home.exists():
        return []  # no instance there yet: nothing to close
    with dg.DagsterInstance.from_config(str(home)) as instance:
        closed = runs.close_dead_runs(instance)
    for run in closed:
        print(f"Closed {run}")
    return closed


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


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="vod-stickers", description=__doc__, epilog=EPILOG, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, summary: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=description, epilog=EPILOG, formatter_class=fmt)
        p.set_defaults(func=func)
        return p

    run = command(
        "run",
        cmd_run,
        "run one snapshot day through Dagster with this environment's settings",
        "Runs the daily_snapshot assets for one day (video set, ListDynamicImage for every video, Parquet,\n"
        "warehouse, report) through Dagster, recorded in DAGSTER_HOME so the UI shows the run.\n"
        "Configuration comes from the environment (ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET,\n"
        "VOD_REGION or VOD_ENDPOINT, PIPELINE_DATA_DIR, ...; the README lists them) and is checked before the\n"
        "run starts. In a terminal the fetch shows a progress bar.",
    )
    run.add_argument("--day", type=_day, default=None, help="snapshot day, YYYY-MM-DD (default: today, UTC)")
    run.add_argument("--account", default=None, help="the account whose day to run, one VOD_ACCOUNTS_FILE lists (needed when it is set)")
    run.add_argument(
        "--assets",
        default=None,
        metavar="A,B",
        help=f"only these assets, comma-separated (default: all, {','.join(DAY_ASSETS)}); "
        "e.g. stickers,warehouse,report to redo a day from its kept raw answers without calling VOD",
    )

    for name, func, text, description in [
        (
            "demo",
            cmd_demo,
            "local VOD service + today's snapshot through Dagster + a summary",
            "Starts the local VOD service, writes a video set for its catalog, runs today's snapshot through\n"
            "Dagster (a progress bar in a terminal), then prints what the warehouse holds and where the report is.",
        ),
        (
            "dev",
            cmd_dev,
            "local VOD service + the Dagster UI and daemon (dg dev)",
            "Starts the local VOD service and `dg dev` (UI on http://127.0.0.1:3000, plus the daemon that\n"
            "runs the schedule and backfills) against it, with the demo's data and Dagster instance. Ctrl-C stops both.",
        ),
    ]:
        p = command(name, func, text, description)
        p.add_argument("--videos", type=int, default=1000, help="videos of the demo account, in two regions (default: 1000)")
        p.add_argument(
            "--port", type=int, default=0, help="port of the local VOD service's first region, the second on the next (0: free ones)"
        )
        p.add_argument(
            "--data-dir",
            type=Path,
            default=DEMO_DATA_DIR,
            help=f"the demo's data directory (default: {DEMO_DATA_DIR}; "
            "never PIPELINE_DATA_DIR, and a folder with data the demo did not make is refused)",
        )
        p.add_argument(
            "--dagster-home",
            type=Path,
            default=DEMO_DAGSTER_HOME,
            help=f"the demo's Dagster instance (default: {DEMO_DAGSTER_HOME}; never DAGSTER_HOME)",
        )
        if name == "dev":
            p.add_argument("--ui-port", type=int, default=3000, help="port of the Dagster UI (default: 3000)")

    for name, summary in [
        ("serve", "run the local VOD service until Ctrl-C (python -m localvod serve --help)"),
        ("videos", "write a videos.csv matching the local service's catalog (python -m localvod videos --help)"),
    ]:
        sub.add_parser(name, help=summary)  # listed in --help; main() hands its arguments to localvod.cli
    events = command(
        "events",
        cmd_events,
        "receive VOD's event notifications (HTTP callbacks, an MNS queue) until Ctrl-C",
        "Receives VOD's events into the data directory's inbox (PIPELINE_DATA_DIR/events/inbox.sqlite), where the\n"
        "next day's refresh plan finds which videos changed. HTTP callbacks on VOD_EVENTS_PORT (default 9090),\n"
        "signatures checked with VOD_CALLBACK_URL and VOD_CALLBACK_KEYS; and the MNS queue VOD_MNS_QUEUE at\n"
        "VOD_MNS_ENDPOINT when set. Each event is durable before it is acknowledged, and kept once.",
    )
    events.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: 0.0.0.0 when VOD_CALLBACK_KEYS is set, else 127.0.0.1: callbacks nobody "
        "signs are taken from this machine only)",
    )
    events.add_argument("--port", type=int, default=None, help="port (default: VOD_EVENTS_PORT, else 9090)")
    events.add_argument(
        "--account", default=None, help="the account whose events these are, one VOD_ACCOUNTS_FILE lists (needed when it is set)"
    )
    query = command(
        "query",
        cmd_query,
        "open the warehouse read-only in the DuckDB shell (on disk or on an object store)",
        "Opens PIPELINE_DATA_DIR's warehouse.duckdb read-only in the DuckDB CLI. On an object store the file is\n"
        "fetched first and the lake's s3:// files are read through httpfs loaded from its installed package\n"
        "(no download), with the store's keys taken from the environment. Arguments after the options go to\n"
        'duckdb, e.g. vod-stickers query -c "SELECT * FROM format_stats".',
    )
    query.set_defaults(takes_extra=True)  # the arguments it does not know go to duckdb
    staged = command(
        "staged",
        cmd_staged,
        "list the days held in staging after failing their audit, with what failed",
        "A day whose new files fail a blocking check is not committed into the lake: its files are held under\n"
        "PIPELINE_DATA_DIR/staging/, laid out as the lake is, and the lake keeps the day's previous audited\n"
        "version. This lists each held day of each account: the checks it failed, its files and their rows;\n"
        "and the videos a discovery wrote that wait for their day's audit.",
    )
    staged.add_argument("--account", default=None, help="only this account's days ('default' in a deployment of one)")
    staged.add_argument("--day", type=_day, default=None, help="only this day, YYYY-MM-DD")
    recover = command(
        "recover",
        cmd_recover,
        "mark failed the Dagster runs whose process was killed, freeing their pool slots",
        "A run whose process was killed (SIGKILL, out of memory, a restart) stays 'Started' and keeps its\n"
        "vod_api or warehouse pool slot, so later runs wait behind it. This marks such runs failed and frees\n"
        "their slots; re-running their day then resumes the fetch where it stopped.",
    )
    recover.add_argument(
        "--dagster-home",
        default=os.environ.get("DAGSTER_HOME") or "dagster_home",
        help="Dagster instance directory (default: $DAGSTER_HOME, else dagster_home)",
    )
    command(
        "alert-test",
        cmd_alert_test,
        "post a test message to the alert webhook (ALERT_WEBHOOK_URL)",
        "Posts a test message to the webhook the alert sensors use (ALERT_WEBHOOK_URL, ALERT_WEBHOOK_KIND,\n"
        "ALERT_WEBHOOK_SECRET), signed as they sign, retried as they retry, and says whether it arrived.",
    )
    return parser


LOCAL_SERVICE_COMMANDS = ("serve", "videos")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in LOCAL_SERVICE_COMMANDS:  # its options are the local service's own
        from localvod.cli import main as local_main

        return local_main(argv, prog="vod-stickers")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.duckdb_args = extra
    try:
        return args.func(args)
    except ConfigurationError as err:
        print(f"vod-stickers: {err}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
