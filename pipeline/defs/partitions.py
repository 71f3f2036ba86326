"""Snapshot days: the partitions every asset shares, and what every asset of a day is declared with."""

import datetime as dt

import dagster as dg

# One partition per snapshot day (UTC). end_offset=1: today's partition exists today, since a day's
# snapshot is taken during that day.
snapshot_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1, timezone="UTC")

# A backfill of a range of days runs one run per day, each replacing its own partitions.
one_run_per_day = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)

OWNERS = ["team:data-platform"]


def day_asset(*, group: str, layer: str, kinds: set[str], description: str, **more: object):
    """``dg.asset`` for one step of a snapshot day: partitioned by day, one run per day in a backfill,
    owned by the data platform team, tagged with its layer of the flow and its source."""
    return dg.asset(
        partitions_def=snapshot_days,
        backfill_policy=one_run_per_day,
        group_name=group,
        kinds={"python", *kinds},
        owners=OWNERS,
        tags={"layer": layer, "source": "alibaba-cloud-vod"},
        description=description,
        **more,
    )


def day_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)
