"""The DuckDB warehouse: a small file of views over the lake and the newest day's summaries, built
under a new name and swapped in with one rename.

The all-snapshot tables (``stickers``, ``quarantine``, ``video_fetches``, ``videos``) are views over the
lake's Parquet files, every account's, listed by absolute path when the file is published;
``latest_stickers`` and ``latest_videos`` are views over each account's newest day's file. Only the newest
days' summaries and the per-day ``fetch_log`` are stored in the file. So a publish reads one day of
stickers an account whatever the number of days kept, and copies nothing. The ``*_per_day`` views read
per-day summary files kept beside the lake (``summaries``), made only for days new or re-written.

Analysts who hold the old file open keep reading it, and the files it lists; the publisher never
waits for them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.publish import sql, summaries
from pipeline.store import lake, objects
from pipeline.store.files import atomic_write
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.objects import Location
from pipeline.store.raw import day_summary
from pipeline.store.schema import ACCOUNT, DEFAULT_ACCOUNT, TABLES, Column, arrow_schema
from pipeline.vod.outcome import FetchSummary

# Written in DuckDB 1.0's storage format, so every DuckDB since 1.0 (CLI, drivers, BI tools) can open it.
STORAGE_VERSION = "v1.0.0"

TABLE_NAMES = (
    "stickers",
    "quarantine",
    "video_fetches",
    "videos",
    "events",
    "fetch_log",
    "video_sticker_stats",
    "daily_sticker_stats",
    "format_stats",
)


def publish(layout: Layout) -> dict[str, int]:
    """Rebuilds ``warehouse.duckdb`` over the lake and the fetch summaries; returns rows per table."""
    if not objects.is_remote(layout.root):
        return _publish(layout, lake.partitions(layout, TABLES))
    lake.finish_interrupted(layout)  # before the listing: it must show the lake as the journals leave it
    try:
        with objects.listed(objects.remote(layout.lake_root)) as listing:  # the lake's files, each asked about with no request of its own
            return _publish(layout, lake.partitions(layout, TABLES, listing))
    except Exception:  # noqa: BLE001 - a file replaced since the listing (another account's day): once more, asking the store
        return _publish(layout, lake.partitions(layout, TABLES))


def _publish(layout: Layout, files: dict[str, dict[dt.date, list[Location]]]) -> dict[str, int]:
    footers = _footers(files)
    remote = objects.is_remote(layout.root)
    summary_files = summaries.refresh(layout, files)  # the days new or re-written since the last publish
    with (
        atomic_write(layout.warehouse) as tmp,
        duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_VERSION}) as con,
        tempfile.TemporaryDirectory(prefix="vod-stickers-") as scratch,
    ):
        if remote:
            con.register_filesystem(objects.remote(layout.root).fs)  # the views' s3:// files, read without DuckDB's httpfs
        for table, days in files.items():
            _lake_view(con, table, table, [path for paths in days.values() for path in paths], footers)
        summaries.create_views(con, summary_files)
        newest = {table: _newest(days) for table, days in files.items()}
        # The newest day's summaries are computed from local copies of its files (on a store, DuckDB reads
        # through fsspec, slower than a download); the latest_* views then point at the lake itself.
        near = _fetched(newest, Path(scratch)) if remote else newest
        _lake_view(con, "latest_stickers", "stickers", near["stickers"], footers)
        _lake_view(con, "latest_videos", "videos", near["videos"], footers)
        _lake_view(con, "newest_video_fetches", "video_fetches", near["video_fetches"], footers, kind="TEMP")
        con.register("fetch_runs_frame", _fetch_runs(layout, files["video_fetches"], footers))
        con.execute("CREATE TEMP VIEW fetch_runs AS SELECT * FROM fetch_runs_frame")
        con.register("lake_rows_frame", _lake_rows(files, footers))
        con.execute("CREATE TEMP VIEW lake_rows AS SELECT * FROM lake_rows_frame")
        con.execute(sql.load("warehouse.sql"))
        if remote:
            _lake_view(con, "latest_stickers", "stickers", newest["stickers"], footers, kind="OR REPLACE")
            _lake_view(con, "latest_videos", "videos", newest["videos"], footers, kind="OR REPLACE")
        for name in ("history.sql", "comments.sql"):
            con.execute(sql.load(name))
        con.execute(_lake_column_comments())
        counts = {name: _count(con, name) for name in TABLE_NAMES}
        con.execute("CHECKPOINT")
    return counts


@contextlib.contextmanager
def connect(warehouse: Location) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse opened read-only. On an object store the file is fetched first, and the store is
    registered with DuckDB, so the views reach the lake's ``s3://`` files without DuckDB's httpfs."""
    with objects.local_copy(warehouse) as local, duckdb.connect(str(local), read_only=True) as con:
        if objects.is_remote(warehouse):
            con.register_filesystem(warehouse.fs)
        yield con


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """Rows of a table; for a lake view, the sum of its files' footers (no data is read)."""
    if name in TABLES:
        (rows,) = con.execute("SELECT coalesce(sum(rows), 0)::BIGINT FROM lake_rows WHERE lake_table = ?", [name]).fetchall()[0]
        return int(rows)
    (rows,) = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0]
    return int(rows)


def _newest(days: dict[dt.date, list[Location]]) -> list[Location]:
    """Each account's file of its newest day (an account whose day failed keeps its day before)."""
    newest = {lake.account_of(path): path for paths in days.values() for path in paths}  # days oldest first
    return sorted(newest.values(), key=str)


def _footers(files: dict[str, dict[dt.date, list[Location]]]) -> dict[str, pq.FileMetaData]:
    """Each file's Parquet footer (its columns and rows), by address, read a few at a time (on a store,
    each is a round trip)."""
    paths = {objects.url(path): path for days in files.values() for day in days.values() for path in day}

    def footer(path: Location) -> pq.FileMetaData:
        source, filesystem = objects.arrow(path)
        return pq.read_metadata(source, filesystem=filesystem)

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="footer") as pool:
        return dict(zip(paths, pool.map(footer, paths.values()), strict=True))


def _fetched(newest: dict[str, list[Location]], folder: Path) -> dict[str, list[Location]]:
    """Local copies of the newest files, under their table and partition folders (the view takes the day
    from the folder's name), keyed as ``newest``."""
    local: dict[str, list[Location]] = {}
    for table, paths in newest.items():
        local[table] = []
        for path in paths:
            target = folder / table / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            remote = objects.remote(path)
            remote.fs.get_file(remote.path, str(target))
            local[table].append(target)
    return local


def _lake_view(
    con: duckdb.DuckDBPyConnection,
    name: str,
    table: str,
    files: list[Location],
    footers: dict[str, pq.FileMetaData],
    *,
    kind: str = "",
) -> None:
    """A view ``name`` over some files of a lake table (``kind``: TEMP, OR REPLACE); with no file, an empty
    table of its columns."""
    columns = TABLES[table]
    if not files:
        con.register(f"{name}_empty", arrow_schema(columns).empty_table())
        made = "TEMP VIEW" if kind == "TEMP" else "OR REPLACE TABLE" if kind == "OR REPLACE" else "TABLE"
        con.execute(f"CREATE {made} {name} AS SELECT * FROM {name}_empty")
        return
    # By absolute path or s3:// address, so readers elsewhere find them
    literal = "[" + ", ".join("'" + objects.url(f).replace("'", "''") + "'" for f in files) + "]"
    # A column added to the schema later is in no file written before it: NULL there (region), or the one
    # account a deployment then had
    names = [set(_names(footers, f)) | {PARTITION_KEY} for f in files]
    present = set().union(*names)
    everywhere = set.intersection(*names)

    def column(c: Column) -> str:
        if c.name == ACCOUNT.name and c.name not in present:
            return f"'{DEFAULT_ACCOUNT}' AS \"{c.name}\""
        if c.name not in present:
            return f'CAST(NULL AS {_SQL_TYPES[c.arrow]}) AS "{c.name}"'
        if c.name == ACCOUNT.name and c.name not in everywhere:
            return f'coalesce("{c.name}", \'{DEFAULT_ACCOUNT}\') AS "{c.name}"'
        return f'"{c.name}"'

    con.execute(
        sql.load(
            "lake_view.sql",
            kind=kind,
            union=str(any(c.name not in everywhere for c in columns)).lower(),
            name=name,
            columns=", ".join(map(column, columns)),
            files=literal,
        )
    )


# DuckDB's names of the lake's column types, for a column none of a view's files holds yet.
_SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
}


def _names(footers: dict[str, pq.FileMetaData], path: Location) -> list[str]:
    """The columns of a file (of its local copy: the lake file's, by its partition folder and name)."""
    footer = footers.get(objects.url(path))
    if footer is None:
        return pq.read_schema(path).names
    return footer.schema.to_arrow_schema().names


def _lake_rows(files: dict[str, dict[dt.date, list[Location]]], footers: dict[str, pq.FileMetaData]) -> pa.Table:
    """Rows per day, account and lake table, read from each file's Parquet footer (no data is read)."""
    records = [
        {
            "lake_table": table,
            PARTITION_KEY: day,
            ACCOUNT.name: lake.account_of(path) or DEFAULT_ACCOUNT,
            "rows": footers[objects.url(path)].num_rows,
        }
        for table, days in files.items()
        for day, paths in days.items()
        for path in paths
    ]
    schema = pa.schema([("lake_table", pa.string()), (PARTITION_KEY, pa.date32()), (ACCOUNT.name, pa.string()), ("rows", pa.int64())])
    return pa.Table.from_pylist(records, schema=schema)


def _fetch_runs(layout: Layout, video_fetches: dict[dt.date, list[Location]], footers: dict[str, pq.FileMetaData]) -> pa.Table:
    """The fetch summary of each account's day in the lake, as committed with its video_fetches file; for a
    file written before it was kept there, the day's raw/.../fetch.json."""
    found = [(day, lake.account_of(path), path) for day, paths in video_fetches.items() for path in paths]

    def summary(day: dt.date, account: str | None, path: Location) -> FetchSummary:
        kept = (footers[objects.url(path)].metadata or {}).get(lake.FETCH_SUMMARY_KEY.encode())
        if kept:
            return FetchSummary(**json.loads(kept))
        own = layout.of_account(account)
        return day_summary(own.fetch_summary(day), own.answers(day), own.day_state(day))

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="fetch-runs") as pool:  # on a store, a GET each
        summaries = list(pool.map(lambda found: summary(*found), found))
    rows = []
    for (day, account, _), kept in zip(found, summaries, strict=True):
        row = dataclasses.asdict(kept)
        row[PARTITION_KEY] = day
        row[ACCOUNT.name] = account or DEFAULT_ACCOUNT
        rows.append(row)
    rows.sort(key=lambda row: (row[PARTITION_KEY], row[ACCOUNT.name]))
    columns = [PARTITION_KEY, ACCOUNT.name, *(f.name for f in dataclasses.fields(FetchSummary))]
    frame = pd.DataFrame(rows, columns=columns)
    frame[PARTITION_KEY] = pd.to_datetime(frame[PARTITION_KEY]).dt.date
    for col in ("started_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    return pa.Table.from_pandas(frame, preserve_index=False)


# Warehouse relations holding a lake table's columns: they take their meaning from the schema.
LAKE_COPIES = {
    "stickers": "stickers",
    "latest_stickers": "stickers",
    "quarantine": "quarantine",
    "video_fetches": "video_fetches",
    "videos": "videos",
    "latest_videos": "videos",
    "events": "events",
}


def _lake_column_comments() -> str:
    """COMMENT statements that carry the schema's column descriptions into the warehouse."""
    return "\n".join(
        f"COMMENT ON COLUMN {relation}.{column.name} IS '{column.description.replace(chr(39), chr(39) * 2)}';"
        for relation, table in LAKE_COPIES.items()
        for column in TABLES[table]
    )
