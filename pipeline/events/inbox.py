"""VOD's event notifications as they arrive, made durable before anyone answers for them.

An event comes by HTTP callback or from an MNS queue, and can come more than once (VOD tries a callback
up to 3 times, an MNS message reappears until deleted, and one account may send both). The inbox keeps
each event once, in arrival order: its sequence number (``seq``) is how a day's refresh plan says which
events it took (``since``). It is one SQLite file in WAL mode, committed with ``synchronous=FULL``, so
``add`` returns only once the event would survive a crash, and several receivers (processes or threads)
can add to it at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.vod import jsontext
from pipeline.vod.outcome import utc_now_iso

CHANNELS = ("http", "mns")
# A signed URL's auth_key is a short-lived secret: it is never kept (DynamicImageJobInfo.FileURL carries one)
_AUTH_KEY = re.compile(r"(?i)(auth_key=)[^&#\"\\\s]*")


def redacted(text: str) -> str:
    """``text`` with every URL's auth_key replaced by ``<redacted>``."""
    return _AUTH_KEY.sub(r"\1<redacted>", text)


class BadEvent(ValueError):
    """A notification that is not a VOD event: not JSON, not an object, or without an EventType."""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    key: str
    event_type: str
    video_id: str | None  # VideoId, or MediaId for the events that carry no VideoId
    status: str | None
    event_time: str | None
    received_at: str  # ISO 8601 UTC, when the inbox made it durable
    channel: str
    body: dict[str, Any]


def parse_event(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The event of a callback's body or a queue message: a JSON object with an ``EventType``. A message
    that does not start with ``{`` is read as base64 first (whether VOD encodes MNS bodies is not
    documented, so both are accepted)."""
    if isinstance(body, dict):
        event: Any = body
    else:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        text = text.strip()
        if text and not text.startswith("{"):
            try:
                text = base64.b64decode(text, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise BadEvent("not JSON, nor base64 of JSON") from None
        try:
            event = jsontext.loads(text)
        except ValueError as err:
            raise BadEvent(f"not JSON: {err}") from None
    if not isinstance(event, dict):
        raise BadEvent("not a JSON object")
    if not isinstance(event.get("EventType"), str) or not event["EventType"]:
        raise BadEvent("no EventType")
    return event


def subject(event: dict[str, Any]) -> str | None:
    """The video the event is about: ``VideoId``, or ``MediaId`` (DeleteMediaComplete, MediaBaseChangeComplete)."""
    value = event.get("VideoId") or event.get("MediaId")
    return str(value) if value else None


def event_key(event: dict[str, Any]) -> str:
    """What makes two deliveries one event: its type, video, job, time and status. A callback retried, a
    message received twice, or the same event by callback and by queue all have one key."""
    parts = [event.get("EventType"), subject(event), event.get("JobId"), event.get("EventTime"), event.get("Status")]
    text = "|".join("" if part is None else str(part).lower() for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Inbox:
    """The events received, each once, numbered in arrival order."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, event_type TEXT NOT NULL,"
            " video_id TEXT, status TEXT, event_time TEXT, received_at TEXT NOT NULL, channel TEXT NOT NULL,"
            " body TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('id', ?)", (uuid.uuid4().hex,))
        self.id: str = self._db.execute("SELECT value FROM meta WHERE name = 'id'").fetchone()[0]
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rejected ("
            " received_at TEXT NOT NULL, channel TEXT NOT NULL, reason TEXT NOT NULL, body BLOB NOT NULL)"
        )

    def add(self, event: dict[str, Any], *, channel: str, received_at: str | None = None) -> bool:
        """Keeps the event (a parsed body, see ``parse_event``), any URL's auth_key redacted; durable when
        this returns. False when it was already kept (a redelivery): nothing changes."""
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
        row = (
            event_key(event),
            event["EventType"],
            subject(event),
            None if event.get("Status") is None else str(event["Status"]),
            None if event.get("EventTime") is None else str(event["EventTime"]),
            received_at or utc_now_iso(),
            channel,
            redacted(json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True)),
        )
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO events (key, event_type, video_id, status, event_time, received_at, channel, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return cursor.rowcount == 1

    def reject(self, body: bytes | str, *, channel: str, reason: str) -> None:
        """Keeps a notification that is not an event (``BadEvent``), durable when this returns, so that its
        message can be deleted from the queue without losing it."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
        raw = redacted(text).encode("utf-8")
        with self._lock:
            self._db.execute(
                "INSERT INTO rejected (received_at, channel, reason, body) VALUES (?, ?, ?, ?)",
                (utc_now_iso(), channel, reason, raw),
            )

    def rejected(self) -> list[tuple[str, str, str, bytes]]:
        """The notifications kept by ``reject``: (received_at, channel, reason, body)."""
        with self._lock:
            return self._db.execute("SELECT received_at, channel, reason, body FROM rejected ORDER BY rowid").fetchall()

    def since(self, seq: int = 0) -> list[StoredEvent]:
        """The events kept after ``seq``, in arrival order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, key, event_type, video_id, status, event_time, received_at, channel, body"
                " FROM events WHERE seq > ? ORDER BY seq",
                (seq,),
            ).fetchall()
        return [
            StoredEvent(
                seq=seq,
                key=key,
                event_type=event_type,
                video_id=video_id,
                status=status,
                event_time=event_time,
                received_at=received_at,
                channel=channel,
                body=json.loads(body),
            )
            for seq, key, event_type, video_id, status, event_time, received_at, channel, body in rows
        ]

    def last_seq(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
