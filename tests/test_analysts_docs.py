"""What analysts rely on: the questions of the docs run on a fresh warehouse, the history view tells what
disappeared and when, every column says what it means, and docs/analysts.md is what the code gives today."""

import datetime as dt
import difflib
from pathlib import Path

import duckdb
import pytest

from docs import build as docs
from docs.history import History, SnapshotDay, build
from localvod import Catalog
from pipeline import refresh, snapshot
from pipeline.publish import warehouse
from pipeline.store.layout import Layout
from tests.conftest import make_client
from tests.test_lake_and_warehouse import write_day
from tests.test_lake_reads import D1, D2, SMALL

ROOT = Path(__file__).resolve().parent.parent
D3 = dt.date(2026, 11, 23)
HISTORY_COLUMNS = (
    "video_id, dynamic_image_id, first_seen, last_seen, snapshots_seen, present, disappeared, disappeared_on, newest_fetch_status"
)


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory) -> Path:
    layout = Layout(tmp_path_factory.mktemp("analysts") / "data")
    build(layout, SMALL)
    return layout.warehouse


def history(path: Path) -> dict[str, tuple]:
    """sticker_history by sticker id."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"SELECT {HISTORY_COLUMNS} FROM sticker_history").fetchall()
    return {row[1]: row for row in rows}


def catalog_stickers(size: int, videos: range) -> dict[str, str]:
    """Sticker id -> video id of some videos (by position) of the local catalog."""
    catalog = Catalog(size=size, seed=SMALL.catalog_seed)
    ids = catalog.video_ids()
    return {item["DynamicImageId"]: ids[i] for i in videos for item in catalog.stickers(ids[i], 0)}


def test_there_are_ten_questions_each_titled_with_its_question():
    asked = docs.questions()
    assert len(asked) == 10
    assert all(q.title.endswith("?") and q.path.name[:2].isdigit() for q in asked)


@pytest.mark.parametrize("question", docs.questions(), ids=lambda q: q.path.stem)
@pytest.mark.server
def test_every_question_of_the_docs_answers_on_a_fresh_warehouse(small_warehouse, question):
    with duckdb.connect(str(small_warehouse), read_only=True) as con:
        rows = con.execute(question.sql).fetchall()
    assert rows, f"{question.path.name} gives no rows"
    # The page shows what the DuckDB shell prints: a markdown table with a header and the same rows.
    printed = docs.run_question(small_warehouse, question).splitlines()
    assert printed[0].startswith("|") and len(printed) == len(rows) + 2


def test_history_shows_what_disappeared_upstream_and_when(tmp_path, vod_service):
    layout = Layout(tmp_path / "data")
    build(layout, History(days=(SnapshotDay(D1, 12), SnapshotDay(D2, 9))))  # videos 9 to 11 deleted on day 2
    kept, deleted = catalog_stickers(12, range(9)), catalog_stickers(12, range(9, 12))
    assert kept and deleted
    seen = history(layout.warehouse)
    assert set(seen) == set(kept) | set(deleted)
    for sticker, video in kept.items():
        assert seen[sticker] == (video, sticker, D1, D2, 2, True, False, None, "answered")
    for sticker, video in deleted.items():
        assert seen[sticker] == (video, sticker, D1, D1, 1, False, True, D2, "not_found")

    # Day 3: every call fails. Nothing is listed, but nothing is proven deleted either.
    service = vod_service(catalog_size=9, catalog_seed=SMALL.catalog_seed, calls_per_second=None, server_error_rate=1.0)
    snapshot.take_video_set(layout, D3, today=D3)
    every_video = refresh.RefreshPolicy(every_days=1)
    summary = snapshot.fetch_day(layout, D3, make_client(service, max_attempts=2), policy=every_video, today=D3)
    assert summary.failed == summary.asked == 12
    snapshot.normalize_day(layout, D3)
    warehouse.publish(layout)
    seen = history(layout.warehouse)
    for sticker, video in kept.items():
        assert seen[sticker] == (video, sticker, D1, D2, 2, False, None, None, "failed")
    for sticker, video in deleted.items():
        assert seen[sticker] == (video, sticker, D1, D1, 1, False, True, D2, "failed")


def test_history_shows_a_sticker_deleted_from_a_video_that_remains(layout):
    write_day(layout, D1, 3)  # video v1 with stickers s0, s1, s2
    write_day(layout, D2, 2)  # v1 answered again, without s2
    warehouse.publish(layout)
    seen = history(layout.warehouse)
    assert seen["s0"] == ("v1", "s0", D1, D2, 2, True, False, None, "answered")
    assert seen["s2"] == ("v1", "s2", D1, D1, 1, False, True, D2, "answered")


@pytest.mark.server
def test_every_table_view_and_column_says_what_it_means(small_warehouse):
    with duckdb.connect(str(small_warehouse), read_only=True) as con:
        described = docs.relations(con)
    names = {rel.name for rel in described}
    assert {*warehouse.TABLE_NAMES, "latest_stickers", "sticker_history"} <= names
    for rel in described:
        assert rel.comment, f"{rel.name} has no description"
        undescribed = [column for column, _, comment in rel.columns if not comment]
        assert not undescribed, f"{rel.name} columns without a description: {undescribed}"


@pytest.mark.server
def test_the_analysts_page_is_what_the_code_and_data_give_today(tmp_path):
    fresh = docs.build(tmp_path / "analysts.md", tmp_path)
    committed = (ROOT / docs.PAGE).read_text(encoding="utf-8").splitlines()
    diff = list(
        difflib.unified_diff(committed, fresh.read_text(encoding="utf-8").splitlines(), "docs/analysts.md", "fresh", lineterm="", n=1)
    )
    assert not diff, "docs/analysts.md is stale: run `make docs`\n" + "\n".join(diff[:40])
