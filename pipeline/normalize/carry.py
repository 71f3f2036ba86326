"""A day's carried videos, typed: the videos its plan did not ask keep the rows of the answer they hold.

From the lake, when the day the plan built on is there as it was fetched (its last audit committed it, typed
from the fetch kept in raw/): that day's rows of those videos, selected in Arrow a batch at a time and
re-stamped (the day, ``carried``, where the answer came from), never typed again. Otherwise (the day not
normalized yet, or held by its audit) from raw/: each video's record in the answers of the day it was
answered, carried and typed again. Either way the rows are those the day's own answers would have held.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import ConfigurationError
from pipeline.normalize.quality import Audit
from pipeline.normalize.rules import Chunk, Normalizer, empty
from pipeline.store import lake
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.raw import carry_records, read_summary
from pipeline.store.schema import ACCOUNT, ANSWER_TABLES, ROWS, arrow_schema
from pipeline.store.videos import id_array
from pipeline.vod.outcome import CARRIED

BATCH_ROWS = 1 << 18  # lake rows read at a time: memory stays flat however many videos are carried


def carried_chunks(
    layout: Layout, day: dt.date, previous: dt.date | None, carried: pd.DataFrame, normalizer: Normalizer, *, chunk_rows: int
) -> Iterator[Chunk]:
    """The rows of ``carried`` (the day's state of its carried videos, by video id: the ``region`` of the
    day's set, ``answered_on``): from ``previous``'s partitions in the lake when they hold every one of them
    as fetched, else from raw/. Their sticker ids are kept by ``normalizer`` first, so an asked answer
    repeating one is quarantined as a repeat."""
    if carried.empty:
        return
    selection = _in_lake(layout, previous, carried) if previous is not None else None
    if previous is not None and selection is not None:
        yield from _from_lake(layout, day, previous, selection, normalizer)
    else:
        regions = dict(zip(carried.index, carried["region"], strict=True))
        yield from _from_raw(layout, carried, regions, normalizer, chunk_rows)


class _Selection(NamedTuple):
    """Which of the lake's rows of the previous day a day carries, said by the few that differ: the videos
    it does not carry (asked that day, or gone from its set), and those carried into another region."""

    left_out: pa.Array
    moved: pa.Array  # video ids whose region in the day's set is not the one of their row
    moved_to: pa.Array  # and that region


def _in_lake(layout: Layout, previous: dt.date, carried: pd.DataFrame) -> _Selection | None:
    """What to take of ``previous``'s lake rows, when the lake holds that day as it was fetched, with a row
    of each video ``carried``; None otherwise."""
    audit = Audit.read(layout.audit(previous))
    files = lake.committed(layout, previous, ANSWER_TABLES)
    if audit is None or not audit.committed or not all(path.exists() for path in files.paths.values()):
        return None
    if files.fetch_summary() != read_summary(layout.fetch_summary(previous)):
        return None  # the day was fetched again since it was typed
    rows = files.parquet("video_fetches").read(columns=["video_id", "region"])
    at = pc.index_in(rows["video_id"], value_set=id_array(carried.index).cast(pa.string()))
    taken = at.is_valid()
    if pc.sum(taken).as_py() != len(carried):
        return None
    region = pc.take(id_array(carried["region"]).cast(pa.string()), at.drop_null())
    held = rows.filter(taken)
    moved = pc.fill_null(pc.not_equal(region, held["region"]), True)
    return _Selection(
        left_out=rows["video_id"].filter(pc.invert(taken)).combine_chunks(),
        moved=held["video_id"].filter(moved).combine_chunks(),
        moved_to=region.filter(moved),
    )


def _from_lake(layout: Layout, day: dt.date, previous: dt.date, selection: _Selection, normalizer: Normalizer) -> Iterator[Chunk]:
    files = lake.committed(layout, previous, ANSWER_TABLES)
    for table in ANSWER_TABLES:
        for batch in files.parquet(table).iter_batches(batch_size=BATCH_ROWS):
            rows = pa.Table.from_batches([batch])
            if len(selection.left_out):
                rows = rows.filter(pc.invert(pc.is_in(rows["video_id"], value_set=selection.left_out)))
            if not rows.num_rows:
                continue
            rows = _restamped(table, rows, day, previous, selection)
            if table == "stickers":
                normalizer.keep_ids(rows["dynamic_image_id"].combine_chunks())
            yield Chunk(**{name: rows if name == table else empty(name) for name in ANSWER_TABLES})


def _restamped(table: str, rows: pa.Table, day: dt.date, previous: dt.date, selection: _Selection) -> pa.Table:
    """A lake table's rows of ``previous`` as the day's carried rows: the day's, in the day's regions; for
    video_fetches ``carried``, with the day and outcome of the answer they hold, and no reason."""
    columns = {name: rows[name] for name in rows.column_names if name != ACCOUNT.name}
    columns[PARTITION_KEY] = pa.array(np.full(rows.num_rows, np.datetime64(day, "D")), pa.date32())
    if len(selection.moved):
        to = pc.take(selection.moved_to, pc.index_in(rows["video_id"], value_set=selection.moved))
        columns["region"] = pc.coalesce(to, rows["region"])
    if table == "video_fetches":
        was_carried = pc.equal(rows["status"], CARRIED)
        columns["carried_status"] = pc.if_else(was_carried, rows["carried_status"], rows["status"])
        columns["carried_from"] = pc.if_else(was_carried, rows["carried_from"], pa.scalar(previous, pa.date32()))
        columns["status"] = pa.repeat(pa.scalar(CARRIED), rows.num_rows)
        columns["reason"] = pa.nulls(rows.num_rows, pa.string())
    schema = arrow_schema(ROWS[table])
    return pa.table([columns[name] for name in schema.names], names=schema.names).cast(schema)


def _from_raw(
    layout: Layout, carried: pd.DataFrame, regions: Mapping[str, str], normalizer: Normalizer, chunk_rows: int
) -> Iterator[Chunk]:
    with tempfile.TemporaryDirectory(prefix="vod-stickers-") as folder:
        path = Path(folder) / "carried.jsonl"
        with open(path, "wb") as out:
            for answered_on, videos in carried.groupby("answered_on").groups.items():
                made = pd.Timestamp(answered_on).date()
                wanted = set(videos)
                found = carry_records(layout.answers(made), made, wanted, regions, out) if layout.answers(made).exists() else set()
                if missing := sorted(wanted - found):
                    raise ConfigurationError(
                        f"{len(missing)} carried videos have no answer in {layout.answers(made)} (first: {missing[0]}), the "
                        f"day their answer was made: restore raw/ of {made}, or normalize the day before this one first"
                    )
        yield from normalizer.normalize_file(path, chunk_rows=chunk_rows)
