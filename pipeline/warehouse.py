"""The DuckDB warehouse: built from the lake in a new file, then swapped in with one rename.

Analysts who hold the old file open keep reading it, whole; the publisher never waits for them.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline import lake
from pipeline.layout import PARTITION_KEY, Layout
from pipeline.raw import FetchSummary, read_summary
from pipeline.schema import TABLES, arrow_schema

# Written in DuckDB 1.0's storage format, so every DuckDB since 1.0 (CLI, drivers, BI tools) can open it.
STORAGE_VERSION = "v1.0.0"

TABLE_NAMES = ("stickers", "quarantine", "video_fetches", "fetch_log", "video_sticker_stats", "daily_sticker_stats", "format_stats")


def publish(layout: Layout) -> dict[str, int]:
    """Rebuilds ``warehouse.duckdb`` from the lake and the fetch summaries; returns rows per table."""
    target = layout.warehouse
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_VERSION}) as con:
            for table in TABLES:
                _mount(con, layout, table)
            con.register("fetch_runs_frame", _fetch_runs(layout))
            con.execute("CREATE TEMP VIEW fetch_runs AS SELECT * FROM fetch_runs_frame")
            for name in ("warehouse.sql", "history.sql", "comments.sql"):
                con.execute(_sql(name))
            con.execute(_lake_column_comments())
            counts = {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in TABLE_NAMES}
            con.execute("CHECKPOINT")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return counts


def _mount(con: duckdb.DuckDBPyConnection, layout: Layout, table: str) -> None:
    """A temporary view ``lake_<table>`` over every partition of a lake table (typed, possibly empty)."""
    files = [str(lake.partition_path(layout, table, day)) for day in lake.partition_days(layout, table)]
    view = f"lake_{table}"
    if files:
        con.execute(f"SET VARIABLE {view}_files = $files", {"files": files})
        columns = ", ".join(f'"{c.name}"' for c in TABLES[table])
        con.execute(
            f"CREATE TEMP VIEW {view} AS SELECT {columns} FROM read_parquet(getvariable('{view}_files'), "
            f"hive_partitioning = true, hive_types = {{'{PARTITION_KEY}': DATE}})"
        )
    else:
        empty = arrow_schema(TABLES[table]).empty_table()
        con.register(f"{view}_empty", empty)
        con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {view}_empty")


def _fetch_runs(layout: Layout) -> pa.Table:
    rows = []
    for path in sorted((layout.root / "raw").glob(f"{PARTITION_KEY}=*/fetch.json")):
        summary = dataclasses.asdict(read_summary(path))
        summary[PARTITION_KEY] = path.parent.name.split("=", 1)[1]
        rows.append(summary)
    columns = [PARTITION_KEY, *(f.name for f in dataclasses.fields(FetchSummary))]
    frame = pd.DataFrame(rows, columns=columns)
    frame[PARTITION_KEY] = pd.to_datetime(frame[PARTITION_KEY]).dt.date
    for col in ("started_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    return pa.Table.from_pandas(frame, preserve_index=False)


# Warehouse relations holding a lake table's columns: they take their meaning from the schema.
LAKE_COPIES = {"stickers": "stickers", "latest_stickers": "stickers", "quarantine": "quarantine", "video_fetches": "video_fetches"}


def _lake_column_comments() -> str:
    """COMMENT statements that carry the schema's column descriptions into the warehouse."""
    return "\n".join(
        f"COMMENT ON COLUMN {relation}.{column.name} IS '{column.description.replace(chr(39), chr(39) * 2)}';"
        for relation, table in LAKE_COPIES.items()
        for column in TABLES[table]
    )


def _sql(name: str) -> str:
    return resources.files("pipeline").joinpath("sql", name).read_text(encoding="utf-8")
