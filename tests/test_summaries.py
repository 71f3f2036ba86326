"""The per-day summaries a publish keeps beside the lake answer as the lake does: stickers and bytes by
day and format, by video, and new and vanished stickers as sticker_history counts them; a re-written day
is summarized again, the other days are not."""

import datetime as dt

import duckdb
import pytest

from docs.history import History, SnapshotDay, build
from pipeline.publish import summaries, warehouse
from pipeline.store import lake
from pipeline.store.layout import Layout

pytestmark = pytest.mark.server

D1, D2, D3 = dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23)
# 40 videos, 6 deleted upstream on day 2 (their stickers vanish), 3 more on day 3.
HISTORY = History(days=(SnapshotDay(D1, 40), SnapshotDay(D2, 34), SnapshotDay(D3, 31)), unknown=3)

FROM_LAKE = {
    "stickers_per_day": (
        "SELECT snapshot_date, account, format, count(*), sum(file_size_bytes), count(DISTINCT video_id) FROM stickers GROUP BY ALL",
        "SELECT snapshot_date, account, format, stickers, total_bytes, videos FROM stickers_per_day",
    ),
    "video_stickers_per_day": (
        "SELECT snapshot_date, account, video_id, count(*), sum(file_size_bytes) FROM stickers GROUP BY ALL",
        "SELECT snapshot_date, account, video_id, stickers, total_bytes FROM video_stickers_per_day",
    ),
    "sticker_changes_per_day": (
        """SELECT day, account, count(*) FILTER (kind = 'new'), count(*) FILTER (kind = 'vanished') FROM (
               SELECT account, first_seen AS day, 'new' AS kind FROM sticker_history
               UNION ALL SELECT account, disappeared_on, 'vanished' FROM sticker_history WHERE disappeared_on IS NOT NULL
           ) GROUP BY ALL""",
        "SELECT snapshot_date, account, new_stickers, vanished_stickers FROM sticker_changes_per_day",
    ),
}


@pytest.fixture
def layout(tmp_path):
    layout = Layout(tmp_path / "data")
    build(layout, HISTORY)  # fetches each day from the local VOD service, then publishes
    return layout


def answers(layout, query):
    with warehouse.connect(layout.warehouse) as con:
        return sorted(con.execute(query).fetchall(), key=str)


@pytest.mark.parametrize("summary", FROM_LAKE)
def test_each_summary_answers_as_the_whole_lake_does(layout, summary):
    lake_query, summary_query = FROM_LAKE[summary]
    expected = answers(layout, lake_query)
    assert answers(layout, summary_query) == expected
    assert {row[0] for row in expected} == {D1, D2, D3}


def test_the_deleted_videos_stickers_are_counted_vanished_on_the_day_vod_said_so(layout):
    changes = {
        row[0]: row[1:] for row in answers(layout, "SELECT snapshot_date, new_stickers, vanished_stickers FROM sticker_changes_per_day")
    }
    first_day = answers(layout, f"SELECT count(*) FROM stickers WHERE snapshot_date = '{D1}'")[0][0]
    assert changes[D1] == (first_day, 0)  # every sticker is new on the first day
    assert changes[D2][1] > 0 and changes[D3][1] > 0


def test_a_rewritten_day_is_summarized_again_and_the_others_are_kept(layout):
    summary_files = sorted((layout.root / "summaries").rglob("*.parquet"))
    before = {path: path.stat().st_mtime_ns for path in summary_files}
    with lake.PartitionWriter(layout, "stickers", D3) as writer:
        writer.write(lake.read_partition(layout, "stickers", D3).head(3))
        writer.commit()
    warehouse.publish(layout)
    rows = answers(layout, "SELECT snapshot_date, sum(stickers) FROM stickers_per_day GROUP BY 1")
    assert dict(rows)[D3] == 3
    remade = {path for path in summary_files if path.stat().st_mtime_ns != before[path]}
    assert {path.parent.name for path in remade} == {f"snapshot_date={D3}"}
    lake_query, summary_query = FROM_LAKE["sticker_changes_per_day"]
    assert answers(layout, summary_query) == answers(layout, lake_query)


def test_without_summary_files_the_views_compute_the_same_from_the_lake(layout):
    # As on an object store, where no summary file is kept
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{layout.warehouse}' AS w (READ_ONLY)")
        for view in ("stickers", "video_fetches"):
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM w.{view}")
        summaries.create_views(con, {name: [] for name in summaries.SUMMARIES})
        for name, (_, summary_query) in FROM_LAKE.items():
            computed = sorted(con.execute(summary_query).fetchall(), key=str)
            assert computed == answers(layout, summary_query), name
