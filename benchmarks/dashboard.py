"""The SQL the "VOD stickers" dashboard sends to the warehouse, chart by chart: each dataset's SQL
(``deploy/superset/datasets/``) wrapped as Superset 6.1 wraps it, as captured from its query log. A table
chart selects the dataset's columns, filtered on the dashboard's time range when the chart has one, in
the chart's order, up to its row limit; the Big Number sums a column by day. ``{since}`` and ``{until}`` are
the range's first day and the day after its last."""

from __future__ import annotations

from pathlib import Path

DATASETS = Path(__file__).resolve().parent.parent / "deploy" / "superset" / "datasets"
TIME_FILTER = "WHERE snapshot_date >= '{since} 00:00:00.000000' AND snapshot_date < '{until} 00:00:00.000000'"

# chart: (dataset, columns, filtered by the time range, ORDER BY, LIMIT)
TABLES = {
    "fetch_outcomes": (
        "fetch_outcomes",
        "snapshot_date, account, videos, videos_answered, videos_not_found, videos_failed, videos_carried, carried_pct",
        True,
        "snapshot_date DESC, account ASC",
        1000,
    ),
    "freshness": ("freshness", "account, newest_snapshot, days_behind, fetch_finished_utc, videos_failed", False, "account ASC", 100),
    "sticker_changes": (
        "sticker_changes",
        "snapshot_date, account, new_stickers, vanished_stickers",
        True,
        "snapshot_date DESC, account ASC",
        1000,
    ),
    "stickers_per_day": (
        "stickers_per_day",
        "snapshot_date, account, format, stickers, bytes",
        True,
        "snapshot_date DESC, account ASC, format ASC",
        1000,
    ),
    "top_videos": (
        "top_videos",
        "account, video_id, title, stickers, gif_stickers, webp_stickers, total_bytes",
        False,
        "stickers DESC, total_bytes DESC, video_id ASC",
        10,
    ),
}


def dataset(name: str) -> str:
    return (DATASETS / f"{name}.sql").read_text(encoding="utf-8").replace("{", "{{").replace("}", "}}")


def queries() -> dict[str, str]:
    """Each chart's query, by chart, with ``{since}`` and ``{until}`` to fill."""
    charts = {}
    for chart, (name, columns, filtered, order, limit) in TABLES.items():
        select = ", ".join(f"{c} AS {c}" for c in columns.split(", "))
        charts[chart] = (
            f"SELECT {select} \nFROM ({dataset(name)}) AS virtual_table \n"
            f"{TIME_FILTER + ' ' if filtered else ''}ORDER BY {order} \n LIMIT {limit}"
        )
    charts["newest_stickers"] = (  # the Big Number: stickers of each day, the newest shown with its change
        "SELECT DATE_TRUNC('day', snapshot_date) AS snapshot_date, sum(stickers) AS stickers \n"
        f"FROM ({dataset('stickers_per_day')}) AS virtual_table \n"
        f"{TIME_FILTER} GROUP BY DATE_TRUNC('day', snapshot_date) \n LIMIT 50000"
    )
    return charts
