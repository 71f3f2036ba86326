"""The Parquet lake: Hive partitions (``snapshot_date=YYYY-MM-DD``) replaced whole, atomically.

A partition is one file, written in ``lake/.tmp/`` and renamed into its folder, so readers see the old
day or the new day, never half of one, and never a file that is not part of the table. The partition key lives in the folder
name only, as Hive, DuckDB, pyarrow, Spark and Trino expect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.store.files import atomic_write
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.schema import TABLES, arrow_schema, pandas_dtypes

PART_FILE = "part-0.parquet"


class PartitionWriter:
    """Streams chunks (DataFrames or Arrow tables) into one day's partition of a lake table;
    ``commit()`` publishes it.

    Each chunk is encoded and compressed in a background thread while the caller prepares the next
    (pyarrow releases the GIL), with at most one chunk in flight, so memory stays that of two chunks.
    """

    def __init__(self, layout: Layout, table: str, day: dt.date):
        self.columns = TABLES[table]
        self.schema = arrow_schema(self.columns, without=(PARTITION_KEY,))
        self.folder = layout.lake_partition(table, day)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / PART_FILE
        # Written beside the lake's tables, not in the partition's folder, so that no reader listing a
        # table's folders ever meets it.
        self._replacement = contextlib.ExitStack()
        tmp = self._replacement.enter_context(atomic_write(self.path, spool=layout.lake_table(table).parent / ".tmp"))
        self._writer = pq.ParquetWriter(
            tmp,
            self.schema,
            compression="zstd",
            use_dictionary=[c.name for c in self.columns if not c.distinct and c.name != PARTITION_KEY],
        )
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"write-{table}")
        self._pending: Future[None] | None = None
        self.rows = 0

    def write(self, rows: pd.DataFrame | pa.Table) -> None:
        """Appends rows typed as in the schema (the partition key column, if present, is dropped)."""
        if isinstance(rows, pa.Table):
            names = [n for n in rows.column_names if n != PARTITION_KEY]
            table = rows.select(names).cast(self.schema)
        else:
            table = pa.Table.from_pandas(rows.drop(columns=[PARTITION_KEY]), schema=self.schema, preserve_index=False)
        if table.num_rows == 0:
            return
        self._wait()
        self._pending = self._thread.submit(self._writer.write_table, table)
        self.rows += table.num_rows

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # a failed write raises here

    def _close(self) -> None:
        try:
            self._wait()
        finally:
            self._thread.shutdown()
            self._writer.close()

    def commit(self) -> int:
        """Renames the finished file into place and removes any other file of the old partition."""
        self._close()
        self._replacement.close()  # renames into place
        for stale in self.folder.glob("*.parquet"):
            if stale.name != PART_FILE:
                stale.unlink()
        return self.rows

    def abort(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001 - the write that failed is why we abort; the file goes anyway
            pass
        aborted = RuntimeError("partition write aborted")
        self._replacement.__exit__(type(aborted), aborted, None)  # removes the temporary file

    def __enter__(self) -> PartitionWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()


def read_partition(layout: Layout, table: str, day: dt.date) -> pd.DataFrame:
    """One day of a lake table, typed as in the schema, with its snapshot_date column."""
    columns = TABLES[table]
    frame = pq.read_table(partition_path(layout, table, day)).to_pandas()
    frame.insert(0, PARTITION_KEY, day)
    return frame.astype(pandas_dtypes(columns))[[c.name for c in columns]]


def partition_days(layout: Layout, table: str) -> list[dt.date]:
    """The days a lake table holds, oldest first."""
    folder = layout.lake_table(table)
    days = []
    for path in folder.glob(f"{PARTITION_KEY}=*/{PART_FILE}") if folder.exists() else []:
        days.append(dt.date.fromisoformat(path.parent.name.split("=", 1)[1]))
    return sorted(days)


def partition_path(layout: Layout, table: str, day: dt.date) -> Path:
    return layout.lake_partition(table, day) / PART_FILE
