"""The columns of the lake, declared once: every writer, reader and check takes its types from here."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from pipeline.vod.api import API_FIELDS


@dataclass(frozen=True)
class Column:
    name: str
    arrow: pa.DataType
    pandas: str
    nullable: bool
    description: str
    # Parquet stores repeating values once, in a dictionary; where nearly every value differs (ids,
    # addresses, instants) a dictionary only costs time when writing.
    distinct: bool = False


UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

STICKERS: tuple[Column, ...] = (
    Column("snapshot_date", pa.date32(), "date32[pyarrow]", False, "Day of the snapshot (partition key)"),
    Column("video_id", pa.string(), "str", False, "VOD video id"),
    Column("region", pa.string(), "str", True, "VOD storage region of the video (null for days fetched before regions were recorded)"),
    Column("dynamic_image_id", pa.string(), "str", False, "Sticker id (DynamicImageId)", distinct=True),
    Column("job_id", pa.string(), "str", True, "Id of the job that made the sticker", distinct=True),
    Column("format", pa.string(), "str", False, "gif or webp"),
    Column("creation_time", UTC_TIMESTAMP, "datetime64[us, UTC]", False, "When the sticker was made (UTC)", distinct=True),
    Column("duration_s", pa.float64(), "float64", False, "Length in seconds"),
    Column("fps", pa.int32(), "Int32", True, "Frames per second"),
    Column("width", pa.int32(), "Int32", True, "Width in pixels"),
    Column("height", pa.int32(), "Int32", True, "Height in pixels"),
    Column("file_size_bytes", pa.int64(), "int64", False, "File size in bytes", distinct=True),
    Column("file_url", pa.string(), "str", False, "File address without its signed query string", distinct=True),
    Column("url_expires_at", UTC_TIMESTAMP, "datetime64[us, UTC]", True, "When the signed FileURL stopped working (UTC)", distinct=True),
    Column("request_id", pa.string(), "str", False, "RequestId of the VOD answer"),
    Column("fetched_at", UTC_TIMESTAMP, "datetime64[us, UTC]", False, "When the answer arrived (UTC)"),
)

QUARANTINE: tuple[Column, ...] = (
    Column("snapshot_date", pa.date32(), "date32[pyarrow]", False, "Day of the snapshot (partition key)"),
    Column("video_id", pa.string(), "str", False, "The video that was asked for"),
    Column("region", pa.string(), "str", True, "VOD storage region of the video (null for days fetched before regions were recorded)"),
    Column("item_index", pa.int32(), "int32", False, "Position of the item in the answer's DynamicImageList"),
    Column("reason", pa.string(), "str", False, "Why the row could not be typed, in words"),
    Column("request_id", pa.string(), "str", True, "RequestId of the VOD answer"),
    Column("fetched_at", UTC_TIMESTAMP, "datetime64[us, UTC]", False, "When the answer arrived (UTC)"),
    *(
        Column(f"raw_{snake}", pa.string(), "str", True, f"{api} as VOD sent it (FileURL without auth_key)")
        for api, snake in API_FIELDS.items()
    ),
)

VIDEO_FETCHES: tuple[Column, ...] = (
    Column("snapshot_date", pa.date32(), "date32[pyarrow]", False, "Day of the snapshot (partition key)"),
    Column("video_id", pa.string(), "str", False, "The video that was asked for", distinct=True),
    Column("region", pa.string(), "str", True, "VOD storage region asked (null for days fetched before regions were recorded)"),
    Column(
        "status",
        pa.string(),
        "str",
        False,
        "answered, not_found or failed when asked that day; carried when not (its last answer, of carried_from)",
    ),
    Column("stickers_returned", pa.int32(), "int32", False, "Items in VOD's answer (0 unless answered or carried)"),
    Column("error_code", pa.string(), "str", True, "VOD's error code, or the client's (Timeout, ...) when failed"),
    Column("error_message", pa.string(), "str", True, "The error in words"),
    Column("request_id", pa.string(), "str", True, "RequestId of the last answer", distinct=True),
    Column("http_status", pa.int32(), "Int32", True, "HTTP status of the last answer"),
    Column("attempts", pa.int32(), "int32", False, "Calls made for this video"),
    Column("fetched_at", UTC_TIMESTAMP, "datetime64[us, UTC]", False, "When the outcome was settled (UTC)", distinct=True),
    Column(
        "reason",
        pa.string(),
        "str",
        True,
        "Why the day's refresh plan asked VOD: new, event, failed, due or sweep (null when carried, and for days before plans)",
    ),
    Column("carried_from", pa.date32(), "date32[pyarrow]", True, "For a carried video, the day of the answer it carries (null otherwise)"),
    Column(
        "carried_status", pa.string(), "str", True, "For a carried video, that answer's outcome: answered or not_found (null otherwise)"
    ),
)

VIDEOS: tuple[Column, ...] = (
    Column("snapshot_date", pa.date32(), "date32[pyarrow]", False, "Day of the snapshot (partition key)"),
    Column("video_id", pa.string(), "str", False, "VOD video id", distinct=True),
    Column("region", pa.string(), "str", False, "VOD storage region of the video"),
    Column("title", pa.string(), "str", True, "Title of the video, as VOD lists it"),
    Column("status", pa.string(), "str", True, "VOD's status of the video (Normal, Transcoding, Blocked, ...)"),
    Column("creation_time", UTC_TIMESTAMP, "datetime64[us, UTC]", True, "When the video was created in VOD (UTC)", distinct=True),
    Column("duration_s", pa.float64(), "float64", True, "Length of the video in seconds"),
    Column("size_bytes", pa.int64(), "Int64", True, "Size of the video's source file in bytes", distinct=True),
    Column("first_seen", UTC_TIMESTAMP, "datetime64[us, UTC]", False, "When a walk of the account first listed the video (UTC)"),
    Column("last_seen", UTC_TIMESTAMP, "datetime64[us, UTC]", False, "When a walk (or GetVideoInfos) last found the video (UTC)"),
    Column("deleted_upstream", pa.bool_(), "bool", False, "Deleted in VOD: a full walk missed it and GetVideoInfos said it does not exist"),
    Column("deleted_at", UTC_TIMESTAMP, "datetime64[us, UTC]", True, "When the deletion was noticed (UTC)"),
)

EVENTS: tuple[Column, ...] = (
    Column("snapshot_date", pa.date32(), "date32[pyarrow]", False, "Day whose refresh plan took the event (partition key)"),
    Column("seq", pa.int64(), "int64", False, "Arrival order in the events inbox", distinct=True),
    Column("event_type", pa.string(), "str", False, "VOD's EventType (DynamicImageComplete, FileUploadComplete, DeleteMediaComplete, ...)"),
    Column("video_id", pa.string(), "str", True, "The video: VideoId, or MediaId for DeleteMediaComplete"),
    Column("status", pa.string(), "str", True, "Status as VOD sent it (success, fail, Success, ...)"),
    Column("job_id", pa.string(), "str", True, "JobId, for a sticker job", distinct=True),
    Column("event_time", UTC_TIMESTAMP, "datetime64[us, UTC]", True, "EventTime as VOD sent it (UTC; null when unreadable)", distinct=True),
    Column("received_at", UTC_TIMESTAMP, "datetime64[us, UTC]", False, "When the event was made durable here (UTC)", distinct=True),
    Column("channel", pa.string(), "str", False, "How it came: http (callback) or mns (queue)"),
    Column("action", pa.string(), "str", False, "What the plan did: asked, not in the video set, or no sticker change"),
    Column("run_id", pa.string(), "str", True, "The Dagster run whose plan took it"),
)

# The tables normalization makes of a day's answers; with the events its plan took, a day's tables,
# replaced together.
ANSWER_TABLES = ("stickers", "quarantine", "video_fetches")
DAY_TABLES = (*ANSWER_TABLES, "events")

# The rows each table's makers produce. The lake's writer adds the account the rows belong to.
ROWS: dict[str, tuple[Column, ...]] = {
    "stickers": STICKERS,
    "quarantine": QUARANTINE,
    "video_fetches": VIDEO_FETCHES,
    "videos": VIDEOS,
    "events": EVENTS,
}

DEFAULT_ACCOUNT = "default"

ACCOUNT = Column(
    "account", pa.string(), "str", False, "The VOD account (its name in VOD_ACCOUNTS_FILE; 'default' in a deployment of one account)"
)

# The columns of the lake's files and of the warehouse's views over them.
TABLES: dict[str, tuple[Column, ...]] = {name: (columns[0], ACCOUNT, *columns[1:]) for name, columns in ROWS.items()}


def arrow_schema(columns: tuple[Column, ...], *, without: tuple[str, ...] = ()) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow, nullable=c.nullable) for c in columns if c.name not in without])


def pandas_dtypes(columns: tuple[Column, ...]) -> dict[str, str]:
    return {c.name: c.pandas for c in columns}
