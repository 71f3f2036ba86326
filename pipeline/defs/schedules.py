"""The daily job and its schedule."""

import dagster as dg

from pipeline.defs.partitions import partitions

daily_snapshot = dg.define_asset_job(
    "daily_snapshot",
    selection=dg.AssetSelection.groups("ingest", "publish"),
    partitions_def=partitions,
    description="One snapshot day, start to end: the video set, ListDynamicImage for every video, typed "
    "Parquet with its checks, the DuckDB warehouse and the HTML report. Launch it for one day from "
    "the Launchpad, or for a range of days as a backfill (one run per day). With VOD_ACCOUNTS_FILE, a "
    "day of each account is a partition and a run of its own.",
)

daily_snapshot_schedule = dg.build_schedule_from_partitioned_job(
    daily_snapshot,
    hour_of_day=2,
    description="Every day at 02:00 UTC, runs daily_snapshot for that day's partition (one run per account "
    "with VOD_ACCOUNTS_FILE). Stopped until "
    "turned on (Automation page of the UI, or `dagster schedule start daily_snapshot_schedule`); "
    "needs the Dagster daemon, which `dagster dev` starts.",
)
