"""vod-stickers: run a snapshot day, the demo, the Dagster UI, and the local VOD service."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline import settings
from pipeline.cli.commands import (
    DAY_ASSETS,
    EXIT_CONFIG,
    cmd_alert_test,
    cmd_events,
    cmd_query,
    cmd_recover,
    cmd_run,
    cmd_staged,
)
from pipeline.cli.demo import DEMO_DAGSTER_HOME, DEMO_DATA_DIR, cmd_demo, cmd_dev
from pipeline.errors import ConfigurationError

EPILOG = """\
exit codes:
  0  done
  1  an unexpected error (a traceback follows)
  2  bad configuration or usage: a variable, an option or videos.csv to fix; nothing was run
  3  the Dagster run failed: its first error line says why (the UI's Runs page has the whole log)
  4  alert-test: the webhook did not take the test message (the line before says why)
"""


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="vod-stickers", description=__doc__, epilog=EPILOG, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], summary: str, description: str) -> argparse.ArgumentParser:
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
        "VOD_REGION or VOD_ENDPOINT, PIPELINE_DATA_DIR, ...; docs/configuration.md lists them) and is checked before the\n"
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
        default=str(settings.dagster_home()),
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
