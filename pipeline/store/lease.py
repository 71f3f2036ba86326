"""One writer per snapshot day: a run holds the day's lease while it writes the day's answers or its lake
partitions, so two runs racing on the same day (two machines, two Dagster instances, the CLI beside a
scheduled run) cannot both write it. The second one stops at once, saying who holds the day.

On disk the lease is an exclusive ``flock`` on ``raw/snapshot_date=…/writer.lease``: the kernel drops it when
the holder dies, however it dies. An object store has no locks, so there the lease is an object created only
if absent (``If-None-Match: *``), naming its holder and when it expires. The holder renews it a few times
per period, each renewal a PUT conditional on the ETag it last wrote (``If-Match``); a run that finds an
expired lease (its holder was killed) takes it over the same way, so of two runs taking over at once one
wins. A holder whose renewal fails has lost the day and raises ``DayLeaseLost`` before its next commit.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import threading
import time
from types import TracebackType
from typing import IO

from pipeline.errors import PipelineError
from pipeline.store import objects
from pipeline.store.layout import Layout

DEFAULT_LEASE_S = 60.0


class DayBusy(PipelineError):
    """Another run holds the day: it is writing the day's answers or partitions."""


class DayLeaseLost(PipelineError):
    """The run's lease on the day expired and another run took it: this run must not commit."""


class DayLease:
    """The lease on one snapshot day (use as a context manager, or ``acquire``/``release``)."""

    def __init__(self, layout: Layout, day: dt.date, *, run_id: str | None = None, ttl_s: float | None = None):
        self.path = layout.raw_dir(day) / "writer.lease"
        self.day = day
        self.ttl_s = ttl_s or layout.lease_s
        self.holder = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid()}
        self._file: IO[str] | None = None
        self._etag: str | None = None
        self._lost: str | None = None
        self._renewed_at = 0.0
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> DayLease:
        if objects.is_remote(self.path):
            self._acquire_remote()
        else:
            self._acquire_local()
        return self

    def check(self) -> None:
        """Raises DayLeaseLost if another run took the day, or could have (the lease went unrenewed for
        its whole period): call it before committing."""
        if self._renewer is not None and self._lost is None and time.time() - self._renewed_at > self.ttl_s:
            self._lost = (
                f"This run's lease on snapshot day {self.day} went unrenewed for {self.ttl_s:.0f} s (the store "
                "could not be reached?), so another run may hold the day: it stops without committing; re-run the day"
            )
        if self._lost:
            raise DayLeaseLost(self._lost)

    def release(self) -> None:
        if self._renewer is not None:
            self._stop.set()
            self._renewer.join()
            self._renewer = None
            if self._lost is None and self._etag is not None:
                current = objects.read_versioned(objects.remote(self.path))
                if current is not None and current[1] == self._etag:
                    objects.remove(self.path)
            self._etag = None
        if self._file is not None:
            self._file.close()  # drops the flock
            self._file = None

    def _acquire_local(self) -> None:
        path = objects.local(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the lease's life
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = _parse(file.read())
            file.close()
            raise DayBusy(self._busy(holder, None)) from None
        file.seek(0)
        file.truncate()
        file.write(json.dumps(self.holder) + "\n")
        file.flush()
        self._file = file

    def _acquire_remote(self) -> None:
        body = self._body()
        self._etag = objects.create(self.path, body)
        if self._etag is None:
            current = objects.read_versioned(objects.remote(self.path))
            if current is None:  # released meanwhile: try once more
                self._etag = objects.create(self.path, body)
            else:
                held, etag = _parse(current[0].decode("utf-8", "replace")), current[1]
                expires = _expiry(held)
                if expires is not None and expires > time.time():
                    raise DayBusy(self._busy(held, expires))
                self._etag = objects.replace_if(objects.remote(self.path), body, etag)  # None: another run took it over first
            if self._etag is None:
                raise DayBusy(self._busy(None, None))
        self._renewed_at = time.time()
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{self.day}", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            body, sent = self._body(), time.time()
            try:
                renewed = objects.replace_if(objects.remote(self.path), body, self._etag or "")
            except Exception:  # noqa: BLE001 - a store hiccup: try again at the next beat, the lease still runs
                continue
            if renewed is not None:
                self._etag, self._renewed_at = renewed, sent
            else:
                self._lost = (
                    f"This run's lease on snapshot day {self.day} expired and another run took the day: "
                    "it stops without committing; re-run the day"
                )
                return

    def _body(self) -> bytes:
        now = time.time()
        payload = {**self.holder, "renewed_at": _iso(now), "expires_at": _iso(now + self.ttl_s)}
        return (json.dumps(payload) + "\n").encode("utf-8")

    def _busy(self, holder: dict | None, expires: float | None) -> str:
        who = "another run"
        if holder:
            run = f"run {holder['run_id']}" if holder.get("run_id") else "a run"
            who = f"{run} (pid {holder.get('pid')} on {holder.get('host')})"
        until = f"; its lease runs until {_iso(expires)} unless renewed" if expires else ""
        return (
            f"Snapshot day {self.day} is being written by {who}{until}: two runs cannot write one day. "
            "Wait for it to finish; if it was killed, its lease lapses by itself and the day can then be re-run."
        )

    def __enter__(self) -> DayLease:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _parse(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _expiry(holder: dict) -> float | None:
    try:
        return dt.datetime.fromisoformat(holder["expires_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")
