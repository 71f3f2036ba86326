"""Checks on each day's stickers. The blocking ones stop a bad day from reaching the warehouse."""


from collections.abc import Callable

import dagster as dg

from pipeline import snapshot
from pipeline.defs.ingest import stickers
from pipeline.defs.partitions import account_of, day_of, partitions
from pipeline.defs.resources import LakeResource
from pipeline.normalize import quality

BLOCKS = " Blocking: when it fails, the day is not published to the warehouse (fix the data, re-run stickers)."


def _result(outcome: quality.CheckResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, description=outcome.summary, metadata=outcome.metadata)


def _lake_check(name: str, check: Callable, description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=stickers, name=name, blocking=True, partitions_def=partitions, description=description + BLOCKS
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        return _result(check(lake.layout(account_of(context)), day_of(context)))

    return _check


stickers_schema = _lake_check(
    "stickers_schema", quality.schema_matches, "The day's Parquet file has exactly the declared columns and types."
)
unique_sticker_ids = _lake_check(
    "unique_sticker_ids", quality.unique_sticker_ids, "No dynamic_image_id appears twice in a snapshot."
)
known_formats = _lake_check("known_formats", quality.known_formats, "Every format is gif or webp.")
positive_measures = _lake_check(
    "positive_measures",
    quality.positive_measures,
    "File sizes, widths, heights, frame rates and durations are positive where present.",
)


@dg.asset_check(
    asset=stickers,
    blocking=True,
    partitions_def=partitions,
    description="Every video asked has one outcome (asked = answered + not found + failed) and every "
    "item VOD returned is a sticker row or a quarantined row." + BLOCKS,
)
def fetch_reconciles(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    layout = lake.layout(account_of(context))
    day = day_of(context)
    return _result(quality.fetch_reconciles(layout, day, snapshot.fetch_summary(layout, day)))
