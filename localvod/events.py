"""The event notifications the local VOD service sends, shaped as VOD sends them (vod-discovery-events.md,
section 5): DynamicImageComplete when a sticker job finishes, FileUploadComplete for a new video and
DeleteMediaComplete for a deleted one. DeleteDynamicImage announces nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_JOB_INFO_FIELDS = ("JobId", "FileURL", "FileSize", "Fps", "Height", "Width")


def _event_time(at: int) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime(TIME_FORMAT)


def dynamic_image_complete(sticker: Mapping[str, str], at: int) -> dict[str, Any]:
    """The event of a sticker job that made ``sticker`` (a ListDynamicImage item) at ``at`` (unix seconds):
    its job info carries the item's own strings."""
    job_info = {field: sticker[field] for field in _JOB_INFO_FIELDS}
    return {
        "EventTime": _event_time(at),
        "EventType": "DynamicImageComplete",
        "VideoId": sticker["VideoId"],
        "Status": "success",
        "JobId": sticker["JobId"],
        "DynamicImageJobInfo": {"JobId": job_info.pop("JobId"), "Status": "success", **job_info},
    }


def file_upload_complete(video: Mapping[str, Any], at: int) -> dict[str, Any]:
    """The event of ``video`` (as GetVideoInfos describes it) uploaded at ``at``: its source file."""
    video_id = video["VideoId"]
    return {
        "EventTime": _event_time(at),
        "EventType": "FileUploadComplete",
        "VideoId": video_id,
        "Size": video["Size"],
        "FileUrl": f"https://{video['StorageLocation']}/sv/{video_id[:8]}-{video_id[8:16]}/{video_id}.mp4",
        "Status": "success",
    }


def delete_media_complete(video_id: str, at: int) -> dict[str, Any]:
    """The event of DeleteVideo removing the video whole at ``at`` (it names a MediaId, not a VideoId)."""
    return {
        "EventTime": _event_time(at),
        "EventType": "DeleteMediaComplete",
        "MediaId": video_id,
        "MediaType": "video",
        "DeleteType": "all",
        "Status": "success",
    }


def event_key(event: Mapping[str, Any]) -> str:
    """What tells one event from another, the same on every run of the same seed (unlike a FileURL's
    auth_key): its type, time, media and job."""
    media = event.get("VideoId") or event.get("MediaId") or ""
    return f"{event['EventType']}:{event['EventTime']}:{media}:{event.get('JobId', '')}"
