"""The callback receiver on the open internet: every kind of hostile or broken request gets a clear answer
(400, 408, 411, 413, 431) before anything is buffered past the limits, none reaches the inbox, and with a
crowd of stalled and slow connections open a signed callback from VOD is still answered 200."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import pytest

from pipeline.events.callbacks import CallbackAuth, CallbackReceiver, Limits, callback_signature
from pipeline.events.inbox import Inbox
from tests.test_callbacks import KEY, URL, event, post

pytestmark = pytest.mark.server

QUICK = Limits(header_timeout_s=0.5, body_timeout_s=0.5)


@pytest.fixture
def receiver(tmp_path):
    with Inbox(tmp_path / "inbox.sqlite") as inbox, CallbackReceiver(inbox, auth=CallbackAuth(URL, (KEY,)), limits=QUICK) as receiver:
        yield receiver


def connect(receiver: CallbackReceiver) -> socket.socket:
    host, port = receiver.endpoint.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def signed_headers() -> str:
    stamp = str(int(time.time()))
    return f"X-VOD-TIMESTAMP: {stamp}\r\nX-VOD-SIGNATURE: {callback_signature(URL, stamp, KEY)}\r\n"


def status_of(sock: socket.socket, *, after: bytes = b"", shut: bool = False) -> int | None:
    """Sends ``after``, optionally closes the sending side, and reads the answer's status (None: closed
    without one)."""
    if after:
        with contextlib.suppress(OSError):
            sock.sendall(after)
    if shut:
        sock.shutdown(socket.SHUT_WR)
    answer = b""
    with contextlib.suppress(OSError):
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1") else None


def request(length: str | None, *, extra: str = "") -> bytes:
    head = "POST /vod?app=stickers HTTP/1.1\r\nHost: receiver\r\n" + signed_headers() + extra
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + "\r\n").encode()


def nothing_kept(receiver: CallbackReceiver) -> bool:
    return len(receiver.inbox) == 0 and receiver.inbox.rejected() == []


def test_a_negative_length_is_refused_before_its_body_is_read(receiver):
    with connect(receiver) as sock:
        assert status_of(sock, after=request("-1") + b"x" * 1_000_000) == 400
    assert nothing_kept(receiver)


@pytest.mark.parametrize(
    ("length", "extra", "status"),
    [
        ("abc", "", 400),
        (None, "", 411),  # no length at all
        (None, "Transfer-Encoding: chunked\r\n", 411),
        ("10000000", "", 413),  # refused from its headers, before a byte of the body
        ("12, 13", "", 400),
    ],
    ids=["not-a-number", "missing", "chunked", "too-large", "two-different-lengths"],
)
def test_a_length_that_is_not_one_whole_number_within_the_cap_gets_a_clear_answer(receiver, length, extra, status):
    with connect(receiver) as sock:
        assert status_of(sock, after=request(length, extra=extra)) == status
    assert nothing_kept(receiver)


def test_a_body_shorter_than_its_length_is_refused_whether_the_client_closes_or_stalls(receiver):
    with connect(receiver) as sock:
        assert status_of(sock, after=request("100") + b'{"EventType"', shut=True) == 400
    with connect(receiver) as sock:
        assert status_of(sock, after=request("100") + b'{"EventType"') == 408  # after body_timeout_s
    assert nothing_kept(receiver)


def test_stalled_headers_garbage_and_oversized_headers_are_turned_away(receiver):
    with connect(receiver) as sock:
        assert status_of(sock, after=b"POST /vod HTTP/1.1\r\nHost: rec") == 408  # after header_timeout_s
    with connect(receiver) as sock:
        assert status_of(sock, after=b"\x16\x03\x01\x02\x00garbage\r\n\r\n") == 400
    with connect(receiver) as sock:
        assert status_of(sock, after=b"POST /vod HTTP/1.1\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n") == 431
    assert nothing_kept(receiver)
    assert receiver.stats["timeout"] == 1 and receiver.stats["bad_request"] == 1 and receiver.stats["too_large"] == 1


def test_a_signed_callback_is_answered_while_a_hundred_hostile_connections_are_open(receiver):
    hostile = []
    try:
        for n in range(100):
            sock = connect(receiver)
            kind = n % 4
            if kind == 0:
                sock.sendall(b"POST /vod HTTP/1.1\r\nHost: rec")  # headers never finished
            elif kind == 1:
                sock.sendall(request("60000") + b"{")  # a body that never comes
            elif kind == 2:
                sock.sendall(request("-1") + b"x" * 100_000)
            else:
                sock.sendall(b"\x00\xff garbage")
            hostile.append(sock)
        answer = post(receiver, event(1))
        assert answer.status_code == 200
    finally:
        for sock in hostile:
            sock.close()
    assert [e.video_id for e in receiver.inbox.since(0)] == ["video0001"]  # only the signed callback
    assert receiver.inbox.rejected() == []


def test_a_kept_alive_connection_serves_several_callbacks_then_is_closed_when_idle(receiver):
    body = json.dumps(event(2)).encode()
    with connect(receiver) as sock:
        for _ in range(3):
            sock.sendall(request(str(len(body))) + body)
            assert status_of(sock) == 200
        time.sleep(QUICK.header_timeout_s * 2)
        assert status_of(sock) in (408, None)  # idle past the limit: closed
    assert len(receiver.inbox) == 1


def test_past_its_connections_the_receiver_answers_busy_at_once_and_serves_again_when_they_go(tmp_path):
    with (
        Inbox(tmp_path / "inbox.sqlite") as inbox,
        CallbackReceiver(inbox, auth=CallbackAuth(URL, (KEY,)), limits=Limits(connections=5)) as receiver,
    ):
        stalled = [connect(receiver) for _ in range(5)]
        for sock in stalled:
            sock.sendall(b"POST /vod HTTP/1.1\r\n")
        time.sleep(0.2)
        with connect(receiver) as sock:
            assert status_of(sock, after=b"GET /health HTTP/1.1\r\nHost: r\r\n\r\n") == 503
        for sock in stalled:
            sock.close()
        time.sleep(0.2)
        assert post(receiver, event(1)).status_code == 200
        assert receiver.stats["busy"] == 1 and len(inbox) == 1
