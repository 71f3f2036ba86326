"""The receiver of VOD's HTTP callbacks: checks each one's signature, keeps its event in the inbox, and only
then answers 200.

VOD counts a callback as delivered on a 200 within 5 s and tries at most 3 times, about a second apart,
before dropping it; so the event is made durable before the answer (a receiver killed in between
answered nothing, and VOD's next try is kept once, the inbox deduplicating it). With keys configured, a
callback must carry ``X-VOD-TIMESTAMP`` and ``X-VOD-SIGNATURE = md5("{callback URL}|{timestamp}|{key}")``,
the URL exactly as configured in VOD. A bad or stale signature gets 403 and a line in the log, and is not
stored. During a key rotation both keys are accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.errors import ConfigurationError
from pipeline.events.inbox import BadEvent, Inbox, parse_event

log = logging.getLogger(__name__)

MAX_BODY = 65_536  # VOD's largest event message
DEFAULT_MAX_AGE_S = 300.0  # "for example, 5 minutes" (VOD's callback authentication guide)


def callback_signature(url: str, timestamp: str, key: str) -> str:
    return hashlib.md5(f"{url}|{timestamp}|{key}".encode()).hexdigest()


@dataclass(frozen=True)
class CallbackAuth:
    """How callbacks are authenticated: the callback URL as configured in VOD, and the keys accepted (the
    current one first; the previous one too while a rotation is under way)."""

    url: str
    keys: tuple[str, ...] = field(repr=False)
    max_age_s: float = DEFAULT_MAX_AGE_S

    def __post_init__(self) -> None:
        if not self.url:
            raise ConfigurationError("VOD_CALLBACK_URL is not set: give the callback URL exactly as configured in VOD (it is part of the signature)")
        if not self.keys or not all(self.keys):
            raise ConfigurationError("VOD_CALLBACK_KEYS is empty: give the AuthKey configured in VOD (and the previous one during a rotation)")

    def refusal(self, timestamp: str | None, signature: str | None, now: float) -> str | None:
        """Why a callback with these headers is refused, or None when it is authentic and fresh."""
        if not timestamp or not signature:
            return "no X-VOD-TIMESTAMP or X-VOD-SIGNATURE header"
        try:
            age = now - int(timestamp)
        except ValueError:
            return "X-VOD-TIMESTAMP is not a unix time"
        if abs(age) > self.max_age_s:
            return f"stale: signed {age:.0f} s from now, more than {self.max_age_s:.0f} s"
        given = signature.strip().lower()
        if not any(hmac.compare_digest(given, callback_signature(self.url, timestamp, key)) for key in self.keys):
            return "the signature matches no configured key"
        return None


class CallbackReceiver:
    """An HTTP server on ``host``:``port`` (0: a free port) that keeps VOD's callbacks in ``inbox``.

    Any POST path is a callback (VOD posts to the URL configured; one receiver can serve several regions'
    configurations). ``GET /health`` answers 200 for probes.
    """

    def __init__(
        self,
        inbox: Inbox,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth: CallbackAuth | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.inbox, self.auth, self.clock = inbox, auth, clock
        self.stats: Counter[str] = Counter()
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CallbackReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="vod-callbacks", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def receive(self, headers: Any, body: bytes, client: str) -> tuple[int, str]:
        """The status and text to answer a callback with, once its event is durable (or refused)."""
        if self.auth is not None:
            refusal = self.auth.refusal(headers.get("X-VOD-TIMESTAMP"), headers.get("X-VOD-SIGNATURE"), self.clock())
            if refusal:
                self.stats["refused"] += 1
                log.warning("Refused a callback from %s: %s", client, refusal)
                return 403, "Forbidden"
        try:
            event = parse_event(body)
        except BadEvent as err:
            self.inbox.reject(body, channel="http", reason=str(err))
            self.stats["rejected"] += 1
            log.warning("Kept a callback from %s that is not a VOD event (%s) among the rejected", client, err)
            return 400, f"Not a VOD event: {err}"
        try:
            new = self.inbox.add(event, channel="http")
        except Exception:  # noqa: BLE001 - any failure to make it durable: VOD tries again
            self.stats["failed"] += 1
            log.exception("Could not keep a %s callback; answered 500 so VOD tries again", event.get("EventType"))
            return 500, "Not kept"
        self.stats["kept" if new else "repeated"] += 1
        return 200, "OK"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: CallbackReceiver):
        self.receiver = receiver
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(200 if self.path.split("?")[0] == "/health" else 404, "OK" if self.path.startswith("/health") else "Not found")

    def do_POST(self) -> None:  # noqa: N802
        size = int(self.headers.get("Content-Length") or 0)
        if size > MAX_BODY:
            self._answer(413, f"An event is at most {MAX_BODY} bytes")
            return
        body = self.rfile.read(size)
        status, text = self.server.receiver.receive(self.headers, body, self.client_address[0])
        self._answer(status, text)

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
