"""Delivering the local VOD service's events: to callable sinks at once, and to an HTTP callback the way VOD
makes it (vod-api.md, "Around ListDynamicImage"; vod-discovery-events.md, section 5).

A callback POSTs the event's JSON, signed when an auth key is set (``X-VOD-TIMESTAMP``, and
``X-VOD-SIGNATURE`` = md5 of "{callback URL}|{timestamp}|{key}", the URL as configured). It is delivered on a
200 within 5 s; otherwise it is tried again, 3 attempts in all about ``retry_s`` apart, then dropped.
Callbacks go out from background workers, so whoever emits never waits for the receiver. A ``loss_rate``
loses a share of them outright (never sent), drawn from ``loss_seed`` and the event: the sinks still get
every event (an MNS queue is the reliable way).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from localvod.events import event_key

log = logging.getLogger(__name__)

CALLBACK_ATTEMPTS = 3
CALLBACK_TIMEOUT_S = 5.0  # a 200 later than this does not count
_CALLBACK_COUNTS = ("delivered", "retried", "dropped", "lost")

Sink = Callable[[dict[str, Any]], None]


def callback_signature(callback_url: str, timestamp: int | str, auth_key: str) -> str:
    """X-VOD-SIGNATURE: md5("{callback URL}|{timestamp}|{key}") in hex, the URL hashed as configured."""
    return hashlib.md5(f"{callback_url}|{timestamp}|{auth_key}".encode()).hexdigest()


def callback_lost(event: dict[str, Any], loss_seed: int, loss_rate: float) -> bool:
    """Whether the callback of ``event`` is lost (never sent): the same answer on every run."""
    if loss_rate <= 0.0:
        return False
    digest = hashlib.md5(f"{loss_seed}:callback-loss:{event_key(event)}".encode()).digest()
    return int.from_bytes(digest[:7], "big") < loss_rate * 2**56


@dataclass(order=True)
class _Attempt:
    due: float  # time.monotonic()
    seq: int
    attempt: int = field(compare=False)
    body: bytes = field(compare=False, repr=False)
    region: str = field(compare=False)


class Notifier:
    """Hands each published event to every sink (in the publisher's thread, in order) and, with a
    ``callback_url``, to the HTTP callback's ``workers``. Counts what happened to them, per region."""

    def __init__(
        self,
        callback_url: str | None = None,
        *,
        auth_key: str | None = None,
        retry_s: float = 1.0,
        loss_rate: float = 0.0,
        loss_seed: int = 0,
        workers: int = 4,
    ):
        self.callback_url, self.auth_key = callback_url, auth_key
        self.retry_s, self.loss_rate, self.loss_seed, self.workers = retry_s, loss_rate, loss_seed, workers
        self._sinks: list[Sink] = []
        self._cond = threading.Condition()
        self._queue: list[_Attempt] = []  # attempts due, soonest first
        self._seq = itertools.count()
        self._pending = 0  # callbacks neither delivered nor dropped yet
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._counts: dict[str, Counter[str]] = {}  # region -> counter

    def add_sink(self, sink: Sink) -> None:
        """``sink(event)`` is called with every event published from now on (it must not change it)."""
        self._sinks.append(sink)

    def publish(self, event: dict[str, Any], region: str = "") -> None:
        """Deliver one event: to the sinks now, to the HTTP callback soon."""
        self._count(region, "events")
        self._count(region, f"events.{event['EventType']}")
        for sink in list(self._sinks):
            try:
                sink(event)
            except Exception:
                log.exception("an event sink failed on %s", event.get("EventType"))
                self._count(region, "sink_errors")
        if self.callback_url is None:
            return
        if callback_lost(event, self.loss_seed, self.loss_rate):
            self._count(region, "callbacks.lost")
            return
        body = json.dumps(event, separators=(",", ":")).encode()
        with self._cond:
            self._pending += 1
            heapq.heappush(self._queue, _Attempt(time.monotonic(), next(self._seq), 1, body, region))
            self._start_workers()
            self._cond.notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every callback published so far was delivered or dropped; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Stop the workers (after the attempts they are making); callbacks not yet sent are dropped."""
        with self._cond:
            self._closing = True
            threads, self._threads = self._threads, []
            self._cond.notify_all()
        for thread in threads:
            thread.join(timeout=CALLBACK_TIMEOUT_S + 1)
        with self._cond:
            for attempt in self._queue:
                self._count(attempt.region, "callbacks.dropped")
            self._pending -= len(self._queue)
            self._queue.clear()
            self._closing = False
            self._cond.notify_all()

    def stats(self, region: str | None = None) -> dict[str, Any]:
        """Events published (and by type), sink errors, and callbacks delivered, retried (attempts after the
        first), dropped (after the last attempt) and lost (never sent): of one region, or of all."""
        with self._cond:
            counts = Counter(self._counts.get(region, Counter())) if region is not None else sum(self._counts.values(), Counter())
        return {
            "events": counts["events"],
            "events_by_type": {k.split(".", 1)[1]: n for k, n in sorted(counts.items()) if k.startswith("events.")},
            "sink_errors": counts["sink_errors"],
            "callbacks": {name: counts[f"callbacks.{name}"] for name in _CALLBACK_COUNTS},
        }

    def _count(self, region: str, name: str) -> None:
        with self._cond:
            self._counts.setdefault(region, Counter())[name] += 1

    # --- the HTTP callback's workers ------------------------------------------------------------------------

    def _start_workers(self) -> None:
        """Under the lock: start the workers the first time they are needed (again after close)."""
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name=f"localvod-callback-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        with requests.Session() as session:
            session.trust_env = False  # a loopback receiver: no proxy from the environment
            while (attempt := self._next()) is not None:
                self._settle(attempt, self._send(session, attempt.body))

    def _next(self) -> _Attempt | None:
        """The next attempt once it is due; None when closing."""
        with self._cond:
            while not self._closing:
                if not self._queue:
                    self._cond.wait()
                elif (wait := self._queue[0].due - time.monotonic()) > 0:
                    self._cond.wait(wait)
                else:
                    return heapq.heappop(self._queue)
            return None

    def _send(self, session: requests.Session, body: bytes) -> bool:
        assert self.callback_url is not None
        headers = {"Content-Type": "application/json"}
        if self.auth_key:
            timestamp = str(int(time.time()))
            headers["X-VOD-TIMESTAMP"] = timestamp
            headers["X-VOD-SIGNATURE"] = callback_signature(self.callback_url, timestamp, self.auth_key)
        started = time.monotonic()
        try:
            answer = session.post(self.callback_url, data=body, headers=headers, timeout=CALLBACK_TIMEOUT_S, allow_redirects=False)
        except requests.RequestException:
            return False
        return answer.status_code == 200 and time.monotonic() - started <= CALLBACK_TIMEOUT_S

    def _settle(self, attempt: _Attempt, delivered: bool) -> None:
        with self._cond:
            if delivered:
                self._count(attempt.region, "callbacks.delivered")
                self._pending -= 1
            elif attempt.attempt < CALLBACK_ATTEMPTS:
                self._count(attempt.region, "callbacks.retried")
                retry = _Attempt(time.monotonic() + self.retry_s, next(self._seq), attempt.attempt + 1, attempt.body, attempt.region)
                heapq.heappush(self._queue, retry)
            else:
                self._count(attempt.region, "callbacks.dropped")
                self._pending -= 1
            self._cond.notify_all()
