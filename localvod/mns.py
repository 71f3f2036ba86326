"""A local stand-in for Alibaba Cloud MNS queues, over real HTTP/1.1 (keep-alive) on loopback, speaking the wire
protocol of the official SDK (``mns`` of aliyun-mns-sdk); and ``MnsQueueSink``, VOD's side of an MNS callback:
one queue message per event.

Like MNS, it checks ``Authorization: MNS <AccessKeyId>:<signature>`` (HMAC-SHA1 of the SDK's canonical string),
the Date (15 minutes either way) and Content-MD5, and answers errors as the ``<Error>`` document the SDK turns
into ``MNSServerException``. Operations: CreateQueue, SetQueueAttributes, GetQueueAttributes, DeleteQueue,
SendMessage, BatchSendMessage, ReceiveMessage and BatchReceiveMessage (long poll up to 30 s, up to 16
messages), DeleteMessage and BatchDeleteMessage. A received message stays invisible for the queue's
VisibilityTimeout; then it is visible again, to be received with DequeueCount + 1 and a new ReceiptHandle,
the old one no longer deleting it.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from mns.account import Account
from mns.queue import Message

from localvod.http import Serving, TrackedHandler, TrackedServer

log = logging.getLogger(__name__)

API_VERSION = "2015-06-06"
XMLNS = "http://mns.aliyuncs.com/doc/v1/"
MAX_WAIT_SECONDS = 30  # a long poll's longest wait
MAX_BATCH = 16  # messages per batch receive, send or delete
CLOCK_SKEW_S = 900  # a request's Date may be this far from the server's clock

XML_TYPE = "text/xml;charset=utf-8"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# Queue attributes a CreateQueue or SetQueueAttributes may carry, with the range MNS accepts.
_ATTRIBUTE_RANGES = {
    "VisibilityTimeout": (1, 43200),
    "MaximumMessageSize": (1024, 65536),
    "MessageRetentionPeriod": (60, 604800),
    "DelaySeconds": (0, 604800),
    "PollingWaitSeconds": (0, MAX_WAIT_SECONDS),
}
_STATS = ("requests", "auth_errors", "sent", "received", "redelivered", "deleted", "stale_handles", "empty_receives", "injected_errors")


class _MnsError(Exception):
    """An answer with MNS's ``<Error>`` document."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


def _invalid(name: str, low: int, high: int) -> _MnsError:
    return _MnsError(400, "InvalidArgument", f"The value of {name} should between {low} and {high}.")


def _stale_handle() -> _MnsError:
    return _MnsError(400, "ReceiptHandleError", "The receipt handle you provide is not valid.")


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Message:
    message_id: str
    body: str
    body_md5: str
    priority: int
    seq: int
    enqueued_at: float
    visible_at: float
    dequeue_count: int = 0
    first_dequeued_at: float = 0.0
    handle: str | None = None


@dataclass(frozen=True)
class QueuedMessage:
    """A message in a queue of the local service, as it is now (times in epoch milliseconds, as MNS gives them)."""

    message_id: str
    body: str
    body_md5: str
    priority: int
    enqueue_time: int
    first_dequeue_time: int  # 0 until first received
    dequeue_count: int
    next_visible_time: int
    visible: bool


@dataclass
class _Queue:
    name: str
    attributes: dict[str, int]
    created: int = field(default_factory=lambda: int(time.time()))
    modified: int = field(default_factory=lambda: int(time.time()))
    visibility_timeout_s: float = 30.0  # the attribute, or the shorter (fractional) one the service was given
    messages: dict[str, _Message] = field(default_factory=dict)  # by message id, in enqueue order
    handles: dict[str, str] = field(default_factory=dict)  # receipt handle -> message id

    def expire(self, now: float) -> None:
        oldest = now - self.attributes["MessageRetentionPeriod"]
        for message in [m for m in self.messages.values() if m.enqueued_at < oldest]:
            self._forget(message)

    def remove(self, handle: str, now: float) -> None:
        """Deletes the message ``handle`` was given for, if that was its latest receive and it is still invisible."""
        message = self.messages.get(self.handles.get(handle, ""))
        if message is None or message.handle != handle or message.visible_at <= now:
            raise _stale_handle()
        self._forget(message)

    def soonest_visible(self, now: float) -> float | None:
        return min((m.visible_at for m in self.messages.values() if m.visible_at > now), default=None)

    def _forget(self, message: _Message) -> None:
        del self.messages[message.message_id]
        if message.handle is not None:
            self.handles.pop(message.handle, None)


class LocalMnsService(Serving):
    """Local MNS queues: ``start()`` it (or use it as a context manager) and give the SDK its ``endpoint``.

    ``queues`` exist from the start, with ``visibility_timeout`` seconds (fractions allowed, for tests; MNS
    itself takes whole seconds). Only ``access_key_id`` with ``access_key_secret`` signs requests it accepts.
    ``long_poll_scale`` shortens long polls for tests: an empty queue answers a wait of N seconds after
    N * scale (a message arriving still ends the wait at once)."""

    _name = "local MNS"

    def __init__(
        self,
        queues: Iterable[str] = ("vod-events",),
        *,
        access_key_id: str = "local-access-key-id",
        access_key_secret: str = "local-access-key-secret",
        security_token: str | None = None,
        visibility_timeout: float = 30.0,
        long_poll_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if visibility_timeout <= 0:
            raise ValueError(f"visibility_timeout must be > 0, got {visibility_timeout}")
        if not 0 < long_poll_scale <= 1:
            raise ValueError(f"long_poll_scale must be in (0, 1], got {long_poll_scale}")
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self._token = security_token  # temporary (STS) credentials: every request must carry it
        self._address = (host, port)
        self._long_poll_scale = long_poll_scale
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a message sent, deleted or the service stopping
        self._queues: dict[str, _Queue] = {}
        for name in queues:
            queue = _new_queue(name, {"VisibilityTimeout": math.ceil(visibility_timeout)})
            queue.visibility_timeout_s = visibility_timeout
            self._queues[name] = queue
        self._node = secrets.token_hex(8).upper()
        self._seq = 0
        self._injected: list[_MnsError] = []
        self._stats = dict.fromkeys(_STATS, 0)
        self._stopping = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------------

    def _new_server(self) -> TrackedServer:
        return TrackedServer(self._address, _Handler, self)

    def _stopping_now(self) -> None:
        with self._changed:  # long polls end at once
            self._changed.notify_all()

    # --- for tests --------------------------------------------------------------------------------------

    def messages(self, queue: str) -> list[QueuedMessage]:
        """What ``queue`` holds now, visible or not, in the order it was sent."""
        with self._lock:
            now = time.time()
            q = self._queues[queue]
            q.expire(now)
            return [
                QueuedMessage(
                    message_id=m.message_id,
                    body=m.body,
                    body_md5=m.body_md5,
                    priority=m.priority,
                    enqueue_time=_ms(m.enqueued_at),
                    first_dequeue_time=_ms(m.first_dequeued_at),
                    dequeue_count=m.dequeue_count,
                    next_visible_time=_ms(m.visible_at),
                    visible=m.visible_at <= now,
                )
                for m in q.messages.values()
            ]

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters: requests, auth_errors (refused signatures and keys), sent, received
        (messages handed out, redeliveries included), redelivered, deleted, stale_handles (deletes refused with
        ReceiptHandleError), empty_receives (MessageNotExist) and injected_errors."""
        with self._lock:
            return dict(self._stats)

    def inject_errors(self, count: int = 1, *, status: int = 500, code: str = "InternalError", message: str = "Interal error.") -> None:
        """The next ``count`` authenticated requests get this error instead of their answer."""
        with self._lock:
            self._injected.extend(_MnsError(status, code, message) for _ in range(count))

    # --- one request ------------------------------------------------------------------------------------

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Answer:
        request_id = secrets.token_hex(12).upper()
        with self._lock:
            self._stats["requests"] += 1
        try:
            self._authenticate(method, target, headers, body)
            with self._lock:
                if self._injected:
                    self._stats["injected_errors"] += 1
                    raise self._injected.pop(0)
            answer = self._route(method, target, body)
        except _MnsError as err:
            doc = _fields(Code=err.code, Message=err.message, RequestId=request_id, HostId=self._host_id())
            answer = _Answer(err.status, _document("Error", doc))
        answer.headers.update({"x-mns-request-id": request_id, "x-mns-version": API_VERSION})
        return answer

    def _authenticate(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> None:
        authorization = headers.get("authorization")
        if not authorization:
            raise _MnsError(400, "MissingAuthorizationHeader", "Authorization header is required.")
        scheme, _, credential = authorization.partition(" ")
        key_id, _, signature = credential.rpartition(":")
        if scheme != "MNS" or not key_id or not signature:
            raise _MnsError(400, "InvalidAuthorizationHeader", "The Authorization header format is invalid.")
        date = headers.get("date")
        if not date:
            raise _MnsError(400, "MissingDateHeader", "Date header is required.")
        try:
            sent_at = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            raise _MnsError(400, "InvalidDateHeader", "The Date header format is invalid.") from None
        if abs(time.time() - sent_at) > CLOCK_SKEW_S:
            raise _MnsError(408, "TimeExpired", "The http request you sent is expired.")
        content_md5 = headers.get("content-md5", "")
        if body and content_md5 and content_md5 not in _content_md5s(body):
            raise _MnsError(400, "InvalidDegist", "The Content-MD5 you specified is invalid.")
        if key_id != self.access_key_id:
            self._count("auth_errors")
            raise _MnsError(403, "InvalidAccessKeyId", "The AccessKey Id you provided is not exist.")
        if self._token is not None and not hmac.compare_digest(headers.get("security-token", ""), self._token):
            self._count("auth_errors")
            raise _MnsError(403, "InvalidSecurityToken", "The security token you provided is invalid.")
        expected = signature_of(method, target, headers, self._secret)
        if not hmac.compare_digest(expected, signature):
            self._count("auth_errors")
            raise _MnsError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            )

    def _route(self, method: str, target: str, body: bytes) -> _Answer:
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        parts = url.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "queues":
            name = parts[1]
            if method == "PUT" and query.get("metaoverride") == "true":
                return self._set_queue_attributes(name, body)
            if method == "PUT":
                return self._create_queue(name, body)
            if method == "GET":
                return self._get_queue_attributes(name)
            if method == "DELETE":
                return self._delete_queue(name)
        if len(parts) == 3 and parts[0] == "queues" and parts[2] == "messages" and "peekonly" not in query:
            name = parts[1]
            if method == "POST":
                return self._send(name, body)
            if method == "GET" and "numOfMessages" in query:
                count = _int(query["numOfMessages"], "numOfMessages", 1, MAX_BATCH)
                return self._receive(name, count, query.get("waitseconds"), batch=True)
            if method == "GET":
                return self._receive(name, 1, query.get("waitseconds"), batch=False)
            if method == "DELETE" and "ReceiptHandle" in query:
                return self._delete(name, query["ReceiptHandle"])
            if method == "DELETE":
                return self._batch_delete(name, body)
        raise _MnsError(400, "InvalidRequestURL", "Http request URL format invalid (or not served by the local MNS).")

    # --- queues ---------------------------------------------------------------------------------------------

    def _create_queue(self, name: str, body: bytes) -> _Answer:
        given = _queue_attributes(body) if body else {}
        with self._lock:
            existing = self._queues.get(name)
            if existing is not None:
                if any(existing.attributes.get(k) != v for k, v in given.items()):
                    raise _MnsError(409, "QueueAlreadyExist", "The queue you want to create is already exist.")
                return _Answer(204)
            self._queues[name] = _new_queue(name, given)
        return _Answer(201, headers={"Location": f"{self.endpoint}/queues/{name}"})

    def _set_queue_attributes(self, name: str, body: bytes) -> _Answer:
        given = _queue_attributes(body)
        with self._lock:
            queue = self._queue(name)
            queue.attributes.update(given)
            if "VisibilityTimeout" in given:
                queue.visibility_timeout_s = float(given["VisibilityTimeout"])
            queue.modified = int(time.time())
        return _Answer(204)

    def _get_queue_attributes(self, name: str) -> _Answer:
        with self._lock:
            queue = self._queue(name)
            now = time.time()
            queue.expire(now)
            active = sum(m.visible_at <= now for m in queue.messages.values())
            delayed = sum(m.visible_at > now and m.dequeue_count == 0 for m in queue.messages.values())
            inactive = len(queue.messages) - active - delayed
            attributes = dict(queue.attributes)
            doc = _fields(
                QueueName=name,
                CreateTime=queue.created,
                LastModifyTime=queue.modified,
                ActiveMessages=active,
                InactiveMessages=inactive,
                DelayMessages=delayed,
                VisibilityTimeout=attributes["VisibilityTimeout"],
                MaximumMessageSize=attributes["MaximumMessageSize"],
                MessageRetentionPeriod=attributes["MessageRetentionPeriod"],
                DelaySeconds=attributes["DelaySeconds"],
                PollingWaitSeconds=attributes["PollingWaitSeconds"],
                LoggingEnabled="True" if attributes["LoggingEnabled"] else "False",
            )
        return _Answer(200, _document("Queue", doc))

    def _delete_queue(self, name: str) -> _Answer:
        with self._changed:
            self._queues.pop(name, None)
            self._changed.notify_all()
        return _Answer(204)

    def _queue(self, name: str) -> _Queue:
        """The queue (call with the lock held)."""
        queue = self._queues.get(name)
        if queue is None:
            raise _MnsError(404, "QueueNotExist", "The queue name you provided is not exist.")
        return queue

    # --- messages -------------------------------------------------------------------------------------------

    def _send(self, name: str, body: bytes) -> _Answer:
        root = _parse(body, "Message", "Messages")
        batch = _local(root.tag) == "Messages"
        entries = [_children(item) for item in root if _local(item.tag) == "Message"] if batch else [_children(root)]
        if not 1 <= len(entries) <= MAX_BATCH:
            raise _invalid("the number of messages", 1, MAX_BATCH)
        with self._changed:
            queue = self._queue(name)
            sent = [self._enqueue(queue, entry) for entry in entries]
            self._stats["sent"] += len(sent)
            self._changed.notify_all()
        items = "".join(f"<Message>{_fields(MessageId=i, MessageBodyMD5=md5)}</Message>" for i, md5 in sent)
        if batch:
            return _Answer(201, _document("Messages", items))
        message_id, md5 = sent[0]
        return _Answer(201, _document("Message", _fields(MessageId=message_id, MessageBodyMD5=md5)))

    def _enqueue(self, queue: _Queue, entry: Mapping[str, str]) -> tuple[str, str]:
        """Puts one message in the queue (lock held); its id and body MD5."""
        body = entry.get("MessageBody", "")
        size = len(body.encode("utf-8"))
        if not 1 <= size <= queue.attributes["MaximumMessageSize"]:
            raise _invalid("MessageBody", 1, queue.attributes["MaximumMessageSize"])
        delay = _int(entry.get("DelaySeconds"), "DelaySeconds", 0, 604800, default=queue.attributes["DelaySeconds"])
        priority = _int(entry.get("Priority"), "Priority", 1, 16, default=8)
        now = time.time()
        self._seq += 1
        message = _Message(
            message_id=f"{self._node}-1-{_ms(now):X}-{self._seq:09d}",
            body=body,
            body_md5=hashlib.md5(body.encode("utf-8")).hexdigest().upper(),
            priority=priority,
            seq=self._seq,
            enqueued_at=now,
            visible_at=now + delay,
        )
        queue.messages[message.message_id] = message
        return message.message_id, message.body_md5

    def _receive(self, name: str, count: int, wait: str | None, *, batch: bool) -> _Answer:
        with self._changed:
            queue = self._queue(name)
            default_wait = queue.attributes["PollingWaitSeconds"]
        wait_s = _int(wait, "waitseconds", 0, MAX_WAIT_SECONDS, default=default_wait) * self._long_poll_scale
        deadline = time.time() + wait_s
        with self._changed:
            while True:
                queue = self._queue(name)
                now = time.time()
                taken = self._take(queue, count, now)
                remaining = deadline - now
                if taken or remaining <= 0 or self._stopping.is_set():
                    break
                soonest = queue.soonest_visible(now)
                self._changed.wait(remaining if soonest is None else min(remaining, soonest - now))
            if not taken:
                self._stats["empty_receives"] += 1
                raise _MnsError(404, "MessageNotExist", "Message not exist.")
            items = [_received_fields(m) for m in taken]
        if batch:
            return _Answer(200, _document("Messages", "".join(f"<Message>{item}</Message>" for item in items)))
        return _Answer(200, _document("Message", items[0]))

    def _take(self, queue: _Queue, count: int, now: float) -> list[_Message]:
        """Hands out up to ``count`` visible messages, highest priority (1) first (lock held)."""
        queue.expire(now)
        ready = sorted((m for m in queue.messages.values() if m.visible_at <= now), key=lambda m: (m.priority, m.seq))
        for message in ready[:count]:
            if message.handle is not None:
                queue.handles.pop(message.handle, None)
            message.dequeue_count += 1
            message.first_dequeued_at = message.first_dequeued_at or now
            message.handle = f"{message.dequeue_count}-{secrets.token_urlsafe(24)}"
            message.visible_at = now + queue.visibility_timeout_s
            queue.handles[message.handle] = message.message_id
            self._stats["received"] += 1
            self._stats["redelivered"] += message.dequeue_count > 1
        return ready[:count]

    def _delete(self, name: str, handle: str) -> _Answer:
        if not handle:
            raise _MnsError(400, "MissingReceiptHandle", "ReceiptHandle is required.")
        with self._changed:
            try:
                self._queue(name).remove(handle, time.time())
            except _MnsError:
                self._stats["stale_handles"] += 1
                raise
            self._stats["deleted"] += 1
            self._changed.notify_all()
        return _Answer(204)

    def _batch_delete(self, name: str, body: bytes) -> _Answer:
        root = _parse(body, "ReceiptHandles")
        handles = [item.text or "" for item in root if _local(item.tag) == "ReceiptHandle"]
        if not 1 <= len(handles) <= MAX_BATCH:
            raise _invalid("the number of receipt handles", 1, MAX_BATCH)
        errors = []
        with self._changed:
            queue = self._queue(name)
            now = time.time()
            for handle in handles:
                try:
                    queue.remove(handle, now)
                    self._stats["deleted"] += 1
                except _MnsError as err:
                    self._stats["stale_handles"] += 1
                    errors.append(_fields(ErrorCode=err.code, ErrorMessage=err.message, ReceiptHandle=handle))
            self._changed.notify_all()
        if not errors:
            return _Answer(204)
        # Some failed: 404 and, for each failure, its code and handle (the others are deleted).
        return _Answer(404, _document("Errors", "".join(f"<Error>{error}</Error>" for error in errors)))

    # --- plumbing -------------------------------------------------------------------------------------------

    def _count(self, stat: str) -> None:
        with self._lock:
            self._stats[stat] += 1

    def _host_id(self) -> str:
        server = self._server
        return f"{server.server_address[0]!s}:{server.server_address[1]}" if server else "mns.local"


def _new_queue(name: str, given: Mapping[str, int]) -> _Queue:
    """A queue with MNS's default attributes, but those ``given``."""
    attributes = {
        "VisibilityTimeout": 30,
        "MaximumMessageSize": 65536,
        "MessageRetentionPeriod": 345600,
        "DelaySeconds": 0,
        "PollingWaitSeconds": 0,
        "LoggingEnabled": 0,
        **given,
    }
    return _Queue(name, attributes, visibility_timeout_s=float(attributes["VisibilityTimeout"]))


def signature_of(method: str, target: str, headers: Mapping[str, str], secret: str) -> str:
    """The signature MNS expects in ``Authorization: MNS <AccessKeyId>:<signature>``: base64 of HMAC-SHA1, keyed
    with the AccessKey secret, of ``METHOD\\nContent-MD5\\nContent-Type\\nDate\\n``, then each ``x-mns-*``
    header as ``name:value\\n`` (names lower-case, sorted), then the request target (path and query, as sent)."""
    mns_headers = sorted((name.lower(), value) for name, value in headers.items() if name.lower().startswith("x-mns-"))
    string_to_sign = (
        "\n".join([method, headers.get("content-md5", ""), headers.get("content-type", ""), headers.get("date", "")])
        + "\n"
        + "".join(f"{name}:{value}\n" for name, value in mns_headers)
        + target
    )
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _content_md5s(body: bytes) -> tuple[str, str]:
    """The Content-MD5 values accepted: the SDK's (base64 of the hex digest) and RFC 1864's (of the digest)."""
    digest = hashlib.md5(body)
    return base64.b64encode(digest.hexdigest().encode()).decode(), base64.b64encode(digest.digest()).decode()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _int(value: str | None, name: str, low: int, high: int, *, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise _invalid(name, low, high)
        return default
    try:
        number = int(value)
    except ValueError:
        raise _invalid(name, low, high) from None
    if not low <= number <= high:
        raise _invalid(name, low, high)
    return number


def _queue_attributes(body: bytes) -> dict[str, int]:
    given = _children(_parse(body, "Queue"))
    attributes = {name: _int(given.get(name), name, *bounds, default=-1) for name, bounds in _ATTRIBUTE_RANGES.items()}
    attributes = {name: value for name, value in attributes.items() if value != -1}
    if "LoggingEnabled" in given:
        attributes["LoggingEnabled"] = int(given["LoggingEnabled"].lower() == "true")
    return attributes


def _parse(body: bytes, *roots: str) -> ElementTree.Element:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise _MnsError(400, "MalformedXML", "The XML you provided was not well-formed.") from None
    if _local(root.tag) not in roots:
        raise _MnsError(
            400, "InvalidArgument", f"The XML you provided did not validate against our published schema, cause by {_local(root.tag)}."
        )
    return root


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ElementTree.Element) -> dict[str, str]:
    return {_local(child.tag): child.text or "" for child in element}


def _fields(**values: Any) -> str:
    return "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in values.items())


def _received_fields(message: _Message) -> str:
    return _fields(
        MessageId=message.message_id,
        ReceiptHandle=message.handle,
        MessageBodyMD5=message.body_md5,
        MessageBody=message.body,
        EnqueueTime=_ms(message.enqueued_at),
        NextVisibleTime=_ms(message.visible_at),
        FirstDequeueTime=_ms(message.first_dequeued_at),
        DequeueCount=message.dequeue_count,
        Priority=message.priority,
    )


def _document(root: str, inner: str) -> bytes:
    return f'{_DECLARATION}\n<{root} xmlns="{XMLNS}">{inner}</{root}>'.encode()


class MnsQueueSink:
    """Sends VOD events to an MNS queue, as VOD does when its callback is a queue: ``sink(event)`` sends one
    message whose body is the event's JSON (``base64_bodies``: the base64 of it, a reading the documentation
    leaves open). Through the official SDK; thread-safe; raises the SDK's errors."""

    def __init__(self, endpoint: str, queue_name: str, access_key_id: str, access_key_secret: str, *, base64_bodies: bool = False):
        self.queue_name = queue_name
        self._queue = Account(endpoint, access_key_id, access_key_secret).get_queue(queue_name)
        self._queue.set_encoding(base64_bodies)  # the SDK base64-encodes the body itself when True
        self._lock = threading.Lock()  # the SDK holds one HTTP connection

    def __call__(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._queue.send_message(Message(body))

    def close(self) -> None:
        with self._lock:
            self._queue.mns_client.close_connection()


# --- HTTP plumbing -----------------------------------------------------------------------------------------


class _Handler(TrackedHandler):
    server_version = "localmns/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            answer = self.server.service._answer(self.command, self.path, self.headers, body)
        except Exception:
            log.exception("local MNS service failed on %s %s", self.command, self.path)
            answer = _Answer(500, _document("Error", _fields(Code="InternalError", Message="Interal error.", RequestId="", HostId="")))
        self.send_response(answer.status)
        self.send_header("Content-Type", XML_TYPE)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_PUT = do_POST = do_DELETE = _serve  # noqa: N815 - http.server's naming
