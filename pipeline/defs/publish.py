"""Publish: the DuckDB warehouse analysts query, rebuilt and swapped in whole, and the HTML report."""

import dagster as dg

from pipeline.defs.alerts import snapshot_deadline
from pipeline.defs.failures import operator_errors
from pipeline.defs.ingest import stickers
from pipeline.defs.partitions import account_of, day_asset, day_of
from pipeline.defs.resources import LakeResource
from pipeline.publish import warehouse as wh
from pipeline.publish.report import render as render_report


@day_asset(
    group="publish",
    layer="warehouse",
    kinds={"duckdb"},
    deps=[stickers],
    pool="warehouse",
    freshness_policy=snapshot_deadline(),
    description="warehouse.duckdb: stickers of every snapshot, quarantine, video_fetches, fetch_log, and "
    "summaries of the newest snapshot (video_sticker_stats, daily_sticker_stats, format_stats). "
    "Built under a temporary name and swapped in with one rename, so readers are never blocked.",
)
def warehouse(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    with operator_errors(account_of(context)):
        layout = lake.layout(account_of(context))
    counts = wh.publish(layout)  # every account's
    context.log.info("Published " + ", ".join(f"{t}: {n} rows" for t, n in counts.items()))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(layout.warehouse)),
            "tables": dg.MetadataValue.json(counts),
            "dagster/row_count": counts["stickers"],
        }
    )


@day_asset(
    group="publish",
    layer="report",
    kinds={"duckdb", "html"},
    deps=[warehouse],
    description="reports/snapshot_date=YYYY-MM-DD/stickers.html: one self-contained page of charts for "
    "the day (stickers per day by format, size and duration distributions, top videos by stickers and "
    "by bytes, fetch health over time), read from the warehouse. Open it from the 'report' link in this "
    "asset's metadata; it needs no network.",
)
def report(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    with operator_errors(account_of(context)):
        rendered = render_report(lake.layout(account_of(context)), day_of(context))  # every account's day
    context.log.info(f"Report written to {rendered.path} ({rendered.size_bytes / 1e3:.0f} KB)")
    headline = rendered.headline
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.url(rendered.path.as_uri()),
            "path": dg.MetadataValue.path(str(rendered.path)),
            "size_kb": round(rendered.size_bytes / 1e3, 1),
            "charts": dg.MetadataValue.json(rendered.charts),
            "summary": dg.MetadataValue.md(
                f"**{headline['stickers_typed']:,}** stickers in **{headline['videos_with_stickers']:,}** of "
                f"**{headline['videos']:,}** videos ({headline['total_bytes'] / 1e6:,.1f} MB); "
                f"{headline['videos_asked']:,} asked VOD ({headline['videos_not_found']:,} not found, "
                f"{headline['videos_failed']:,} failed), {headline['videos_carried']:,} carried."
            ),
        }
    )
