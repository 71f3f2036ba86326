"""Per-day summaries of the lake, kept beside it under ``summaries/`` and brought up to date at each publish:
a day's summary file is made once and made again only when a file it was made from changes. So a
dashboard's chart over a year reads 365 small files instead of every sticker of the year, and a publish
summarizes only the days that are new or were re-written.

Each summary file says, in its Parquet metadata, which lake files (and which versions of them) it was made
from. On an object store no summary file is kept: the views then compute the same columns from the lake.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.store import lake, objects
from pipeline.store.files import atomic_write
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.objects import Location
from pipeline.store.schema import ACCOUNT, DEFAULT_ACCOUNT

# Each summary's columns besides snapshot_date and account, computed from one day's file of one account.
# $stickers, $previous (the account's stickers file of its day before; none on its first day) and
# $fetches are read_parquet(...) calls.
SUMMARIES = {
    # Stickers and bytes per day, by format.
    "stickers_per_day": """
        SELECT format, count(*)::BIGINT AS stickers, sum(file_size_bytes)::BIGINT AS total_bytes,
               count(DISTINCT video_id)::BIGINT AS videos
        FROM $stickers GROUP BY format""",
    # Stickers and bytes per day and video.
    "video_stickers_per_day": """
        SELECT video_id, count(*)::BIGINT AS stickers, sum(file_size_bytes)::BIGINT AS total_bytes
        FROM $stickers GROUP BY video_id""",
    # Stickers in the snapshot that the account's snapshot before did not hold (all of them on its first
    # day), and stickers of the snapshot before that VOD answered without (a failed fetch proves nothing).
    "sticker_changes_per_day": """
        WITH now AS (SELECT video_id, dynamic_image_id FROM $stickers),
        before AS (SELECT video_id, dynamic_image_id FROM $previous),
        answered AS (SELECT video_id FROM $fetches WHERE status IN ('answered', 'not_found'))
        SELECT (SELECT count(*) FROM now ANTI JOIN before USING (video_id, dynamic_image_id))::BIGINT AS new_stickers,
               (SELECT count(*) FROM before ANTI JOIN now USING (video_id, dynamic_image_id)
                SEMI JOIN answered USING (video_id))::BIGINT AS vanished_stickers""",
}
SOURCE_KEY = b"vod_stickers.sources"
EMPTY_STICKERS = "(SELECT ''::VARCHAR AS video_id, ''::VARCHAR AS dynamic_image_id WHERE false)"


def refresh(layout: Layout, files: dict[str, dict[dt.date, list[Location]]]) -> dict[str, list[Path]]:
    """Makes every summary file that is missing or older than its lake files, removes those of days no
    longer in the lake; returns each summary's files (none on an object store)."""
    if objects.is_remote(layout.root):
        return {name: [] for name in SUMMARIES}
    fetches = {(day, lake.account_of(path)): path for day, paths in files.get("video_fetches", {}).items() for path in paths}
    previous: dict[str | None, Location] = {}
    wanted: dict[str, list[Path]] = {name: [] for name in SUMMARIES}
    with duckdb.connect() as con:
        con.execute("SET threads = 2")
        for day, paths in sorted(files.get("stickers", {}).items()):
            for path in paths:
                account = lake.account_of(path)
                before, fetched = previous.get(account), fetches.get((day, account))
                previous[account] = path
                for name in SUMMARIES:
                    sources = [path] + ([before, fetched] if name == "sticker_changes_per_day" else [])
                    target = objects.local(layout.root) / "summaries" / name / f"{PARTITION_KEY}={day.isoformat()}" / path.name
                    wanted[name].append(target)
                    stamp = json.dumps([_version(s) for s in sources])
                    if not _current(target, stamp):
                        _write(con, name, target, stamp, path, before, fetched)
    _remove_others(objects.local(layout.root) / "summaries", wanted)
    return wanted


def _version(path: Location | None) -> str | None:
    """The version of a lake file: its size and modification time (a re-written day is a new file)."""
    if path is None:
        return None
    info = objects.local(path).stat()
    return f"{path.name}:{info.st_size}:{info.st_mtime_ns}"


def _current(target: Path, stamp: str) -> bool:
    try:
        return (pq.read_schema(target).metadata or {}).get(SOURCE_KEY) == stamp.encode()
    except (OSError, pa.ArrowInvalid):
        return False


def _read(path: Location | None) -> str:
    return EMPTY_STICKERS if path is None else "read_parquet('" + objects.url(path).replace("'", "''") + "')"


def _write(
    con: duckdb.DuckDBPyConnection,
    name: str,
    target: Path,
    stamp: str,
    stickers: Location,
    before: Location | None,
    fetches: Location | None,
) -> None:
    query = (
        SUMMARIES[name]
        .replace("$stickers", _read(stickers))
        .replace("$previous", _read(before))
        .replace(
            "$fetches", _read(fetches) if fetches is not None else "(SELECT ''::VARCHAR AS video_id, ''::VARCHAR AS status WHERE false)"
        )
    )
    table = con.sql(query).to_arrow_table()
    account = lake.account_of(stickers) or DEFAULT_ACCOUNT
    table = table.append_column(ACCOUNT.name, pa.repeat(pa.scalar(account), table.num_rows))
    table = table.replace_schema_metadata({SOURCE_KEY: stamp.encode()})
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _remove_others(root: Path, wanted: dict[str, list[Path]]) -> None:
    """Removes summary files of days (or accounts) the lake no longer holds."""
    keep = {path for paths in wanted.values() for path in paths}
    for path in root.glob(f"*/{PARTITION_KEY}=*/*.parquet"):
        if path not in keep:
            path.unlink(missing_ok=True)


def create_views(con: duckdb.DuckDBPyConnection, files: dict[str, list[Path]]) -> None:
    """Views over each summary's files; with none (an object store, or an empty lake), the same columns
    computed from the stickers view."""
    for name, paths in files.items():
        if paths:
            literal = "[" + ", ".join("'" + str(p.resolve()).replace("'", "''") + "'" for p in paths) + "]"
            source = f"read_parquet({literal}, hive_partitioning = true, hive_types = {{'snapshot_date': DATE}}, union_by_name = true)"
        else:
            source = f"({FROM_LAKE[name]})"
        con.execute(f"CREATE VIEW {name} AS SELECT snapshot_date, account, * EXCLUDE (snapshot_date, account) FROM {source}")
        table, columns = DESCRIPTIONS[name]
        con.execute(f"COMMENT ON VIEW {name} IS {_quoted(table)}")
        for column, text in {**COMMON, **columns}.items():
            con.execute(f"COMMENT ON COLUMN {name}.{column} IS {_quoted(text)}")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


COMMON = {
    "snapshot_date": "Day of the snapshot",
    "account": "The VOD account (its name in VOD_ACCOUNTS_FILE; 'default' in a deployment of one account)",
}
DESCRIPTIONS = {
    "stickers_per_day": (
        "Stickers of every snapshot by format: one row per day, account and format (a summary kept per day, for dashboards)",
        {
            "format": "gif or webp",
            "stickers": "Stickers of that format in the snapshot",
            "total_bytes": "Their bytes in total",
            "videos": "Distinct videos they belong to",
        },
    ),
    "video_stickers_per_day": (
        "Stickers of every snapshot by video: one row per day, account and video with stickers (a summary kept per day)",
        {
            "video_id": "VOD video id",
            "stickers": "The video's stickers in the snapshot",
            "total_bytes": "Their bytes in total",
        },
    ),
    "sticker_changes_per_day": (
        "New and vanished stickers of every snapshot against the account's snapshot before (a summary kept per day)",
        {
            "new_stickers": "Stickers the snapshot before did not hold (every sticker on the account's first day)",
            "vanished_stickers": "Stickers of the snapshot before that VOD answered without (a failed fetch proves nothing)",
        },
    ),
}


# The summaries computed where they are asked for, for a lake with no summary files kept.
FROM_LAKE = {
    "stickers_per_day": """
        SELECT format, count(*)::BIGINT AS stickers, sum(file_size_bytes)::BIGINT AS total_bytes,
               count(DISTINCT video_id)::BIGINT AS videos, snapshot_date, account
        FROM stickers GROUP BY snapshot_date, account, format""",
    "video_stickers_per_day": """
        SELECT video_id, count(*)::BIGINT AS stickers, sum(file_size_bytes)::BIGINT AS total_bytes, snapshot_date, account
        FROM stickers GROUP BY snapshot_date, account, video_id""",
    "sticker_changes_per_day": """
        WITH days AS (
            SELECT account, snapshot_date, lag(snapshot_date) OVER (PARTITION BY account ORDER BY snapshot_date) AS before
            FROM (SELECT DISTINCT account, snapshot_date FROM stickers)
        )
        SELECT
            (SELECT count(*) FROM stickers AS n WHERE n.account = d.account AND n.snapshot_date = d.snapshot_date
               AND NOT EXISTS (SELECT 1 FROM stickers AS b WHERE b.account = d.account AND b.snapshot_date = d.before
                               AND b.video_id = n.video_id AND b.dynamic_image_id = n.dynamic_image_id))::BIGINT AS new_stickers,
            (SELECT count(*) FROM stickers AS b WHERE b.account = d.account AND b.snapshot_date = d.before
               AND NOT EXISTS (SELECT 1 FROM stickers AS n WHERE n.account = d.account AND n.snapshot_date = d.snapshot_date
                               AND n.video_id = b.video_id AND n.dynamic_image_id = b.dynamic_image_id)
               AND EXISTS (SELECT 1 FROM video_fetches AS f WHERE f.account = d.account AND f.snapshot_date = d.snapshot_date
                           AND f.video_id = b.video_id AND f.status IN ('answered', 'not_found')))::BIGINT AS vanished_stickers,
            d.snapshot_date, d.account
        FROM days AS d""",
}
