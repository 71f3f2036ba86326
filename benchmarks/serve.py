"""The local VOD service in a process of its own, so its CPU and memory are never counted as the client's.

``python -m benchmarks.serve '{"calls_per_second": 100, ...}'`` prints the endpoint on one line, serves
until its standard input closes, then prints the service's counters as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.vod.local import LocalVodService, ServiceConfig

KEY_ID = "bench-access-key-id"
KEY_SECRET = "bench-access-key-secret"


class Service:
    """A running service: its ``endpoint``, and once stopped, its counters in ``stats``."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
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
        if not endpoint.startswith("http"):
            raise RuntimeError(f"the local VOD service did not start: {endpoint!r}")
        running = Service(endpoint)
        yield running
    finally:
        proc.stdin.close()
        tail = proc.stdout.read().strip()
        proc.wait(timeout=30)
    running.stats = json.loads(tail) if tail else {}


def main() -> None:
    config = ServiceConfig(access_key_id=KEY_ID, access_key_secret=KEY_SECRET, **json.loads(sys.argv[1]))
    svc = LocalVodService(config).start()
    print(svc.endpoint, flush=True)
    sys.stdin.read()
    svc.stop()
    print(json.dumps(svc.stats), flush=True)


if __name__ == "__main__":
    main()
