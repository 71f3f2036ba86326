import dagster as dg

from pipeline.defs.partitions import snapshot_days

daily_snapshot = dg.define_asset_job(
    "daily_snapshot",
    selection=dg.AssetSelection.groups("ingest", "publish"),
    partitions_def=snapshot_days,
    description="One snapshot day: video set, ListDynamicImage for every video, typed Parquet, warehouse.",
)

# Runs at 02:00 UTC for the current day's partition.
daily_snapshot_schedule = dg.build_schedule_from_partitioned_job(daily_snapshot, hour_of_day=2)
