"""Raw answers to typed sticker rows, with a quarantine for what fails, in bounded chunks.

The typing rules are pandas code over Arrow-backed columns (``pd.ArrowDtype``), with pyarrow.compute
where pandas has no kernel as fast. The day's answer file comes a block of lines at a time
(``answers``), and each rule is a whole-column operation, with a careful path only for the rare column
or block that needs it; a sticker id that comes again in the day is found by ``repeats``. Every item VOD returned ends in exactly one of the two outputs: ``stickers`` (typed as in
``pipeline.store.schema``) or ``quarantine`` (raw values as strings, plus the reason in words).
"""

from __future__ import annotations

import datetime as dt
import string
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.normalize.answers import HOLD_ANSWERS, RAW_COLUMNS, items_of, read_records
from pipeline.normalize.repeats import KeptIds
from pipeline.store.objects import Location
from pipeline.store.schema import ROWS, arrow_schema
from pipeline.vod.api import FORMATS

DEFAULT_URL_VALIDITY_S = 1800  # a CDN domain's default auth_key validity: 30 minutes
CHUNK_ROWS = 50_000  # items typed at a time (some tens of MB): memory does not grow with the day
_ITEM_BYTES = 600  # about one item as the raw store holds it (its signed FileURL is most of it)

_SHOW = 60  # characters of a bad raw value quoted in a reason
_MAX_INT32 = 2**31 - 1
_MAX_INT64 = 2**63 - 1
_MAX_URL = 2048
_VOD_ID = r"[A-Za-z0-9_\-]{1,128}"
_NOT_AN_ID = " is not a VOD id (1 to 128 letters, digits, - or _)"
_REPEATED = " came more than once in this snapshot; the first was kept"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_UNPADDED_TIME = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}Z"
_HTTP = r"https?://[^/?#\s]"  # on the first 9 characters, lower-cased
_AUTH_KEY = r"(?i)(auth_key=)[^&#]*"
_REDACTED = r"\1<redacted>"
_SIGNED_AT = r"[?&]auth_key=(?P<seconds>[0-9]{1,12})-"
# What surrounds a value without being part of it: the Unicode space separators (space, no-break and
# ideographic spaces, ...). A tab or line break stays, and makes the value fail its check.
_SPACES = "".join(c for c in map(chr, range(0x3001)) if unicodedata.category(c) == "Zs")

_INT64 = pd.ArrowDtype(pa.int64())
_FLOAT64 = pd.ArrowDtype(pa.float64())
_SECONDS = pd.ArrowDtype(pa.timestamp("s", tz="UTC"))

_SCHEMAS = {name: arrow_schema(columns) for name, columns in ROWS.items()}


@dataclass
class Chunk:
    """Part of a day's answers, typed: Arrow tables in the lake's schemas."""

    stickers: pa.Table
    quarantine: pa.Table
    video_fetches: pa.Table


class Normalizer:
    """Types one snapshot day's answers, chunk by chunk. Remembers the sticker ids it has kept so a
    DynamicImageId that comes twice in the day is quarantined, whichever chunk it arrives in."""

    def __init__(self, snapshot_date: dt.date, *, url_validity_s: int = DEFAULT_URL_VALIDITY_S):
        if url_validity_s < 0:
            raise ValueError(f"url_validity_s must be >= 0, got {url_validity_s}")
        self.snapshot_date = snapshot_date
        self.url_validity_s = url_validity_s
        self._kept = KeptIds()

    def close(self) -> None:
        self._kept = KeptIds()

    def keep_ids(self, ids: pa.Array) -> None:
        """Keeps sticker ids of the day typed elsewhere (its carried rows), so an answer repeating one is
        quarantined as a repeat."""
        self._kept.repeats(ids, np.ones(len(ids), dtype=bool))

    def normalize_file(self, answers: Location, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
        """Types a finished answer file (JSON lines) in one streamed pass, in file order: each chunk holds
        the outcome of some videos (``video_fetches``) and at most ``chunk_rows`` of their items, typed
        (``stickers``) or not (``quarantine``)."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        for records in read_records(answers, block_bytes=chunk_rows * _ITEM_BYTES):
            fetches = self._video_fetches(records)
            items = items_of(records)
            if items.num_rows == 0:
                yield Chunk(empty("stickers"), empty("quarantine"), fetches)
            for start in range(0, items.num_rows, chunk_rows):
                stickers, quarantine = self._type(items.slice(start, chunk_rows))
                yield Chunk(stickers, quarantine, fetches if start == 0 else empty("video_fetches"))

    def _video_fetches(self, records: pa.Table) -> pa.Table:
        """Every video's outcome: the record's own fields, and how many items an answer held."""
        answered = pc.fill_null(pc.is_in(records["status"], pa.array(HOLD_ANSWERS)), False)
        items = pc.list_value_length(pc.struct_field(records["response"], "DynamicImageList"))
        columns = {
            "snapshot_date": self._dates(records.num_rows),
            "stickers_returned": pc.if_else(answered, pc.fill_null(items, 0), 0),
            **{name: records[name] for name in records.column_names},
        }
        return _table(columns, "video_fetches")

    def _type(self, items: pa.Table) -> tuple[pa.Table, pa.Table]:
        """(stickers, quarantine) of some items: what passes every check and is not a sticker id kept
        earlier in the day is typed; the rest is quarantined with every reason."""
        typed, failures = _checked(items)
        passed = ~np.logical_or.reduce([failure.rows for failure in failures])
        sticker_id = typed["dynamic_image_id"]
        repeated = self._kept.repeats(_arrow(sticker_id).combine_chunks(), passed)
        failures.append(_Failure(repeated, "DynamicImageId ", sticker_id, _REPEATED))
        kept = passed & ~repeated
        return self._stickers(typed, kept), self._quarantine(items, failures, ~kept)

    def _stickers(self, typed: dict[str, pd.Series], kept: np.ndarray) -> pa.Table:
        """The kept rows: their FileURL without query string or fragment, and when its signature expires."""
        if not kept.all():
            typed = {name: values[kept] for name, values in typed.items()}
        url = typed.pop("url")
        query = _query(url)
        columns = {name: pa.array(values) for name, values in typed.items()}
        columns["file_url"] = _before_fragment(query.base)
        columns["url_expires_at"] = pc.cast(pc.add(_signed_at(url, query), self.url_validity_s), _SECONDS.pyarrow_dtype)
        columns["snapshot_date"] = self._dates(len(url))
        return _table(columns, "stickers")

    def _quarantine(self, items: pa.Table, failures: list[_Failure], bad: np.ndarray) -> pa.Table:
        """The quarantine rows: raw values as VOD sent them, but never a FileURL's auth_key."""
        if not bad.any():
            return empty("quarantine")
        rows = items.filter(pa.array(bad))
        columns = {
            **{name: rows[name] for name in rows.column_names},
            **{raw: pc.replace_substring_regex(rows[raw], _AUTH_KEY, _REDACTED) for raw in RAW_COLUMNS.values()},
            "snapshot_date": self._dates(rows.num_rows),
            "reason": _reasons(failures, bad),
        }
        return _table(columns, "quarantine")

    def _dates(self, rows: int) -> pa.Array:
        return pa.array(np.full(rows, np.datetime64(self.snapshot_date, "D")), pa.date32())

    def __enter__(self) -> Normalizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _table(columns: dict[str, Any], name: str) -> pa.Table:
    """The columns of a lake table, in its order and types."""
    schema = _SCHEMAS[name]
    return pa.table([columns[field] for field in schema.names], names=schema.names).cast(schema)


def empty(name: str) -> pa.Table:
    """No rows of a table the normalizer makes."""
    return _SCHEMAS[name].empty_table()


# --- the typing rules ---------------------------------------------------------------------------------------


@dataclass
class _Failure:
    """The rows failing one check, and its words in a reason: ``words`` alone, or followed by the row's
    ``value`` quoted (cut at 60 characters) and ``after`` (texts, or Series of the rows' own words)."""

    rows: np.ndarray
    words: str
    value: pd.Series | None = None
    after: str | tuple[str | pd.Series, ...] = ""
    redacted: bool = False  # the value is quoted without its auth_key


def _checked(items: pa.Table) -> tuple[dict[str, pd.Series], list[_Failure]]:
    """The items' typed columns, and every check they fail, in the order a reason names them."""
    raw = {api: _series(items[column]) for api, column in RAW_COLUMNS.items()}
    text = {api: _text(values) for api, values in raw.items()}
    asked = _series(items["video_id"])
    failures = [_Failure(items["not_an_object"].to_numpy(), "the item is not a JSON object")]

    video_id = text["VideoId"]
    failures += [
        _Failure(~_present(video_id), "VideoId is missing"),
        _Failure(_mask(video_id != asked), "VideoId ", video_id, (" is not the video asked for (", asked, ")")),
    ]
    sticker_id, job_id = text["DynamicImageId"], text["JobId"]
    failures += [
        _Failure(~_present(sticker_id), "DynamicImageId is missing"),
        _Failure(_present(sticker_id) & ~_is_vod_id(sticker_id), "DynamicImageId ", sticker_id, _NOT_AN_ID),
        _Failure(_present(job_id) & ~_is_vod_id(job_id), "JobId ", job_id, _NOT_AN_ID),
    ]
    format_ = text["Format"].str.lower()
    failures += [
        _Failure(~_present(format_), "Format is missing"),
        _Failure(_present(format_) & ~_mask(format_.isin(FORMATS)), "Format ", raw["Format"], " is not gif or webp"),
    ]
    created = utc_times(text["CreationTime"])
    failures += _missing_or_bad(text["CreationTime"], "CreationTime", ~_present(created), " is not a UTC time like 2020-07-28T02:01:06Z")
    duration = _seconds(text["Duration"])
    seconds = duration.to_numpy(dtype=float, na_value=np.nan)
    positive = np.isfinite(seconds) & (seconds > 0)
    failures += _missing_or_bad(text["Duration"], "Duration", ~positive, " is not a positive number of seconds")

    whole = {}
    for api, unit in [("Fps", "frames per second"), ("Width", "pixels"), ("Height", "pixels")]:
        whole[api], bad = _whole_numbers(text[api], _MAX_INT32)
        failures.append(_Failure(bad, f"{api} ", raw[api], f" is not a positive whole number of {unit}"))
    file_size, bad = _whole_numbers(text["FileSize"], _MAX_INT64)
    failures += [
        _Failure(~_present(text["FileSize"]), "FileSize is missing"),
        _Failure(bad, "FileSize ", raw["FileSize"], " is not a positive whole number of bytes"),
    ]
    url = text["FileURL"]
    failures += [
        _Failure(~_present(url), "FileURL is missing"),
        _Failure(_longer_than(url, _MAX_URL), f"FileURL is longer than {_MAX_URL} characters"),
        _Failure(_present(url) & ~_is_http(url), "FileURL ", url, " is not an http(s) address", redacted=True),
    ]
    typed = {
        "video_id": asked,
        "region": _series(items["region"]),
        "dynamic_image_id": sticker_id,
        "job_id": job_id,
        "format": format_,
        "creation_time": created,
        "duration_s": duration,
        "fps": whole["Fps"],
        "width": whole["Width"],
        "height": whole["Height"],
        "file_size_bytes": file_size,
        "url": url,
        "request_id": _series(items["request_id"]),
        "fetched_at": _series(items["fetched_at"]),
    }
    return typed, failures


def _missing_or_bad(text: pd.Series, field: str, unreadable: np.ndarray, words: str) -> list[_Failure]:
    present = _present(text)
    return [_Failure(~present, f"{field} is missing"), _Failure(present & unreadable, f"{field} ", text, words)]


def _series(values: pa.ChunkedArray | pa.Array) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(values))


def _mask(condition: pd.Series | pa.ChunkedArray) -> np.ndarray:
    """A condition as a NumPy mask, where unknown (null) is False."""
    if isinstance(condition, pd.Series):
        if not isinstance(condition.dtype, pd.ArrowDtype):
            return condition.to_numpy(dtype=bool, na_value=False)
        condition = _arrow(condition)  # through Arrow: pandas' own conversion is several times slower
    return np.asarray(pc.fill_null(condition, False).to_numpy(zero_copy_only=False), dtype=bool)


def _present(values: pd.Series) -> np.ndarray:
    return values.notna().to_numpy()


def _text(raw: pd.Series) -> pd.Series:
    """A raw field without the spaces around it; blank is missing."""
    if not _SPACE_ENDS.maybe_in(raw, or_blank=True):  # nearly always: taken as it is, not copied
        return raw
    text = raw.str.strip(_SPACES)
    blank = _mask(text == "")
    return text.mask(blank) if blank.any() else text


def _is_vod_id(text: pd.Series) -> np.ndarray:
    """Whether each value is a VOD id: 1 to 128 ASCII letters, digits, '-' or '_'."""
    ok = _mask(text.str.isalnum() & text.str.isascii() & (text.str.len() <= 128))
    unsure = ~ok & _present(text)  # with a '-' or '_', or not an id
    if unsure.any():
        ok[unsure] = _mask(text[unsure].str.fullmatch(_VOD_ID))
    return ok


def _whole_numbers(text: pd.Series, most: int) -> tuple[pd.Series, np.ndarray]:
    """The values read as whole numbers (an optional '+' and 1 to 18 ASCII digits, so they fit int64),
    and the rows holding a value that is not one from 1 to ``most``."""
    digits = _arrow(text)
    whole = _digits(digits)
    if pc.all(whole).as_py() is False:  # a '+' or a bad value somewhere: the careful way
        digits = _arrow(text.str.removeprefix("+"))
        digits = pc.if_else(_digits(digits), digits, None)
    numbers = _series(pc.cast(digits, pa.int64()))
    values = numbers.to_numpy(dtype=np.int64, na_value=0)
    return numbers, _present(text) & ~((values > 0) & (values <= most))


def _digits(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.and_(pc.ascii_is_decimal(values), pc.less_equal(pc.binary_length(values), 18))


def _seconds(text: pd.Series) -> pd.Series:
    """The values read as numbers; null where they are not."""
    if _ASCII_SPACE_ENDS.maybe_in(text):  # as the SQL rules' cast, ASCII whitespace may surround them
        text = text.str.strip(string.whitespace)
    return _cast_each(text, _FLOAT64)


def utc_times(text: pd.Series) -> pd.Series:
    """The values that are a UTC time written as ``%Y-%m-%dT%H:%M:%SZ`` (2020-07-28T02:01:06Z: a real
    date and time), null for the others."""
    present = _present(text)
    padded = _mask((text.str.len() == 20) & (text.str.slice(10, 11) == "T") & text.str.endswith("Z"))
    # Arrow's ISO 8601 reading checks the calendar; the shape rules out its other forms (a space for
    # the 'T', fractions, offsets)
    times = _cast_each(text if (padded == present).all() else text.where(padded), _SECONDS)
    unpadded = present & ~padded
    if unpadded.any():
        unpadded[unpadded] = _mask(text[unpadded].str.fullmatch(_UNPADDED_TIME))
    if unpadded.any():  # numbers without their leading zeros, which the format allows: rare, one by one
        times[unpadded] = [_strptime(value) for value in text[unpadded]]
    return times


def _strptime(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _cast_each(values: pd.Series, dtype: pd.ArrowDtype) -> pd.Series:
    """Arrow's cast of each value, null where it fails."""
    return _series(_cast_each_arrow(_arrow(values).combine_chunks(), dtype.pyarrow_dtype))


def _cast_each_arrow(values: pa.Array, to: pa.DataType) -> pa.Array:
    # The whole column at once (nearly always), else each half on its own: a few bad values cost a few
    # small casts, and the values cast are read exactly as the whole-column cast reads them
    try:
        return pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return pa.nulls(1, to)
        half = len(values) // 2
        return pa.concat_arrays([_cast_each_arrow(values.slice(0, half), to), _cast_each_arrow(values.slice(half), to)])


def _longer_than(text: pd.Series, most: int) -> np.ndarray:
    """Whether each value has more than ``most`` characters."""
    longer = _mask(pc.greater(pc.binary_length(_arrow(text)), most))  # bytes: at least as many
    if longer.any():
        longer[longer] = _mask(text[longer].str.len() > most)
    return longer


def _is_http(url: pd.Series) -> np.ndarray:
    """Whether each FileURL is an http(s) address: the scheme in any case, '://' and a host."""
    values = _arrow(url)
    host = pc.invert(pc.is_in(pc.utf8_slice_codeunits(values, 8, 9), _NOT_HOST))
    ok = _mask(pc.and_(pc.starts_with(values, "https://"), host))
    unsure = ~ok & _present(url)
    if unsure.any():
        ok[unsure] = _mask(url[unsure].str.slice(0, 9).str.lower().str.match(_HTTP))
    return ok


_NOT_HOST = pa.array(["", "/", "?", "#", " ", "\t", "\n", "\f", "\r"])  # what _HTTP's [^/?#\s] rules out


@dataclass
class _Query:
    """FileURLs cut at their first '?': what is before it, and what is after (null without a '?')."""

    base: pa.ChunkedArray
    after: pa.ChunkedArray


def _query(url: pd.Series) -> _Query:
    parts = pc.split_pattern(_arrow(url), "?", max_splits=1)
    if pc.min(pc.list_value_length(parts)).as_py() != 2:  # some without a '?': padded with nulls
        after = pc.list_slice(parts, 1, 2, return_fixed_size_list=True)
        return _Query(pc.list_element(parts, 0), pc.list_element(after, 0))
    return _Query(pc.list_element(parts, 0), pc.list_element(parts, 1))


def _before_fragment(base: pa.ChunkedArray) -> pa.ChunkedArray:
    """The addresses without their fragment."""
    if not _holds(base, "#"):
        return base
    return pc.list_element(pc.split_pattern(base, "#", max_splits=1), 0)


def _signed_at(url: pd.Series, query: _Query) -> pa.ChunkedArray:
    """When each FileURL was signed, in unix seconds: the digits of its leftmost
    ``[?&]auth_key=<1 to 12 digits>-``; null without one."""
    # Nearly always the query string starts with it, and no '&' before the '?' can start one earlier
    start = pc.extract_regex(query.after, r"^auth_key=(?P<seconds>[0-9]{1,12})-")
    signed = _series(pc.cast(pc.struct_field(start, "seconds"), pa.int64()))
    unsure = np.ones(len(url), dtype=bool) if _holds(query.base, "&") else ~_present(signed)
    if unsure.any():
        careful = pc.struct_field(pc.extract_regex(_arrow(url[unsure]), _SIGNED_AT), "seconds")
        signed[unsure] = _series(pc.cast(careful, pa.int64())).array
    return pa.array(signed)


def _holds(values: pa.ChunkedArray, char: str) -> bool:
    """Whether some value may hold the ASCII ``char`` (its byte is looked for in Arrow's buffers)."""
    for chunk in values.chunks:
        if len(chunk) and chunk.buffers()[2] is not None:
            offsets = np.frombuffer(chunk.buffers()[1], np.int32, len(chunk) + 1, chunk.offset * 4)
            if (np.frombuffer(chunk.buffers()[2], np.uint8)[offsets[0] : offsets[-1]] == ord(char)).any():
                return True
    return False


class _Ends:
    """Characters that may surround values, with a quick test (on the UTF-8 bytes at each end of the
    values, in Arrow's buffers) for when no value has one, so that nothing need be trimmed."""

    def __init__(self, chars: str):
        self.first = np.zeros(256, dtype=bool)
        self.last = np.zeros(256, dtype=bool)
        for char in chars:
            encoded = char.encode()
            self.first[encoded[0]] = self.last[encoded[-1]] = True

    def maybe_in(self, values: pd.Series, *, or_blank: bool = False) -> bool:
        """Whether some value may start or end with one of the characters (or, with ``or_blank``, is empty)."""
        for chunk in _arrow(values).chunks:
            if chunk.null_count == len(chunk):
                continue
            offsets = np.frombuffer(chunk.buffers()[1], np.int32, len(chunk) + 1, chunk.offset * 4)
            starts, ends = offsets[:-1], offsets[1:]
            filled = ends > starts
            if not filled.all():
                if or_blank and not filled[chunk.is_valid().to_numpy(zero_copy_only=False)].all():
                    return True
                starts, ends = starts[filled], ends[filled]
            if len(starts):
                data = np.frombuffer(chunk.buffers()[2], np.uint8)
                if self.first[data[starts]].any() or self.last[data[ends - 1]].any():
                    return True
        return False


_SPACE_ENDS = _Ends(_SPACES)
_ASCII_SPACE_ENDS = _Ends(string.whitespace)


def _arrow(values: pd.Series) -> pa.ChunkedArray:
    """The Arrow data behind a Series, not copied."""
    array = pa.array(values)
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _reasons(failures: list[_Failure], bad: np.ndarray) -> pa.Array:
    """The reason of each bad row: the words of every check it failed, in order, joined by '; '."""
    parts = []
    for failure in failures:
        failed = failure.rows[bad]
        if not failed.any():
            continue
        words: Any = failure.words
        if failure.value is not None:
            value = failure.value[bad]
            if failure.redacted:
                value = value.str.replace(_AUTH_KEY, _REDACTED, regex=True)
            words = failure.words + _quoted(value)
            for after in failure.after if isinstance(failure.after, tuple) else (failure.after,):
                words = words + (after[bad] if isinstance(after, pd.Series) else after)
            words = pa.array(words)
        parts.append(pc.if_else(failed, words, None))
    return pc.binary_join_element_wise(*parts, "; ", null_handling="skip")


def _quoted(values: pd.Series) -> pd.Series:
    """Values between quotes, cut at 60 characters."""
    cut = values.fillna("").str.slice(0, _SHOW)
    long = _mask(values.str.len() > _SHOW)
    return "'" + cut.where(~long, cut + "...") + "'"
