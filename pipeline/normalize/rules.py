"""Raw answers to typed sticker rows, with a quarantine for what fails, in bounded chunks.

The typing rules are SQL (``pipeline/sql/normalize.sql``) run by an in-process DuckDB that streams the
day's answer file: DuckDB parses the JSON and checks every field in compiled code, so a day of a million
stickers takes seconds and the memory of a chunk. Every item VOD returned ends in exactly one of the
two outputs: ``stickers`` (typed as in ``pipeline.schema``) or ``quarantine`` (raw values as strings,
plus the reason in words).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import string
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

from pipeline.store.schema import (
    API_FIELDS,
    QUARANTINE,
    STICKERS,
    VIDEO_FETCHES,
    arrow_schema,
    pandas_dtypes,
)

DEFAULT_URL_VALIDITY_S = 1800  # a CDN domain's default auth_key validity: 30 minutes
CHUNK_ROWS = 50_000  # rows typed at a time (some tens of MB): memory does not grow with the day
_AUTH_KEY = r"(?i)(auth_key=)[^&#]*"
_SHOW = 60  # characters of a bad raw value quoted in a reason

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
    """Part of a day's answers, typed: Arrow tables in the lake's schemas."""

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
        self._set_variables(self._db)
        self._db.execute(_STATEMENTS["seen_ids"])

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
            self._db.execute(_STATEMENTS["answers_records"])
            stickers, quarantine = self._split(self._db.sql(_STATEMENTS["typed"]).to_arrow_table())
        finally:
            self._db.execute("DROP VIEW answers")
            self._db.unregister("raw_records")
        return Normalized(
            stickers=stickers.to_pandas().astype(pandas_dtypes(STICKERS)),
            quarantine=quarantine.to_pandas().astype(pandas_dtypes(QUARANTINE)),
        )

    def normalize_file(self, answers: Path, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
        """Types a finished answer file (JSON lines) in two streamed passes, ``chunk_rows`` rows at a time:
        first every video's outcome (``video_fetches``), then the stickers and quarantined items, in
        file order. Each chunk holds some of the three tables; the others are empty."""
        empty = {name: schema.empty_table() for name, schema in _SCHEMAS.items()}
        for rows in self._stream(answers, "video_fetches", chunk_rows):
            fetches = rows.cast(_SCHEMAS["video_fetches"])
            yield Chunk(stickers=empty["stickers"], quarantine=empty["quarantine"], video_fetches=fetches)
        for rows in self._stream(answers, "typed", chunk_rows):
            stickers, quarantine = self._split(rows)
            yield Chunk(stickers=stickers, quarantine=quarantine, video_fetches=empty["video_fetches"])

    def _stream(self, answers: Path, statement: str, chunk_rows: int) -> Iterator[pa.Table]:
        """A statement's rows over the answer file, in order: read with the items' shape declared, and
        from the first item of another shape on, with every item parsed as it comes (same rows)."""
        done = 0
        for view in ("answers_shaped", "answers_any"):
            reader = duckdb.connect()
            try:
                reader.execute("SET VARIABLE answers_path = ?", [str(answers)])
                self._set_variables(reader)
                reader.execute(_STATEMENTS[view])
                chunks = _chunks(reader, _STATEMENTS[statement], chunk_rows)
                skip = done  # rows the first way already gave (read again, not given twice)
                while True:
                    try:
                        rows = next(chunks)
                    except StopIteration:
                        return
                    except duckdb.InvalidInputException:
                        if view == "answers_any":
                            raise
                        break
                    if skip >= rows.num_rows:
                        skip -= rows.num_rows
                        continue
                    rows, skip = rows.slice(skip), 0
                    done += rows.num_rows
                    yield rows
            finally:
                reader.close()

    def _set_variables(self, db: duckdb.DuckDBPyConnection) -> None:
        db.execute("SET VARIABLE snapshot_date = ?::DATE", [self.snapshot_date.isoformat()])
        db.execute("SET VARIABLE url_validity_s = ?::BIGINT", [self.url_validity_s])
        db.execute(_STATEMENTS["macros"])

    def _split(self, typed: pa.Table) -> tuple[pa.Table, pa.Table]:
        """(stickers, quarantine) of typed items, once repeats of a sticker id are marked; the kept ids
        are remembered for the rest of the day."""
        typed = self._mark_repeated(typed)
        good = pc.equal(typed["reason"], "")
        everything_good = pc.all(good).as_py() is not False  # True, or None when there is no row
        kept = typed if everything_good else typed.filter(good)
        stickers = kept.select(_SCHEMAS["stickers"].names).cast(_SCHEMAS["stickers"])
        self._db.register("kept", stickers.select(["dynamic_image_id"]))
        try:
            self._db.execute(_STATEMENTS["remember"])
        finally:
            self._db.unregister("kept")
        quarantine = _SCHEMAS["quarantine"].empty_table() if everything_good else _quarantine(typed.filter(pc.invert(good)))
        return stickers, quarantine

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


def _chunks(db: duckdb.DuckDBPyConnection, statement: str, rows: int) -> Iterator[pa.Table]:
    """The statement's rows in tables of about ``rows`` (DuckDB's own batches are a few thousand rows).
    DuckDB's errors, even those of the first rows, raise from ``next()``."""
    batches: list[pa.RecordBatch] = []
    size = 0
    for batch in db.sql(statement).to_arrow_reader(rows):
        batches.append(batch)
        size += batch.num_rows
        if size >= rows:
            yield pa.Table.from_batches(batches)
            batches, size = [], 0
    if batches:
        yield pa.Table.from_batches(batches)


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
    text = string.Template(resources.files("pipeline.normalize").joinpath("normalize.sql").read_text(encoding="utf-8")).substitute(
        record_columns=", ".join(f"{name}: '{kind}'" for name, kind in _RECORD_COLUMNS.items() if name != "response"),
        item_struct="STRUCT(" + ", ".join(f"{name} VARCHAR" for name in API_FIELDS) + ")",
        item_json=json.dumps(dict.fromkeys(API_FIELDS, "VARCHAR")),
    )
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2])}


_STATEMENTS = _statements()
