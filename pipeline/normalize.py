"""Raw answers to typed sticker rows, column by column (vectorized), with a quarantine for what fails.

Every item VOD returned ends in exactly one of the two frames: ``stickers`` (typed as in
``pipeline.schema``) or ``quarantine`` (raw values as strings, plus the reason in words).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.schema import API_FIELDS, FORMATS, QUARANTINE, STICKERS, pandas_dtypes

DEFAULT_URL_VALIDITY_S = 1800  # a CDN domain's default auth_key validity: 30 minutes

_ID = r"^[A-Za-z0-9_\-]{1,128}$"
_WHOLE = r"^\+?\d{1,18}$"  # at most 18 digits: always fits int64
_CREATION_TIME = "%Y-%m-%dT%H:%M:%SZ"
_AUTH_KEY = r"(?i)(auth_key=)[^&#]*"
_MAX_URL = 2048
_HTTP = r"(?i)https?://[^/?#\s]+"
_INT32_MAX = 2**31 - 1
_SHOW = 60  # characters of a bad raw value quoted in a reason


@dataclass
class Normalized:
    stickers: pd.DataFrame
    quarantine: pd.DataFrame

    @property
    def items(self) -> int:
        return len(self.stickers) + len(self.quarantine)


class Normalizer:
    """Types one snapshot day's answers, chunk by chunk. Remembers the sticker ids it has seen so a
    DynamicImageId that comes twice in the day is quarantined, whichever chunk it arrives in."""

    def __init__(self, snapshot_date: dt.date, *, url_validity_s: int = DEFAULT_URL_VALIDITY_S):
        if url_validity_s < 0:
            raise ValueError(f"url_validity_s must be >= 0, got {url_validity_s}")
        self.snapshot_date = snapshot_date
        self.url_validity_s = url_validity_s
        self._seen: set[str] = set()

    def normalize(self, records: Iterable[dict[str, Any]]) -> Normalized:
        """Types the items of the answered records (raw store lines) of one chunk."""
        raw = _items_frame(records)
        reasons = _Reasons(raw.index)
        reasons.add(raw["not_an_object"], "the item is not a JSON object")
        out = pd.DataFrame(index=raw.index)

        asked = raw["asked_video_id"]
        video_id = _text(raw["VideoId"])
        reasons.add(video_id.isna(), "VideoId is missing")
        reasons.add(video_id.notna() & (video_id != asked), "VideoId " + _q(video_id) + " is not the video asked for (" + asked + ")")
        out["video_id"] = asked

        for field, column in [("DynamicImageId", "dynamic_image_id"), ("JobId", "job_id")]:
            value = _text(raw[field])
            if field == "DynamicImageId":
                reasons.add(value.isna(), "DynamicImageId is missing")
            reasons.add(value.notna() & ~value.str.fullmatch(_ID).fillna(False).astype(bool), f"{field} " + _q(value) + " is not a VOD id (1 to 128 letters, digits, - or _)")
            out[column] = value

        fmt = _text(raw["Format"]).str.lower()
        reasons.add(fmt.isna(), "Format is missing")
        reasons.add(fmt.notna() & ~fmt.isin(FORMATS), "Format " + _q(raw["Format"]) + " is not gif or webp")
        out["format"] = fmt

        created_raw = _text(raw["CreationTime"])
        created = pd.to_datetime(created_raw, format=_CREATION_TIME, utc=True, errors="coerce")
        reasons.add(created_raw.isna(), "CreationTime is missing")
        reasons.add(created_raw.notna() & created.isna(), "CreationTime " + _q(created_raw) + " is not a UTC time like 2020-07-28T02:01:06Z")
        out["creation_time"] = created

        duration_raw = _text(raw["Duration"])
        duration = pd.to_numeric(duration_raw, errors="coerce").astype("float64")
        reasons.add(duration_raw.isna(), "Duration is missing")
        reasons.add(duration_raw.notna() & ~(np.isfinite(duration) & (duration > 0)), "Duration " + _q(duration_raw) + " is not a positive number of seconds")
        out["duration_s"] = duration

        for field, column, required, maximum, unit in [
            ("Fps", "fps", False, _INT32_MAX, "frames per second"),
            ("Width", "width", False, _INT32_MAX, "pixels"),
            ("Height", "height", False, _INT32_MAX, "pixels"),
            ("FileSize", "file_size_bytes", True, None, "bytes"),
        ]:
            value, bad = _whole_number(raw[field], maximum)
            if required:
                reasons.add(value.isna() & ~bad, f"{field} is missing")
            reasons.add(bad, f"{field} " + _q(raw[field]) + f" is not a positive whole number of {unit}")
            out[column] = value

        url = _text(raw["FileURL"])
        reasons.add(url.isna(), "FileURL is missing")
        reasons.add(url.str.len().fillna(0) > _MAX_URL, f"FileURL is longer than {_MAX_URL} characters")
        reasons.add(url.notna() & ~url.str.match(_HTTP).fillna(False).astype(bool), "FileURL " + _q(_redacted(url)) + " is not an http(s) address")
        out["file_url"] = url.str.replace(r"[?#].*", "", regex=True)  # the query holds the auth_key
        signed_at = pd.to_numeric(url.str.extract(r"[?&]auth_key=(\d{1,12})-", expand=False), errors="coerce")
        out["url_expires_at"] = pd.to_datetime(signed_at + self.url_validity_s, unit="s", utc=True)

        out["request_id"] = raw["request_id"]
        out["fetched_at"] = pd.to_datetime(raw["fetched_at"], utc=True, format="ISO8601")

        # A sticker id seen earlier in the day (this chunk or a previous one) is a duplicate.
        ids = out["dynamic_image_id"]
        duplicate = ids.notna() & (ids.duplicated(keep="first") | ids.isin(self._seen))
        reasons.add(duplicate, "DynamicImageId " + _q(ids) + " came more than once in this snapshot; the first was kept")

        bad = reasons.any()
        self._seen.update(ids[~bad].dropna())
        good = out[~bad]
        good.insert(0, "snapshot_date", self.snapshot_date)
        stickers = good.astype(pandas_dtypes(STICKERS)).reset_index(drop=True)
        return Normalized(stickers=stickers, quarantine=self._quarantine(raw[bad], reasons.text()[bad]))

    def _quarantine(self, raw: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
        q = pd.DataFrame(
            {
                "snapshot_date": self.snapshot_date,
                "video_id": raw["asked_video_id"],
                "item_index": raw["item_index"],
                "reason": reasons,
                "request_id": raw["request_id"],
                "fetched_at": pd.to_datetime(raw["fetched_at"], utc=True, format="ISO8601"),
            },
            index=raw.index,
        )
        for api, snake in API_FIELDS.items():
            q[f"raw_{snake}"] = _redacted(_as_string(raw[api]))
        return q.astype(pandas_dtypes(QUARANTINE)).reset_index(drop=True)


def _items_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per item of every answered record, with the asking video, request id and fetch time."""
    answered = [r for r in records if r.get("status") == "answered"]
    lists = [_item_list(r) for r in answered]
    counts = np.fromiter((len(items) for items in lists), dtype=np.int64, count=len(lists))
    items = list(itertools.chain.from_iterable(lists))
    not_an_object = np.fromiter((not isinstance(i, dict) for i in items), dtype=bool, count=len(items))
    if not_an_object.any():
        items = [i if isinstance(i, dict) else {} for i in items]
    frame = pd.DataFrame.from_records(items, columns=list(API_FIELDS)) if items else pd.DataFrame(columns=list(API_FIELDS))
    frame = frame.astype(object)
    frame["asked_video_id"] = np.repeat(np.array([r["video_id"] for r in answered], dtype=object), counts)
    frame["request_id"] = np.repeat(np.array([r.get("request_id") for r in answered], dtype=object), counts)
    frame["fetched_at"] = np.repeat(np.array([r["fetched_at"] for r in answered], dtype=object), counts)
    frame["item_index"] = np.concatenate([np.arange(n, dtype=np.int32) for n in counts]) if len(counts) else np.array([], dtype=np.int32)
    frame["not_an_object"] = not_an_object
    return frame


def _item_list(record: dict[str, Any]) -> list[Any]:
    items = (record.get("response") or {}).get("DynamicImageList")
    return items if isinstance(items, list) else []


def _as_string(values: pd.Series) -> pd.Series:
    """Raw values as strings (a number VOD should have quoted becomes its text); None stays missing."""
    return values.astype("str")


def _redacted(text: pd.Series) -> pd.Series:
    """The auth_key token of signed URLs replaced: it is a secret for as long as it is valid."""
    return text.str.replace(_AUTH_KEY, r"\1<redacted>", regex=True)


def _text(values: pd.Series) -> pd.Series:
    """Trimmed strings; empty and missing both become missing."""
    text = _as_string(values).str.strip()
    return text.where(text != "")


def _whole_number(values: pd.Series, maximum: int | None) -> tuple[pd.Series, pd.Series]:
    """(nullable Int64 values, mask of values that are present but not a positive whole number)."""
    text = _text(values)
    whole = text.str.fullmatch(_WHOLE).fillna(False).astype(bool)
    number = pd.to_numeric(text.where(whole), errors="coerce").astype("Int64")
    bad = text.notna() & ~(whole & (number > 0).fillna(False))
    if maximum is not None:
        bad |= (number > maximum).fillna(False)
    return number.where(~bad), bad


def _q(values: pd.Series) -> pd.Series:
    """A raw value quoted for a reason, cut short when long."""
    text = _as_string(values).fillna("")
    long = text.str.len() > _SHOW
    return "'" + text.where(~long, text.str.slice(0, _SHOW) + "...") + "'"


class _Reasons:
    """Collects, per row, the words of every check it failed."""

    def __init__(self, index: pd.Index):
        self._masks: list[np.ndarray] = []
        self._texts: list[pd.Series | str] = []
        self._index = index

    def add(self, mask: pd.Series | np.ndarray, text: pd.Series | str) -> None:
        self._masks.append(np.asarray(mask, dtype=bool))
        self._texts.append(text)

    def any(self) -> np.ndarray:
        if not self._masks:
            return np.zeros(len(self._index), dtype=bool)
        return np.logical_or.reduce(self._masks)

    def text(self) -> pd.Series:
        out = pd.Series("", index=self._index, dtype="str")
        for mask, text in zip(self._masks, self._texts):
            if mask.any():
                part = text if isinstance(text, str) else text.astype("str")
                sep = out.where(out == "", out + "; ")
                out = out.where(~mask, sep + part)
        return out
