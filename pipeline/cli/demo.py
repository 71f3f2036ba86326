"""The demo and dev commands: the local VOD service (imported when they run, never before), folders of their
own, and the environment that points the pipeline at the service."""

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
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigurationError
from pipeline.events import mns
from pipeline.events.callbacks import CallbackAuth, CallbackReceiver
from pipeline.events.inbox import Inbox
from pipeline.store import objects
from pipeline.store.layout import Layout

if TYPE_CHECKING:  # the local VOD service is imported by the demo and dev commands only, when they run
    from localvod import LocalVodAccount

from pipeline.cli.commands import EXIT_RUN_FAILED, materialize, summary
from pipeline.cli.recovery import close_dead_runs

DEMO_KEY_ID = "demo-access-key-id"


DEMO_KEY_SECRET = "demo-access-key-secret"


# The demo and `dev` work in folders of their own, so trying them never touches a real data directory or
# Dagster instance; a folder they made carries this mark, and they refuse any other that is not empty.
DEMO_DATA_DIR, DEMO_DAGSTER_HOME = Path("demo/data"), Path("demo/dagster_home")


DEMO_MARK = ".vod-stickers-demo"


INSTANCE_CONFIG = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml"


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


def _demo_account(args: argparse.Namespace, **events: Any) -> LocalVodAccount:
    """The demo's VOD account: ``--videos`` videos, three fifths in cn-shanghai and the rest in
    ap-southeast-1, sharing the account's calls per second. ``events`` are ServiceConfig's settings of
    sticker changes and callbacks (none: a catalog that does not change)."""
    from localvod import LocalVodAccount, ServiceConfig

    first = args.videos * 3 // 5
    return LocalVodAccount(
        ServiceConfig(port=args.port, access_key_id=DEMO_KEY_ID, access_key_secret=DEMO_KEY_SECRET, latency_ms=50.0, **events),
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
        f"\nQuery it:  {os.path.relpath(shell)} -readonly {os.path.relpath(objects.local(layout.warehouse))}\n"
        f"Look at it: {os.path.relpath(objects.local(layout.report(day)))}   (open in a browser)\n"
        f"Browse it: make dev   (the Dagster UI at http://127.0.0.1:3000)"
    )
    return 0


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
