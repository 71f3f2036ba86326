"""The Parquet lake: Hive partitions (``snapshot_date=YYYY-MM-DD``) replaced whole, atomically.

A partition holds one file per account (``Layout.part_file``), written in ``lake/.tmp/`` and renamed into
its folder, so readers see the old day or the new day, never half of one, and never a file that is not
part of the table. The tables of a
day are renamed together, through a journal, so a day is replaced all or nothing. The partition key
lives in the folder name only, as Hive, DuckDB, pyarrow, Spark and Trino expect.

Write, audit, publish: a day's files are finished first (``DayWriter.stage``), audited where they are,
and then either committed into the lake or held under ``staging/`` (``DayWriter.hold``), laid out as the
lake is, where the operator can read them and no reader of the lake looks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.store import objects
from pipeline.store.files import finish_replacements, replace_together
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.objects import Location
from pipeline.store.schema import ACCOUNT, DEFAULT_ACCOUNT, TABLES, arrow_schema, pandas_dtypes
from pipeline.vod.outcome import FetchSummary

PART_FILES = "part-*.parquet"


class PartitionWriter:
    """Streams chunks (DataFrames or Arrow tables) into one day's partition of a lake table;
    ``commit()`` publishes it (``DayWriter`` publishes several tables' partitions of a day together).

    Each chunk is encoded and compressed in a background thread while the caller prepares the next
    (pyarrow releases the GIL), with at most one chunk in flight, so memory stays that of two chunks.
    """

    def __init__(self, layout: Layout, table: str, day: dt.date, *, staging: bool = False):
        self.layout, self.table, self.day = layout, table, day
        self.columns = TABLES[table]
        self.schema = arrow_schema(self.columns, without=(PARTITION_KEY,))
        # ``staging``: written under staging/ instead of the lake, to be committed with the day's audited tables
        self.path = staged_path(layout, table, day) if staging else partition_path(layout, table, day)
        # Written beside the lake's tables, not in the partition's folder, so that no reader listing a
        # table's folders ever meets it; named for what it will become, so a file left by a killed
        # writer says what it was (lake/.tmp/.stickers.snapshot_date=2026-11-20.part-0.parquet.<id>.tmp).
        # On an object store the file is written locally, then uploaded in parts under its final key when
        # finished, not completed: invisible to readers until the day's commit completes it.
        spool = _spool(layout)
        self.staged: Location | objects.PendingUpload = (
            spool / f".{table}.{PARTITION_KEY}={day.isoformat()}.{layout.part_file}.{uuid.uuid4().hex}.tmp"
        )
        self._local: tempfile.TemporaryDirectory[str] | None = None
        self._upload: objects.GrowingUpload | None = None
        if objects.is_remote(spool):
            self._local = tempfile.TemporaryDirectory(prefix="vod-stickers-")
            self.tmp = Path(self._local.name) / self.staged.name
            self._upload = objects.GrowingUpload(self.tmp, objects.remote(self.path))
        else:
            spool.mkdir(parents=True, exist_ok=True)
            self.tmp = objects.local(self.staged)
        self._uploaded = False
        self._writer = pq.ParquetWriter(
            self.tmp,
            self.schema,
            compression="zstd",
            use_dictionary=[c.name for c in self.columns if not c.distinct and c.name != PARTITION_KEY],
        )
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"write-{table}")
        self._pending: Future[None] | None = None
        self._closed = False
        self._footer: dict[str, str] = {}
        self.rows = 0
        self.journaled = False

    def describe(self, key: str, value: str) -> None:
        """Keeps ``value`` under ``key`` in the file's footer (Parquet key-value metadata)."""
        self._footer[key] = value

    def write(self, rows: pd.DataFrame | pa.Table) -> None:
        """Appends rows typed as in the schema (the partition key column, if present, is dropped), saying
        the layout's account."""
        if len(rows) == 0:
            return
        if isinstance(rows, pd.DataFrame):
            rows = pa.Table.from_pandas(rows, preserve_index=False)
        if ACCOUNT.name not in rows.column_names:
            rows = rows.append_column(ACCOUNT.name, pa.repeat(pa.scalar(self.layout.account_name), rows.num_rows))
        table = rows.select(self.schema.names).cast(self.schema)
        self._wait()
        self._pending = self._thread.submit(self._append, table)
        self.rows += table.num_rows

    def _append(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        if self._upload is not None:
            self._upload.grown()  # on a store, the parts the file now holds are sent while the next chunk is typed

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # a failed write raises here

    def finish(self) -> Path:
        """Writes the file's footer (on a store: sends its last parts): complete, not yet published.
        Returns a local path of the finished file, readable until the day is committed, held or aborted."""
        self._close()
        if self._upload is not None and not self._uploaded:
            self.staged = self._upload.finish()
            self._uploaded = True
        return self.tmp

    def hold(self) -> Location:
        """Moves the finished file to its place under ``staging/`` instead of the lake (replacing the day's
        file held before, if any); the lake does not change."""
        target = staged_path(self.layout, self.table, self.day)
        self.finish()
        if self._upload is None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp, objects.local(target))
        else:
            objects.upload(self.tmp, objects.remote(target))
            self._abort_upload()
            self._release_local()
        self.journaled = True  # nothing left to remove
        return target

    def commit(self) -> int:
        """Publishes the partition alone (see ``DayWriter`` for several tables of a day)."""
        replace_partitions([self])
        return self.rows

    def _abort_upload(self) -> None:
        """Aborts the finished upload of the file under its final key, never completed."""
        if not isinstance(self.staged, objects.PendingUpload):
            raise TypeError(f"{self.path} has no upload to abort")
        objects.abort(objects.remote(self.path), self.staged)

    def _release_local(self) -> None:
        if self._local is not None:
            self._local.cleanup()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._wait()
            if self._footer:
                self._writer.add_key_value_metadata(self._footer)
        finally:
            self._thread.shutdown()
            self._writer.close()

    def abort(self) -> None:
        try:
            self._close()
        except Exception:  # noqa: BLE001 - the write that failed is why we abort; the file goes anyway
            pass
        if self._local is not None:
            self._local.cleanup()
        if self.journaled:
            return
        if self._upload is None:
            self.tmp.unlink(missing_ok=True)
        elif self._uploaded:
            self._abort_upload()
        else:
            self._upload.abort()

    def __enter__(self) -> PartitionWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()


class DayWriter:
    """One day's partitions of several lake tables, replaced all or nothing: a failure before
    ``commit()`` ends leaves the day as it was, and one during it is completed before anyone next reads
    the lake through this module (see ``replace_partitions``)."""

    def __init__(self, layout: Layout, day: dt.date, tables: tuple[str, ...], *, staging: bool = False):
        finish_interrupted(layout)
        _remove_leftovers(layout, day, tables, staging=staging)
        self._layout, self._day, self._staging = layout, day, staging
        self._writers: dict[str, PartitionWriter] = {}
        try:
            for table in tables:
                self._writers[table] = PartitionWriter(layout, table, day, staging=staging)
        except BaseException:
            self.abort()
            raise

    def __getitem__(self, table: str) -> PartitionWriter:
        return self._writers[table]

    def stage(self) -> dict[str, Path]:
        """Finishes every table's file of the day, not yet published; returns a local path of each, to
        audit before ``commit`` or ``hold``."""
        with ThreadPoolExecutor(max_workers=len(self._writers), thread_name_prefix="finish") as pool:  # uploads, on a store
            finished = {table: pool.submit(writer.finish) for table, writer in self._writers.items()}
            return {table: done.result() for table, done in finished.items()}

    def commit(self, *, with_staged: tuple[str, ...] = ()) -> dict[str, int]:
        """Publishes every table's partition of the day together, and the day's files of ``with_staged``
        tables that wait under staging/ (``staging=True``), if any; returns the rows of each table written.
        A version of the day held in staging before is then dropped: the lake's is newer."""
        staged = {t: staged_path(self._layout, t, self._day) for t in with_staged}
        waiting = [(path, partition_path(self._layout, t, self._day)) for t, path in staged.items() if path.exists()]
        replace_partitions(list(self._writers.values()), also=waiting)
        if not self._staging:
            drop_held(self._layout, self._day, tuple(self._writers))
        return {table: writer.rows for table, writer in self._writers.items()}

    def hold(self) -> dict[str, Location]:
        """Puts the day's finished files under ``staging/`` instead of the lake, which keeps its previous
        version of the day; returns where each table's file now is."""
        return {table: writer.hold() for table, writer in self._writers.items()}

    def abort(self) -> None:
        for writer in self._writers.values():
            writer.abort()

    def __enter__(self) -> DayWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()


def replace_partitions(writers: list[PartitionWriter], also: Sequence[tuple[Location, Location]] = ()) -> None:
    """Finishes the writers' files and renames them into their folders as one change, with the finished
    files of ``also`` (from, to), moved in the same change.

    On an object store each file was uploaded under its final key without being completed, and the
    journal lists the uploads to complete instead (``files.replace_together``).

    The renames are listed in a journal (``lake/.tmp/<day>.replace.json``) made durable first; a failure
    or a crash part-way leaves the journal, and the next reader or writer of the lake finishes the
    renames before it looks (``finish_interrupted``). So a reader going through the pipeline, the
    warehouse's publication and the quality checks included, sees every table of the day old or every
    one new. Other files in a replaced partition's folder are then removed.
    """
    remote = objects.is_remote(writers[0].path)
    with ThreadPoolExecutor(max_workers=len(writers), thread_name_prefix="finish") as pool:  # uploads, on a store
        for finished in [pool.submit(writer.finish) for writer in writers]:
            finished.result()
    for target in [writer.path for writer in writers] + [target for _, target in also]:
        if not remote:  # an object store has no folders to make (and a folder marker would trip readers)
            target.parent.mkdir(parents=True, exist_ok=True)
    days = sorted({writer.day.isoformat() for writer in writers})
    # Each replacement has a journal of its own, so two commits (two tables of a day, two accounts) never
    # overwrite each other's list; the day's lease keeps two writers of the same files apart (``lease``).
    account = "" if writers[0].layout.account is None else f".{writers[0].layout.account}"
    journal = _spool(writers[0].layout) / f"{PARTITION_KEY}={'+'.join(days)}{account}.{uuid.uuid4().hex}.replace.json"
    try:
        replace_together([(writer.staged, writer.path) for writer in writers] + list(also), journal)
    finally:
        if journal.exists():  # past the commit point: the files are the journal's to finish, not to remove
            for writer in writers:
                writer.journaled = True
    for writer in writers:  # a file in no account's name (written before accounts) is no part of the table
        writer._release_local()
        for stale in writer.path.parent.glob("*.parquet"):
            if not is_part_file(stale.name):
                stale.unlink()


def staged_days(layout: Layout) -> dict[tuple[str, dt.date], dict[str, Location]]:
    """The days with files under staging/ (waiting for their day's audit, or held after failing it), every
    account's: (account, day) -> each table's file."""
    found: dict[tuple[str, dt.date], dict[str, Location]] = {}
    root = layout.staging_root
    if not objects.is_remote(root) and not root.exists():
        return found
    paths: list[Location] = sorted(root.glob(f"*/{PARTITION_KEY}=*/{PART_FILES}"))
    for path in paths:
        account = account_of(path) or DEFAULT_ACCOUNT
        day = dt.date.fromisoformat(path.parent.name.split("=", 1)[1])
        found.setdefault((account, day), {})[path.parent.parent.name] = path
    return dict(sorted(found.items(), key=lambda item: (item[0][1], item[0][0])))


def drop_held(layout: Layout, day: dt.date, tables: Iterable[str]) -> None:
    """Removes the account's version of a day held in staging, if any."""
    for table in tables:
        objects.remove(staged_path(layout, table, day))


def finish_interrupted(layout: Layout) -> None:
    """Completes any replacement of a day that a failed or killed writer left half done."""
    finish_replacements(_spool(layout))


def _remove_leftovers(layout: Layout, day: dt.date, tables: tuple[str, ...], idle_s: float = 3600, *, staging: bool = False) -> None:
    """Removes the day's temporary files that a killed writer left, once nothing has written to them for
    ``idle_s`` (a live writer adds to its file chunk after chunk; a journal's files are finished first)."""
    cutoff = time.time() - idle_s
    if objects.is_remote(layout.root):  # uploads begun and never completed: invisible, but they take space
        for table in tables:
            partition = layout.staging_partition(table, day) if staging else layout.lake_partition(table, day)
            for pending in objects.abandoned_uploads(layout.root, f"{objects.remote(partition).path}/{layout.part_file}", cutoff):
                objects.abort(layout.root, pending)
        return
    for table in tables:
        for leftover in _spool(layout).glob(f".{table}.{PARTITION_KEY}={day.isoformat()}.{layout.part_file}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()


def _spool(layout: Layout) -> Location:
    return layout.root / "lake" / ".tmp"


FETCH_SUMMARY_KEY = "vod_stickers.fetch_summary"  # in video_fetches' footer: the day's fetch, committed with it


@dataclass(frozen=True)
class DayFiles:
    """One account's files of a day's lake tables, wherever they are: finished and not yet published,
    held in staging, or in the lake (``committed``)."""

    day: dt.date
    paths: Mapping[str, Location]

    def parquet(self, table: str) -> pq.ParquetFile:
        source, filesystem = objects.arrow(self.paths[table])
        return pq.ParquetFile(source, filesystem=filesystem)

    def read(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Rows of a table's file, typed as in the schema (``columns``: only those)."""
        frame = self.parquet(table).read(columns=columns).to_pandas()
        dtypes = pandas_dtypes(TABLES[table])
        return frame.astype({c: dtypes[c] for c in frame.columns if c in dtypes})

    def fetch_summary(self) -> FetchSummary | None:
        """The fetch the day's video_fetches were typed from, as kept in that file's footer (None in a file
        written before it was kept there)."""
        kept = (self.parquet("video_fetches").metadata.metadata or {}).get(FETCH_SUMMARY_KEY.encode())
        return FetchSummary(**json.loads(kept)) if kept else None


def committed(layout: Layout, day: dt.date, tables: Iterable[str]) -> DayFiles:
    """The layout's account's files of a day in the lake."""
    return DayFiles(day, {table: partition_path(layout, table, day) for table in tables})


def read_partition(layout: Layout, table: str, day: dt.date, *, path: Location | None = None) -> pd.DataFrame:
    """The layout's account's day of a lake table (or its file at ``path``, under staging/), typed as in
    the schema, with its snapshot_date column."""
    columns = TABLES[table]
    source, filesystem = objects.arrow(path or partition_path(layout, table, day))
    frame = pq.read_table(source, filesystem=filesystem).to_pandas()
    frame.insert(0, PARTITION_KEY, day)
    if ACCOUNT.name not in frame:  # written before accounts were recorded
        frame[ACCOUNT.name] = None
    return frame.astype(pandas_dtypes(columns))[[c.name for c in columns]]


def parquet_file(layout: Layout, table: str, day: dt.date) -> pq.ParquetFile:
    """The layout's account's file of a day's partition, to read its schema, footer or some columns (on disk
    or on a store)."""
    source, filesystem = objects.arrow(partition_path(layout, table, day))
    return pq.ParquetFile(source, filesystem=filesystem)


def partitions(
    layout: Layout, tables: Iterable[str], listing: Sequence[Location] | None = None
) -> dict[str, dict[dt.date, list[Location]]]:
    """Each table's partition files by day, oldest first, every account's; on a store, from one listing of
    the lake (``listing``, ``objects.listed(layout.lake_root)``, when given)."""
    finish_interrupted(layout)
    found: dict[str, dict[dt.date, list[Location]]] = {table: {} for table in tables}
    if objects.is_remote(layout.root):
        lake_root = objects.remote(layout.lake_root)
        for path in (
            listing if listing is not None else [objects.at(layout.root, key) for key in sorted(layout.root.fs.find(lake_root.path))]
        ):
            parts = objects.remote(path).path.removeprefix(lake_root.path + "/").split("/")
            if len(parts) == 3 and parts[0] in found and parts[1].startswith(f"{PARTITION_KEY}=") and is_part_file(parts[2]):
                day = dt.date.fromisoformat(parts[1].split("=", 1)[1])
                found[parts[0]].setdefault(day, []).append(path)
    else:
        for table in found:
            folder = layout.lake_table(table)
            paths: list[Location] = sorted(folder.glob(f"{PARTITION_KEY}=*/{PART_FILES}")) if folder.exists() else []
            for path in paths:
                found[table].setdefault(dt.date.fromisoformat(path.parent.name.split("=", 1)[1]), []).append(path)
    return {table: dict(sorted(days.items())) for table, days in found.items()}


def is_part_file(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".parquet")


def account_of(path: Location) -> str | None:
    """The account a partition file is of, by its name: None for a deployment of one account."""
    name = path.name.removeprefix("part-").removesuffix(".parquet")
    return None if name == "0" else name


def partition_days(layout: Layout, table: str, *, staging: bool = False) -> list[dt.date]:
    """The days a lake table holds for the layout's account (``staging``: the days of its files under
    staging/), oldest first."""
    finish_interrupted(layout)
    folder = layout.staging_root / table if staging else layout.lake_table(table)
    days = []
    for path in folder.glob(f"{PARTITION_KEY}=*/{layout.part_file}") if folder.exists() else []:
        days.append(dt.date.fromisoformat(path.parent.name.split("=", 1)[1]))
    return sorted(days)


def staged_path(layout: Layout, table: str, day: dt.date) -> Location:
    """The layout's account's file of a day of a table under staging/: waiting for the day's audit, or
    held after failing it."""
    return layout.staging_partition(table, day) / layout.part_file


def staged_or_committed(layout: Layout, table: str, day: dt.date) -> Location:
    """The account's newest version of a day of a table: the one under staging/ if there is one, else the
    lake's."""
    staged = staged_path(layout, table, day)
    return staged if staged.exists() else partition_path(layout, table, day)


def partition_path(layout: Layout, table: str, day: dt.date) -> Location:
    """The layout's account's file of a day's partition, once any interrupted replacement of the lake is
    finished."""
    finish_interrupted(layout)
    return layout.lake_partition(table, day) / layout.part_file
