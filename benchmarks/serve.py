"""The local VOD service in a process of its own, so its CPU and memory are never counted as the client's.

``python -m benchmarks.serve '{"calls_per_second": 100, ...}'`` prints the endpoint on one line, serves
until its standard input closes, then prints the service's counters as JSON, with the CPU seconds the
service process spent serving (``cpu_s``, from when it listened). With ``"regions": [...]`` (and ``"shared_limits"``) it serves an account
of several regions: the first line is then the JSON of their endpoints, and the counters are per region,
with when each region's first and last ListDynamicImage and GetVideoList calls were admitted (seconds on
the service's clock). With ``"accounts": N`` it serves N accounts side by side at one endpoint, each with
the keys of ``account_keys(N)`` and its own catalog and limits (the config's); the counters are then per
account, with the same first and last times.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from localvod import LocalVodAccount, LocalVodService, ServiceConfig

KEY_ID = "bench-access-key-id"
KEY_SECRET = "bench-access-key-secret"


def account_keys(accounts: int) -> list[tuple[str, str]]:
    """The (AccessKeyId, secret) of each of ``accounts`` accounts served side by side, the first one's the usual."""
    return [(KEY_ID, KEY_SECRET)] + [(f"bench-account-{n}-key-id", f"bench-account-{n}-secret") for n in range(1, accounts)]


class Service:
    """A running service: its ``endpoint``, and once stopped, its counters in ``stats``."""

    def __init__(self, endpoint: str):
        self.endpoints: dict[str, str] = json.loads(endpoint) if endpoint.startswith("{") else {}
        self.endpoint = endpoint if not self.endpoints else next(iter(self.endpoints.values()))
        self.stats: dict[str, object] = {}


@contextmanager
def service(**config: object) -> Iterator[Service]:
    """Starts the service in a child process; yields it once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.serve", json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = proc.stdout.readline().strip()
        if not endpoint.startswith(("http", "{")):
            raise RuntimeError(f"the local VOD service did not start: {endpoint!r}")
        running = Service(endpoint)
        yield running
    finally:
        proc.stdin.close()
        tail = proc.stdout.read().strip()
        proc.wait(timeout=30)
    running.stats = json.loads(tail) if tail else {}


def main() -> None:
    given = json.loads(sys.argv[1])
    regions, shared = given.pop("regions", None), given.pop("shared_limits", True)
    others = {
        f"account-{n}": {"access_key_id": key_id, "access_key_secret": secret}
        for n, (key_id, secret) in enumerate(account_keys(given.pop("accounts", 1))[1:], start=1)
    }
    config = ServiceConfig(access_key_id=KEY_ID, access_key_secret=KEY_SECRET, accounts=others, **given)
    if regions:
        account = LocalVodAccount(config, regions, shared_limits=shared).start()
        print(json.dumps(account.endpoints), flush=True)
        sys.stdin.read()
        account.stop()
        print(json.dumps({region: _region_stats(svc) for region, svc in account.services.items()}), flush=True)
        return
    svc = LocalVodService(config).start()
    ready_cpu_s = _cpu_s()  # made the catalogs, started listening
    print(svc.endpoint, flush=True)
    sys.stdin.read()
    svc.stop()
    stats = {**svc.stats, "cpu_s": _cpu_s() - ready_cpu_s, "times": _times(svc)}
    if svc.accounts:
        stats["accounts"] = {"account-0": _region_stats(svc)} | {n: _region_stats(a) for n, a in svc.accounts.items()}
    print(json.dumps(stats), flush=True)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _region_stats(svc: LocalVodService) -> dict[str, object]:
    return {"stats": svc.stats, **_times(svc)}


def _times(svc: LocalVodService) -> dict[str, float | None]:
    """When the first and last ListDynamicImage and GetVideoList calls were admitted (the service's clock)."""
    times = {action: svc.answer_times(action) for action in ("ListDynamicImage", "GetVideoList")}
    return {
        **{f"{action}_first": t[0] if t else None for action, t in times.items()},
        **{f"{action}_last": t[-1] if t else None for action, t in times.items()},
    }


if __name__ == "__main__":
    main()
