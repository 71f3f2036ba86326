"""Raw answers to typed sticker rows, with a quarantine for what fails, in bounded chunks of videos.

The typing rules are SQL (``pipeline/sql/normalize.sql``) run by an in-process DuckDB over one chunk of
answers at a time: DuckDB parses the JSON and checks every field in compiled code, so a day of a million
stickers takes seconds and the memory of one chunk. Every item VOD returned ends in exactly one of the
two outputs: ``stickers`` (typed as in ``pipeline.schema``) or ``quarantine`` (raw values as strings,
plus the reason in words).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.schema import QUARANTINE, STICKERS, VIDEO_FETCHES, arrow_schema, pandas_dtypes

DEFAULT_URL_VALIDITY_S = 1800  # a CDN domain's default auth_key validity: 30 minutes
CHUNK_VIDEOS = 20_000
_AUTH_KEY = r"(?i)(auth_key=)[^&#]*"
_SHOW = 60  # characters of a bad raw value quoted in a reason  # videos typed at a time: about 100,000 stickers, some 100 MB

# The raw store's record: every field as it was written, VOD's answer as JSON text.
_RECORD_COLUMNS = {
    "video_id": "VARCHAR",
    "status": "VARCHAR",
    "fetched_at": "VARCHAR",
    "attempts": "BIGINT",
    "request_id": "VARCHAR",
    "http_status": "BIGINT",
    "error_code": "VARCHAR",
    "error_message": "VARCHAR",
    "response": "JSON",
}
_RECORD_SCHEMA = pa.schema(
    [(name, pa.int64() if kind == "BIGINT" else pa.string()) for name, kind in _RECORD_COLUMNS.items()]
)
_SCHEMAS = {"stickers": arrow_schema(STICKERS), "quarantine": arrow_schema(QUARANTINE), "video_fetches": arrow_schema(VIDEO_FETCHES)}


@dataclass
class Chunk:
    """One chunk of a day's answers, typed: Arrow tables in the lake's schemas."""

    stickers: pa.Table
    quarantine: pa.Table
    video_fetches: pa.Table


@dataclass
class Normalized:
    """The same, as pandas frames typed as in the schema."""

    stickers: pd.DataFrame
    quarantine: pd.DataFrame

    @property
    def items(self) -> int:
        return len(self.stickers) + len(self.quarantine)


class Normalizer:
    """Types one snapshot day's answers, chunk by chunk. Remembers the sticker ids it has kept so a
    DynamicImageId that comes twice in the day is quarantined, whichever chunk it arrives in."""

    def __init__(self, snapshot_date: dt.date, *, url_validity_s: int = DEFAULT_URL_VALIDITY_S):
        if url_validity_s < 0:
            raise ValueError(f"url_validity_s must be >= 0, got {url_validity_s}")
        self.snapshot_date = snapshot_date
        self.url_validity_s = url_validity_s
        self._db = duckdb.connect()
        self._db.execute("SET VARIABLE snapshot_date = ?::DATE", [snapshot_date.isoformat()])
        self._db.execute("SET VARIABLE url_validity_s = ?::BIGINT", [url_validity_s])
        self._db.execute("SET VARIABLE skip = 0")
        self._db.execute(_STATEMENTS["macros"])
        self._position = 0

    def close(self) -> None:
        self._db.close()

    def normalize(self, records: Iterable[dict[str, Any]]) -> Normalized:
        """Types the answered records (raw store lines, as dicts) of one chunk, as pandas frames."""
        rows = [
            {**{name: record.get(name) for name in _RECORD_COLUMNS}, "response": _json_or_none(record.get("response"))}
            for record in records
        ]
        self._db.register("raw_records", pa.Table.from_pylist(rows, schema=_RECORD_SCHEMA))
        try:
            lists = self._db.sql(_STATEMENTS["lists"]).to_arrow_table()
        finally:
            self._db.unregister("raw_records")
        chunk = self.type_chunk(lists, with_fetches=False)
        return Normalized(
            stickers=chunk.stickers.to_pandas().astype(pandas_dtypes(STICKERS)),
            quarantine=chunk.quarantine.to_pandas().astype(pandas_dtypes(QUARANTINE)),
        )

    def normalize_file(self, answers: Path, *, chunk_videos: int = CHUNK_VIDEOS) -> Iterator[Chunk]:
        """Types a finished answer file (JSON lines), ``chunk_videos`` videos at a time, in file order.

        The file is read with the items' shape declared (fast); at the first item that is not an object,
        reading goes on from that record's chunk with every item parsed as it comes (slower, any shape).
        """
        done = 0
        for statement in ("lists_typed", "lists"):
            reader_db = duckdb.connect()
            try:
                reader_db.execute("SET VARIABLE answers_path = ?", [str(answers)])
                reader_db.execute("SET VARIABLE skip = ?", [done])
                reader_db.execute(_STATEMENTS["answer_file"])
                batches = _batches(reader_db, _STATEMENTS[statement], chunk_videos)
                while True:
                    try:
                        batch = next(batches)
                    except StopIteration:
                        return
                    except duckdb.InvalidInputException:
                        if statement == "lists":
                            raise
                        break  # an item of another shape: read the rest the robust way
                    done += batch.num_rows
                    yield self.type_chunk(pa.Table.from_batches([batch]))
            finally:
                reader_db.close()

    def type_chunk(self, answers: pa.Table, *, with_fetches: bool = True) -> Chunk:
        """Types one chunk of the ``lists`` statement's rows (one per video, its items parsed)."""
        positions = pa.array(range(self._position, self._position + answers.num_rows), pa.int64())
        self._position += answers.num_rows
        self._db.register("answers", answers.append_column("position", positions))
        try:
            fetches = self._db.sql(_STATEMENTS["video_fetches"]).to_arrow_table() if with_fetches else None
            typed = self._db.sql(_STATEMENTS["typed"]).to_arrow_table()
        finally:
            self._db.unregister("answers")
        typed = self._mark_repeated(typed)
        good = pc.equal(typed["reason"], "")
        stickers = typed.filter(good).select(_SCHEMAS["stickers"].names).cast(_SCHEMAS["stickers"])
        self._db.register("kept", stickers.select(["dynamic_image_id"]))
        try:
            self._db.execute(_STATEMENTS["remember"])
        finally:
            self._db.unregister("kept")
        return Chunk(
            stickers=stickers,
            quarantine=_quarantine(typed.filter(pc.invert(good))),
            video_fetches=_SCHEMAS["video_fetches"].empty_table() if fetches is None else fetches.cast(_SCHEMAS["video_fetches"]),
        )

    def _mark_repeated(self, typed: pa.Table) -> pa.Table:
        """Adds the reason to every row whose sticker id came earlier in the day (this chunk or before)."""
        ids = typed["dynamic_image_id"].combine_chunks()
        codes = pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False)
        codes = np.nan_to_num(codes, nan=-1).astype(np.int64) if codes.dtype.kind == "f" else codes.astype(np.int64)
        # Dictionary codes count distinct ids in order of first sight: a row is a repeat when its code is
        # no larger than the largest code before it.
        repeated = np.zeros(len(codes), dtype=bool)
        if len(codes) > 1:
            repeated[1:] = codes[1:] <= np.maximum.accumulate(codes)[:-1]
        repeated &= codes >= 0
        self._db.register("chunk_ids", pa.table({"row": pa.array(np.arange(len(codes))), "id": ids}))
        try:
            before = self._db.sql(_STATEMENTS["seen_before"]).to_arrow_table()["row"].to_numpy()
        finally:
            self._db.unregister("chunk_ids")
        repeated[before] = True
        if not repeated.any():
            return typed
        quoted = pc.if_else(pc.greater(pc.utf8_length(ids), _SHOW), pc.binary_join_element_wise(pc.utf8_slice_codeunits(ids, 0, _SHOW), "...", ""), ids)
        said = pc.binary_join_element_wise("DynamicImageId '", quoted, "' came more than once in this snapshot; the first was kept", "")
        reason = typed["reason"]
        joined = pc.if_else(pc.equal(reason, ""), said, pc.binary_join_element_wise(reason, said, "; "))
        return typed.set_column(typed.schema.get_field_index("reason"), "reason", pc.if_else(pa.array(repeated), joined, reason))

    def __enter__(self) -> Normalizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _batches(db: duckdb.DuckDBPyConnection, statement: str, size: int) -> Iterator[pa.RecordBatch]:
    """The statement's rows in record batches of ``size``; DuckDB's errors raise from ``next()``."""
    yield from db.sql(statement).to_arrow_reader(size)


def _quarantine(typed: pa.Table) -> pa.Table:
    """The quarantine rows: raw values as VOD sent them, but never a FileURL's auth_key."""
    schema = _SCHEMAS["quarantine"]
    columns = [
        pc.replace_substring_regex(typed[name], _AUTH_KEY, r"\1<redacted>") if name.startswith("raw_") else typed[name]
        for name in schema.names
    ]
    return pa.Table.from_arrays(columns, names=schema.names).cast(schema)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _statements() -> dict[str, str]:
    text = resources.files("pipeline").joinpath("sql", "normalize.sql").read_text(encoding="utf-8")
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2])}


_STATEMENTS = _statements()
