"""The receiver of VOD's HTTP callbacks: checks each one's signature, keeps its event in the inbox, and only
then answers 200.

VOD counts a callback as delivered on a 200 within 5 s and tries at most 3 times, about a second apart,
before dropping it; so the event is made durable before the answer (a receiver killed in between
answered nothing, and VOD's next try is kept once, the inbox deduplicating it). With keys configured, a
callback must carry ``X-VOD-TIMESTAMP`` and ``X-VOD-SIGNATURE = md5("{callback URL}|{timestamp}|{key}")``,
the URL exactly as configured in VOD. A bad or stale signature gets 403 and a line in the log, and is not
stored. During a key rotation both keys are accepted.

The receiver faces the internet, so what a client may take of it is bounded (``Limits``): connections
open at once, time to send the headers and then the body, bytes of headers and of body (a body's length
is checked before any of it is read), requests and idle time on a kept-alive connection. Connections are
served by one event loop (h11 parses HTTP), so a stalled or slow client holds a socket and a few
kilobytes, never a thread; only whole, bounded requests reach the few threads that make events durable.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import h11

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
            raise ConfigurationError(
                "VOD_CALLBACK_URL is not set: give the callback URL exactly as configured in VOD (it is part of the signature)"
            )
        if not self.keys or not all(self.keys):
            raise ConfigurationError(
                "VOD_CALLBACK_KEYS is empty: give the AuthKey configured in VOD (and the previous one during a rotation)"
            )

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


@dataclass(frozen=True)
class Limits:
    """What one client may take of the receiver. VOD's own callbacks are small, sent at once, and given up
    on after 5 s, so none of these ever touches one."""

    connections: int = 2048  # open at once; past it a new connection is answered 503 and closed
    header_timeout_s: float = 10.0  # to send a request's line and headers (also: idle time between requests)
    body_timeout_s: float = 10.0  # to send the body, once the headers are in
    send_timeout_s: float = 10.0  # to take the answer
    max_header_bytes: int = 16_384
    max_body: int = MAX_BODY
    requests_per_connection: int = 100
    workers: int = 8  # events made durable at once


class _Refused(Exception):
    """A request answered with an error status, after which the connection is closed."""

    def __init__(self, status: int, text: str, kind: str):
        super().__init__(text)
        self.status, self.text, self.kind = status, text, kind


class CallbackReceiver:
    """An HTTP server on ``host``:``port`` (0: a free port) that keeps VOD's callbacks in ``inbox``.

    Any POST path is a callback (VOD posts to the URL configured; one receiver can serve several regions'
    configurations). ``GET /health`` answers 200 for probes. ``stats`` counts what became of requests:
    kept, repeated, refused (signature), rejected (not an event), failed, and each kind of request the
    limits turned away (timeout, too_large, bad_request, length_required, busy).
    """

    def __init__(
        self,
        inbox: Inbox,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth: CallbackAuth | None = None,
        clock: Callable[[], float] = time.time,
        limits: Limits = Limits(),
    ):
        self.inbox, self.auth, self.clock, self.limits = inbox, auth, clock, limits
        self.stats: Counter[str] = Counter()
        self._open = 0
        self._workers = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="vod-callback")
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            # Each connection's read buffer pauses the socket past 2 x 16 KiB: a flood waits in the kernel
            asyncio.start_server(self._connection, host, port, backlog=1024, limit=16_384)
        )
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> CallbackReceiver:
        self._thread = threading.Thread(target=self._loop.run_forever, name="vod-callbacks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening, ends every open connection, and waits for the callbacks being kept."""
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
        else:
            self._loop.run_until_complete(self._close())
        self._workers.shutdown(wait=True)
        self._loop.close()

    async def _close(self) -> None:
        self._server.close()
        connections = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def receive(self, headers: Mapping[str, str], body: bytes, client: str) -> tuple[int, str]:
        """The status and text to answer a callback with (``headers`` by lower-case name), once its event is
        durable (or refused)."""
        if self.auth is not None:
            refusal = self.auth.refusal(headers.get("x-vod-timestamp"), headers.get("x-vod-signature"), self.clock())
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

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = (writer.get_extra_info("peername") or ("?",))[0]
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        self._open += 1
        try:
            if self._open > self.limits.connections:
                self.stats["busy"] += 1
                await self._send(writer, conn, 503, "Busy: too many connections", close=True)
                return
            for _ in range(self.limits.requests_per_connection):
                try:
                    keep_alive = await self._exchange(conn, reader, writer, client)
                except _Refused as refused:
                    self.stats[refused.kind] += 1
                    log.debug("Turned away a request from %s: %s", client, refused.text)
                    if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        await self._send(writer, conn, refused.status, refused.text, close=True)
                    return
                if not keep_alive or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, TimeoutError, h11.LocalProtocolError):
            pass  # the client went away or would not take the answer: nothing more to say to it
        finally:
            self._open -= 1
            writer.close()

    async def _exchange(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str) -> bool:
        """Reads one request within the limits and answers it; returns whether the connection may go on."""
        limits = self.limits
        request = await self._next_event(conn, reader, limits.header_timeout_s, "its headers")
        if request is None:  # closed between requests
            return False
        if not isinstance(request, h11.Request):
            raise _Refused(400, "Bad request", "bad_request")
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers}
        path = request.target.decode("latin-1").split("?")[0]
        if request.method == b"GET":
            await self._drain_request(conn, reader)
            found = path == "/health"
            await self._send(writer, conn, 200 if found else 404, "OK" if found else "Not found")
            return True
        if request.method != b"POST":
            raise _Refused(405, "Only POST (a callback) and GET /health", "bad_request")
        if "transfer-encoding" in headers or "content-length" not in headers:
            raise _Refused(411, "Length required: a callback is sent with a Content-Length", "length_required")
        size = int(headers["content-length"])  # h11 has checked that it is a whole number
        if size > limits.max_body:
            raise _Refused(413, f"An event is at most {limits.max_body} bytes", "too_large")
        body = bytearray()
        deadline = asyncio.get_running_loop().time() + limits.body_timeout_s
        while True:
            event = await self._next_event(conn, reader, deadline - asyncio.get_running_loop().time(), "its body", body=True)
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise _Refused(400, "The body ended before its Content-Length", "bad_request")
        status, text = await asyncio.get_running_loop().run_in_executor(self._workers, self.receive, headers, bytes(body), client)
        await self._send(writer, conn, status, text)
        return True

    async def _next_event(
        self, conn: h11.Connection, reader: asyncio.StreamReader, timeout: float, what: str, *, body: bool = False
    ) -> h11.Event | None:
        """The next event of the request, reading within ``timeout`` seconds; None if the client closed
        before a new request began."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as err:
                if body:
                    raise _Refused(400, "The body ended before its Content-Length", "bad_request") from None
                status = 431 if "incomplete event" in str(err) or "too long" in str(err) else err.error_status_hint
                raise _Refused(status, f"Bad request: {err}", "too_large" if status == 431 else "bad_request") from None
            if event is h11.NEED_DATA:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    data = await asyncio.wait_for(reader.read(16_384), remaining)
                except TimeoutError:
                    raise _Refused(408, f"Request timeout: {what} took too long", "timeout") from None
                conn.receive_data(data)  # b"": the client closed its side
                continue
            if isinstance(event, h11.ConnectionClosed):
                if body:
                    raise _Refused(400, "The body ended before its Content-Length", "bad_request")
                return None
            if not isinstance(event, h11.Event):  # h11.PAUSED: asked for more than one request holds
                raise _Refused(400, "Bad request", "bad_request")
            return event

    async def _drain_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> None:
        """Reads to the end of a request that has no body to keep (a GET)."""
        deadline = asyncio.get_running_loop().time() + self.limits.body_timeout_s
        while not isinstance(
            await self._next_event(conn, reader, deadline - asyncio.get_running_loop().time(), "its body", body=True), h11.EndOfMessage
        ):
            pass

    async def _send(self, writer: asyncio.StreamWriter, conn: h11.Connection, status: int, text: str, *, close: bool = False) -> None:
        data = text.encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
        if close:
            headers.append(("Connection", "close"))
        writer.write(
            conn.send(h11.Response(status_code=status, headers=headers)) + conn.send(h11.Data(data=data)) + conn.send(h11.EndOfMessage())
        )
        await asyncio.wait_for(writer.drain(), self.limits.send_timeout_s)
