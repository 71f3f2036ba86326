"""The local VOD service's commands: `serve` (the service until Ctrl-C) and `videos` (a videos.csv of its
catalog). `python -m localvod serve|videos ...`, and `vod-stickers serve|videos ...`, which hands its
arguments here."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from localvod.account import LocalVodAccount
from localvod.catalog import write_videos_csv
from localvod.config import FAULT_KINDS, FLOW_CONTROLS, ServiceConfig
from pipeline.vod.regions import REGIONS

EXIT_USAGE = 2
EPILOG = """\
exit codes:
  0  done (serve: stopped with Ctrl-C)
  1  an unexpected error (a traceback follows)
  2  an option to fix: the line before says which
"""


class UsageError(Exception):
    """An option the service cannot start with; the message says which and what to give."""


def _service_args(parser: argparse.ArgumentParser) -> None:
    defaults = ServiceConfig()
    add = parser.add_argument
    add("--host", default=defaults.host, help="address to bind (default: loopback only)")
    add("--port", type=int, default=18080, help="port (0: any free port)")
    add("--access-key-id", default=defaults.access_key_id, help="the AccessKeyId it accepts")
    add("--access-key-secret", default=defaults.access_key_secret, help="the AccessKey secret it accepts")
    add("--security-token", default=None, help="require this STS token on every call")
    add("--catalog-size", type=int, default=defaults.catalog_size, help="videos in the synthetic catalog")
    add("--catalog-seed", type=int, default=defaults.catalog_seed, help="seed of the synthetic catalog")
    add("--calls-per-second", type=float, default=defaults.calls_per_second, help="flow-control limit (0: none)")
    add(
        "--flow-control",
        choices=FLOW_CONTROLS,
        default=defaults.flow_control,
        help="how the limit is counted: a token bucket holding one second of calls, or at most the limit in any "
        "second (sliding_window) or in each whole second (fixed_window)",
    )
    add("--latency-ms", type=float, default=defaults.latency_ms, help="median answer latency")
    for fault in FAULT_KINDS:
        add(f"--{fault.replace('_', '-')}-rate", type=float, default=0.0, help=f"share of calls answered with a {fault} fault")
    add("--fault-seed", type=int, default=defaults.fault_seed, help="seed of the injected faults")
    add("--regions", default=None, help="comma list of regions, one port each from --port (default: one region)")
    add("--separate-limits", action="store_true", help="each region has its own flow control (default: shared)")
    add("--same-second-videos", type=int, default=defaults.same_second_videos, help="videos sharing one CreationTime second")
    add(
        "--account",
        action="append",
        default=[],
        metavar="NAME=KEY_ID:SECRET",
        dest="other_accounts",
        help="another account served beside the first, signing with its own AccessKey, with a catalog of its own "
        "(repeatable; for trying VOD_ACCOUNTS_FILE)",
    )


def _service_config(args: argparse.Namespace) -> ServiceConfig:
    """The service's configuration from the options _service_args declares (same names)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServiceConfig) if hasattr(args, f.name)}
    accounts = {}
    for spec in getattr(args, "other_accounts", []):
        name, _, keys = spec.partition("=")
        key_id, _, secret = keys.partition(":")
        if not (name and key_id and secret):
            raise UsageError(f"--account {name or '?'}=...: give NAME=KEY_ID:SECRET")
        accounts[name] = {"access_key_id": key_id, "access_key_secret": secret}
    try:
        return ServiceConfig(**{**given, "calls_per_second": args.calls_per_second or None, "accounts": accounts})
    except ValueError as err:
        raise UsageError(f"the local VOD service cannot start: {err}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    regions = [r.strip() for r in args.regions.split(",") if r.strip()] if args.regions else None
    if unknown := [r for r in regions or () if r not in REGIONS]:
        raise UsageError(f"--regions: unknown region {unknown[0]!r}; choose from {', '.join(sorted(REGIONS))}")
    serve_forever(_service_config(args), regions, shared_limits=not args.separate_limits)
    return 0


def cmd_videos(args: argparse.Namespace) -> int:
    regions = tuple(r.strip() for r in (args.regions or "").split(",") if r.strip())
    write_videos_csv(
        Path(args.out), count=args.count, unknown=args.unknown, seed=args.catalog_seed, size=args.catalog_size, regions=regions
    )
    print(f"Wrote {args.out}")
    return 0


def serve_forever(config: ServiceConfig | None = None, regions: Sequence[str] | None = None, *, shared_limits: bool = True) -> None:
    """Run the service in the foreground until Ctrl-C, after printing its endpoint and AccessKeyId. With
    ``regions``, one service per region on consecutive ports, and a ``VOD_ENDPOINTS=`` line to paste."""
    cfg = config or ServiceConfig()
    account = LocalVodAccount(cfg, regions or (cfg.region,), shared_limits=shared_limits).start()
    rate = "unlimited" if cfg.calls_per_second is None else f"{cfg.calls_per_second:g} calls/s"
    if regions:
        rate += " shared by the regions" if shared_limits else " in each region"
    for region, service in account.services.items():
        where = f" ({region})" if regions else ""
        print(
            f"Local VOD service{where} at {service.endpoint} -- AccessKeyId {cfg.access_key_id}, "
            f"{cfg.catalog_size} videos (seed {cfg.catalog_seed}), {rate}. Ctrl-C to stop.",
            flush=True,
        )
    for name, other in cfg.account_configs().items():
        print(
            f"  and account {name}: AccessKeyId {other.access_key_id}, {other.catalog_size} videos (seed {other.catalog_seed})",
            flush=True,
        )
    if regions:
        print("VOD_ENDPOINTS=" + ",".join(f"{r}={e}" for r, e in account.endpoints.items()), flush=True)
    if cfg.sticker_change_rate:
        start = next(iter(account.services.values())).catalog.timeline.start
        print(
            f"Stickers change: {cfg.sticker_change_rate:.1%} of the videos a day from {start} "
            f"({cfg.sticker_delete_share:.0%} of the changes delete one).",
            flush=True,
        )
    if cfg.callback_url:
        signed = "signed" if cfg.callback_auth_key else "unsigned"
        print(f"Events: {signed} HTTP callbacks to {cfg.callback_url}.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        account.stop()


def build_parser(prog: str = "localvod") -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, epilog=EPILOG, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the local VOD service until Ctrl-C",
        formatter_class=fmt,
        epilog=EPILOG,
        description="Runs the local VOD service, a stand-in for Alibaba Cloud VOD's ListDynamicImage over HTTP on\n"
        "loopback: both signature methods, error codes, flow control, latency and seeded faults.",
    )
    serve.set_defaults(func=cmd_serve)
    _service_args(serve)

    videos = sub.add_parser(
        "videos",
        help="write a videos.csv matching the local service's catalog",
        formatter_class=fmt,
        epilog=EPILOG,
        description="Writes a video set (a video_id column) of the local VOD service's synthetic catalog,\n"
        "optionally with ids the catalog does not know (they end as 'not found').",
    )
    videos.set_defaults(func=cmd_videos)
    defaults = ServiceConfig()
    videos.add_argument("--out", default="data/videos.csv", help="where to write (default: data/videos.csv)")
    videos.add_argument("--catalog-size", type=int, default=defaults.catalog_size, help="videos in the catalog")
    videos.add_argument("--catalog-seed", type=int, default=defaults.catalog_seed, help="seed of the catalog")
    videos.add_argument("--count", type=int, default=None, help="catalog videos to include (default: all)")
    videos.add_argument("--unknown", type=int, default=0, help="extra ids the catalog does not know")
    videos.add_argument(
        "--regions", default=None, help="comma-separated regions (as in serve --regions): each region's ids, with a region column"
    )
    return parser


def main(argv: list[str] | None = None, prog: str = "localvod") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return EXIT_USAGE
