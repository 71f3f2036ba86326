import dagster as dg

# One partition per snapshot day (UTC). end_offset=1: today's partition exists today, since a day's
# snapshot is taken during that day.
snapshot_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1, timezone="UTC")

# A backfill of a range of days runs one run per day, each replacing its own partitions.
one_run_per_day = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
