"""What the pipeline is measured against, where the baseline is not a library of its own."""

from __future__ import annotations

import duckdb

from pipeline.publish.warehouse import STORAGE_VERSION
from pipeline.store import lake
from pipeline.store.files import atomic_write
from pipeline.store.layout import Layout

_ORDER = {
    "stickers": "snapshot_date, video_id, dynamic_image_id",
    "quarantine": "snapshot_date, video_id, item_index",
    "video_fetches": "snapshot_date, video_id",
}


def publish_by_copy(layout: Layout) -> None:
    """The copy step of the previous publish: every snapshot of every lake table copied, sorted, into a
    new DuckDB file that is swapped in (its newest-day summaries left out, which only flatters it)."""
    with (
        atomic_write(layout.root / "warehouse-by-copy.duckdb") as tmp,
        duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_VERSION}) as con,
    ):
        for table, order in _ORDER.items():
            files = [str(lake.partition_path(layout, table, day)) for day in lake.partition_days(layout, table)]
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_parquet($files, hive_partitioning = true, "
                f"hive_types = {{'snapshot_date': DATE}}) ORDER BY {order}",
                {"files": files},
            )
        con.execute("CHECKPOINT")
