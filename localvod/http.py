"""What the local services (VOD, MNS) share as HTTP servers on loopback: keep-alive connections that are
tracked so ``stop`` can close them, quiet logs, and a daemon thread to serve from."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class TrackedServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections (``close_connections`` ends them all) and
    takes a client hanging up mid-answer as routine; ``service`` is what its handlers answer for."""

    daemon_threads = True
    request_queue_size = 256  # the default listen backlog (5) drops bursts of new pooled connections

    def __init__(self, address: tuple[str, int], handler: type[TrackedHandler], service: Any, on_open: Callable[[], None] | None = None):
        self.service = service
        self._on_open = on_open
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def opened(self, conn: socket.socket) -> None:
        with self._open_lock:
            self._open.add(conn)
        if self._on_open is not None:
            self._on_open()

    def closed(self, conn: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(conn)

    @property
    def open_connections(self) -> int:
        with self._open_lock:
            return len(self._open)

    def close_connections(self) -> None:
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is routine here (timeouts, dropped pools, a consumer killed);
        # bugs still show.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class TrackedHandler(BaseHTTPRequestHandler):
    """Keep-alive (every answer carries Content-Length), no Nagle delay, no log lines; registers its
    connection with the server while it is open."""

    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: TrackedServer

    def setup(self) -> None:
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.closed(self.connection)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class Serving:
    """Serves a ``TrackedServer`` from a daemon thread: ``start``, ``stop`` (closing every open connection),
    ``endpoint``, and use as a context manager. A subclass says how to make its server (``_new_server``)
    and what else to wake when stopping (``_stopping_now``); ``_stopping`` is set while it stops, for its
    waits (long polls, slow answers) to end at once."""

    _name = "local"
    _server: TrackedServer | None = None
    _thread: threading.Thread | None = None
    _stopping: threading.Event

    def _new_server(self) -> TrackedServer:
        raise NotImplementedError

    def _stopping_now(self) -> None:
        """Called when stopping, once ``_stopping`` is set: wakes what waits otherwise."""

    def start(self) -> Self:
        """Bind and serve in a daemon thread (a started service is left as it is)."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = self._new_server()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self._name, daemon=True)
        self._thread.start()
        return self

    def wait_until_idle(self, timeout_s: float = 30.0) -> None:
        """Returns once no connection is open, so every call made so far is counted (a client killed mid-call
        leaves its connection to close when the service's answer finds it gone)."""
        deadline = time.monotonic() + timeout_s
        while self._server is not None and self._server.open_connections:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {self._name} service still has connections open after {timeout_s:g} s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and close every open connection (pooled client connections included)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self._stopping_now()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """``http://host:port`` of the running service."""
        if self._server is None:
            raise RuntimeError(f"the {self._name} service is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
