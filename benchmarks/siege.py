"""A crowd of slow and hostile clients held open against the events receiver, on loopback only, bounded in
count and time: stalled headers, bodies sent a byte at a time, lengths the receiver must refuse (negative,
then a flood), and garbage. A client the receiver closes connects again, so the crowd stays its size."""

from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import threading
import time

KINDS = ("stalled_headers", "slow_body", "oversized", "garbage")


class Crowd:
    """``size`` hostile connections to ``host``:``port``, kept open (reconnecting) until ``stop``."""

    def __init__(self, host: str, port: int, size: int, *, seconds_max: float = 300.0):
        self.address, self.size, self.seconds_max = (host, port), size, seconds_max
        self.open = 0
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crowd", daemon=True)

    def __enter__(self) -> Crowd:
        self._thread.start()
        deadline = time.monotonic() + 30
        while self.open < self.size and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        kinds = itertools.cycle(KINDS)
        clients: dict[socket.socket, str] = {}
        ends = time.monotonic() + self.seconds_max

        def connect(kind: str) -> None:
            sock = socket.create_connection(self.address, timeout=5)
            sock.setblocking(False)
            clients[sock] = kind
            selector.register(sock, selectors.EVENT_READ)
            self._opening(sock, kind)

        for _ in range(self.size):
            connect(next(kinds))
        self.open = len(clients)
        last_trickle = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < ends:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(65_536)
                except OSError:
                    data = b""
                if not data:  # the receiver closed it (after answering): the client comes again
                    kind = clients.pop(sock)
                    selector.unregister(sock)
                    sock.close()
                    self.reconnects += 1
                    with contextlib.suppress(OSError):
                        connect(kind)
            if time.monotonic() - last_trickle >= 0.5:  # the slow bodies go on, a byte at a time
                last_trickle = time.monotonic()
                for sock, kind in list(clients.items()):
                    with contextlib.suppress(OSError):
                        sock.send(b"x" if kind == "slow_body" else b"y" * 65_536 if kind == "oversized" else b"")
            self.open = len(clients)
        for sock in clients:
            sock.close()
        selector.close()

    @staticmethod
    def _opening(sock: socket.socket, kind: str) -> None:
        head = b"POST /vod/events HTTP/1.1\r\nHost: receiver\r\n"
        opening = {
            "stalled_headers": head + b"X-Waiting: ",
            "slow_body": head + b"Content-Length: 60000\r\n\r\n{",
            "oversized": head + b"Content-Length: -1\r\n\r\n" + b"z" * 65_536,
            "garbage": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(256)),
        }[kind]
        with contextlib.suppress(OSError):
            sock.send(opening)
