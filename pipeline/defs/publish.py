"""Publish: the DuckDB warehouse analysts query, rebuilt and swapped in whole."""


import dagster as dg

from pipeline import warehouse as wh
from pipeline.defs.failures import operator_errors
from pipeline.defs.ingest import OWNERS, stickers
from pipeline.defs.partitions import one_run_per_day, snapshot_days
from pipeline.defs.resources import LakeResource


@dg.asset(
    partitions_def=snapshot_days,
    backfill_policy=one_run_per_day,
    deps=[stickers],
    pool="warehouse",
    group_name="publish",
    kinds={"duckdb"},
    owners=OWNERS,
    description="warehouse.duckdb: stickers of every snapshot, quarantine, video_fetches, fetch_log, and "
    "summaries of the newest snapshot (video_sticker_stats, daily_sticker_stats, format_stats). "
    "Built under a temporary name and swapped in with one rename, so readers are never blocked.",
)
def warehouse(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    with operator_errors():
        layout = lake.layout()
    counts = wh.publish(layout)
    context.log.info("Published " + ", ".join(f"{t}: {n} rows" for t, n in counts.items()))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(layout.warehouse)),
            "tables": dg.MetadataValue.json(counts),
            "dagster/row_count": counts["stickers"],
        }
    )
