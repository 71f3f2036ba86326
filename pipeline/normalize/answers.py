"""The day's answer file as Arrow tables: its records a block of lines at a time, and their items one
row each, every field as VOD sent it."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from pipeline.store import objects
from pipeline.store.objects import Location
from pipeline.store.schema import UTC_TIMESTAMP, VIDEO_FETCHES, arrow_schema
from pipeline.vod.api import API_FIELDS

_PARSE_BYTES = 8 << 20  # JSON handed to Arrow's parser at a time: it slows down on much larger parts
_BLOCKS_AHEAD = 2  # blocks parsed ahead of the one being typed, so the parser goes on while that waits on a write

HOLD_ANSWERS = ("answered", "carried")  # the statuses whose records hold VOD's answer
RAW_COLUMNS = {api: f"raw_{snake}" for api, snake in API_FIELDS.items()}  # an item's fields, as the quarantine names them
_ITEM = pa.struct([(api, pa.string()) for api in API_FIELDS])
# The raw store's record as read: the fields video_fetches takes as they are (JSON has no timestamps nor
# dates: those are read as text), and VOD's answer.
_RECORD = pa.schema(
    [
        pa.field(f.name, pa.string() if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type) else f.type)
        for f in arrow_schema(VIDEO_FETCHES)
        if f.name not in ("snapshot_date", "stickers_returned")
    ]
    + [pa.field("response", pa.struct([("DynamicImageList", pa.list_(_ITEM))]))]
)
_READ = pj.ReadOptions(use_threads=False, block_size=_PARSE_BYTES)
_PARSE = pj.ParseOptions(explicit_schema=_RECORD, unexpected_field_behavior="ignore")


def read_records(path: Location, *, block_bytes: int) -> Iterator[pa.Table]:
    """The file's records, a block of lines at a time in file order; the next block is parsed in a
    background thread (Arrow's parser runs without the GIL) while one is typed."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse-answers") as parser:
        ahead: deque[Future[pa.Table]] = deque()
        for offset, block in _line_blocks(path, block_bytes):
            ahead.append(parser.submit(_parse_block, path, offset, block))
            if len(ahead) > _BLOCKS_AHEAD:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def _line_blocks(path: Location, size: int) -> Iterator[tuple[int, memoryview]]:
    """The file in blocks of whole lines of about ``size`` bytes (more for a longer line), each with its
    offset in the file. The first blocks are smaller, so that typing starts sooner."""
    offset, usual = 0, max(size // 8, 1)
    rest = b""  # the start of a line the last block cut, read on (no seeking back: a store's reader runs ahead)
    with objects.open_read(path) as file:
        at_end = False
        while not at_end:
            block = bytearray(len(rest) + usual)  # read into, not joined: no copy of the block in Python
            block[: len(rest)] = rest
            got = file.readinto(memoryview(block)[len(rest) :])
            at_end, filled = got < usual, len(rest) + got
            end = filled if at_end else block.rfind(b"\n", 0, filled) + 1  # the last line may have no newline
            if not end:
                rest = bytes(block[:filled])  # a line longer than the block: read on
                continue
            yield offset, memoryview(block)[:end]
            rest, offset, usual = bytes(block[end:filled]), offset + end, min(usual * 2, size)


def _parse_block(path: Location, offset: int, block: memoryview) -> pa.Table:
    """A block's records, with the items' shape declared; a block holding an answer of another shape
    (an item that is not an object, a number where text was expected) is read record by record."""
    try:
        table = pj.read_json(pa.BufferReader(pa.py_buffer(block)), read_options=_READ, parse_options=_PARSE)
    except pa.ArrowInvalid:
        table = _parse_lines(path, offset, bytes(block))
    fetched_at = table.schema.get_field_index("fetched_at")
    return table.set_column(fetched_at, "fetched_at", pc.cast(table["fetched_at"], UTC_TIMESTAMP))


def _parse_lines(path: Location, offset: int, block: bytes) -> pa.Table:
    """The block's records parsed one by one with Python: an item that is not an object becomes null,
    and a field that is not text keeps its JSON text (numbers as VOD wrote them)."""
    rows = []
    for index, line in enumerate(block.split(b"\n")):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_float=str)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            row = {name: record.get(name) for name in _RECORD.names}
            row["response"] = {"DynamicImageList": _item_list(record.get("response"))}
        except ValueError as err:
            raise ValueError(f"{path}, line {_lines_before(path, offset) + index + 1}: {err}") from None
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=_RECORD)


def _lines_before(path: Location, offset: int) -> int:
    with path.open("rb") as file:
        return file.read(offset).count(b"\n")


def _item_list(response: Any) -> list[dict[str, str | None] | None] | None:
    if response is None:
        return None
    if not isinstance(response, dict):
        raise ValueError("response is not a JSON object")
    items = response.get("DynamicImageList")
    if items is None:
        return None
    if not isinstance(items, list):
        raise ValueError("response.DynamicImageList is not a list")
    return [{api: _as_text(item.get(api)) for api in API_FIELDS} if isinstance(item, dict) else None for item in items]


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def items_of(records: pa.Table) -> pa.Table:
    """One row per item of the answered (or carried) records, in file order: the video, the answer's
    request id and time, the item's position in its list and its raw fields (all null for an item that is
    not an object)."""
    lists = pc.struct_field(records["response"], "DynamicImageList")
    answered = pc.fill_null(pc.is_in(records["status"], pa.array(HOLD_ANSWERS)), False).to_numpy()
    if not answered.all():
        lists = lists.filter(pa.array(answered))
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy()
    parent = np.repeat(np.flatnonzero(answered), lengths)
    position = np.arange(len(parent)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    item = pc.list_flatten(lists)
    columns = {
        **{name: records[name].take(parent) for name in ("video_id", "region", "request_id", "fetched_at")},
        "item_index": pa.array(position, pa.int32()),
        "not_an_object": item.is_null(),
        **{raw: pc.struct_field(item, api) for api, raw in RAW_COLUMNS.items()},
    }
    return pa.table(columns)
