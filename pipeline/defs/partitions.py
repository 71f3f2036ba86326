"""Snapshot days (and, in a deployment of several accounts, accounts): the partitions every asset shares,
and what every asset of a day is declared with."""

import datetime as dt
from typing import Any

import dagster as dg

from pipeline import settings
from pipeline.errors import ConfigurationError

# One partition per snapshot day (UTC). end_offset=1: today's partition exists today, since a day's
# snapshot is taken during that day.
snapshot_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1, timezone="UTC")

DAY, ACCOUNT = "day", "account"


def account_names() -> list[str]:
    """The accounts of VOD_ACCOUNTS_FILE, read when the code loads; none for a deployment of one account.
    A file that cannot be read never keeps the code from loading: it is logged, and every run fails naming
    what to fix (the executor refuses: ``pipeline.definitions``)."""
    try:
        return list(settings.accounts_from_env() or ())
    except ConfigurationError as err:
        dg.get_dagster_logger().error(f"VOD_ACCOUNTS_FILE cannot be used, so every run will fail: {err}")
        return []


def snapshot_partitions(accounts: list[str]) -> dg.PartitionsDefinition:
    """Days, or days x accounts: each account's day is a partition of its own, fetched, typed, re-run and
    backfilled on its own."""
    if not accounts:
        return snapshot_days
    return dg.MultiPartitionsDefinition({DAY: snapshot_days, ACCOUNT: dg.StaticPartitionsDefinition(accounts)})


ACCOUNTS = account_names()
partitions = snapshot_partitions(ACCOUNTS)

# A backfill of a range of days runs one run per day, each replacing its own partitions. With several
# accounts, no policy: the backfill then runs one run per account's day too, and tags each with its
# dimensions (dagster/partition/account), which the run queue's lanes need (a policy's runs carry a range).
one_run_per_day = None if ACCOUNTS else dg.BackfillPolicy.multi_run(max_partitions_per_run=1)

OWNERS = ["team:data-platform"]


def day_asset(*, group: str, layer: str, kinds: set[str], description: str, **more: Any) -> Any:
    """``dg.asset`` for one step of a snapshot day: partitioned by day (and account), one run per day in a
    backfill, owned by the data platform team, tagged with its layer of the flow and its source."""
    return dg.asset(
        partitions_def=partitions,
        backfill_policy=one_run_per_day,
        group_name=group,
        kinds={"python", *kinds},
        owners=OWNERS,
        tags={"layer": layer, "source": "alibaba-cloud-vod"},
        description=description,
        **more,
    )


def _keys(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dict[str, str]:
    key = context.partition_key
    return dict(key.keys_by_dimension) if isinstance(key, dg.MultiPartitionKey) else {DAY: key}


def day_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dt.date:
    return dt.date.fromisoformat(_keys(context)[DAY])


def account_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str | None:
    """The account of the partition, None in a deployment of one account."""
    return _keys(context).get(ACCOUNT)


def partition_key(day: dt.date, account: str | None) -> str:
    """The partition of ``account``'s ``day`` (the day alone in a deployment of one account)."""
    if account is None:
        return day.isoformat()
    return dg.MultiPartitionKey({DAY: day.isoformat(), ACCOUNT: account})
