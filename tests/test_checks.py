"""The blocking checks, each failed by a day run through Dagster: the check says what is wrong, and the
day reaches nobody (held in staging, not in the lake; neither the warehouse nor the report is made)."""

import datetime as dt
import json
import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline import snapshot
from pipeline.store import lake
from pipeline.store.schema import DAY_TABLES
from tests.conftest import write_videos
from tests.test_dagster import DAY, run_day

# What each check says in the UI when it passes.
PASSED = {
    "stickers_schema": r"columns and types as declared",
    "unique_sticker_ids": r"\d+ sticker ids, all distinct",
    "known_formats": r"formats: gif, webp",
    "positive_measures": r"\d+ rows, all measures positive",
    "fetch_reconciles": r"30 asked = 30 answered \+ 0 not found \+ 0 failed; (\d+) items = \1 stickers \+ 0 quarantined",
}


def rewrite(layout, table, change):
    """Replaces the day's partition of a lake table by ``change`` of its rows (as a defect would write it)."""
    rewrite_file(lake.partition_path(layout, table, dt.date.fromisoformat(DAY)), change)


def rewrite_file(path, change):
    """Rewrites a Parquet file with ``change`` of its rows, keeping what its footer said."""
    footer = {k: v for k, v in (pq.read_metadata(path).metadata or {}).items() if k != b"ARROW:schema"}
    pq.write_table(change(pq.read_table(path).replace_schema_metadata(footer)), path)


def replaced(table, column, value, row=0):
    """The table with one value of a column replaced."""
    values = table[column].to_pylist()
    values[row] = value
    index = table.schema.get_field_index(column)
    return table.set_column(index, table.schema.field(index), pa.array(values, table.schema.field(index).type))


# Each defect damages the day's new files after they are written and before they are audited, as a defect
# of the typing would leave them.
def wider_width(staged):
    def widen(t):
        index = t.schema.get_field_index("width")
        return t.set_column(index, pa.field("width", pa.int64()), pc.cast(t["width"], pa.int64()))

    rewrite_file(staged["stickers"], widen)


def a_sticker_id_twice(staged):
    rewrite_file(staged["stickers"], lambda t: replaced(t, "dynamic_image_id", t["dynamic_image_id"][0].as_py(), row=1))


def a_png(staged):
    rewrite_file(staged["stickers"], lambda t: replaced(t, "format", "png"))


def a_zero_in_every_measure(staged):
    def zeros(t):
        for row, column in enumerate(["file_size_bytes", "width", "height", "fps", "duration_s"]):
            t = replaced(t, column, 0, row=row)
        return t

    rewrite_file(staged["stickers"], zeros)


def a_lost_sticker(staged):
    rewrite_file(staged["stickers"], lambda t: t.slice(0, t.num_rows - 1))


def a_lost_video(staged):
    rewrite_file(staged["video_fetches"], lambda t: t.slice(1))


def an_answer_that_does_not_add_up(staged):
    def one_answered_less(t):
        summary = json.loads(t.schema.metadata[lake.FETCH_SUMMARY_KEY.encode()])
        summary["answered"] -= 1  # an answered video neither answered, not found nor failed
        return t.replace_schema_metadata({**t.schema.metadata, lake.FETCH_SUMMARY_KEY.encode(): json.dumps(summary).encode()})

    rewrite_file(staged["video_fetches"], one_answered_less)


def damaged(monkeypatch, defect):
    """Makes every day's new files damaged by ``defect`` before their audit."""
    stage = lake.DayWriter.stage

    def stage_with_a_defect(writer):
        staged = stage(writer)
        if "stickers" in staged:
            defect(staged)
        return staged

    monkeypatch.setattr(lake.DayWriter, "stage", stage_with_a_defect)


@pytest.mark.parametrize(
    ("defect", "check", "words", "metadata"),
    [
        (wider_width, "stickers_schema", "width: expected int32, found int64", {"differences": 1}),
        (a_sticker_id_twice, "unique_sticker_ids", "1 dynamic_image_id values appear more than once", {"duplicated_ids": 1}),
        (a_png, "known_formats", "1 rows with a format other than gif or webp", {"examples": "png"}),
        (
            a_zero_in_every_measure,
            "positive_measures",
            "non-positive values in file_size_bytes (1), width (1), height (1), fps (1), duration_s (1)",
            {"file_size_bytes": 1, "width": 1, "height": 1, "fps": 1, "duration_s": 1},
        ),
        (a_lost_sticker, "fetch_reconciles", "stickers + 0 quarantined were written", {"asked": 30, "quarantined": 0}),
        (a_lost_video, "fetch_reconciles", "30 videos asked but 29 rows in video_fetches", {"asked": 30, "answered": 30}),
        (
            an_answer_that_does_not_add_up,
            "fetch_reconciles",
            "30 videos asked but 29 settled",
            {"answered": 29, "not_found": 0, "failed": 0},
        ),
    ],
    ids=["schema", "unique-ids", "formats", "measures", "items", "video-rows", "outcomes"],
)
def test_a_day_failing_a_check_is_not_published(env, vod_service, instance, monkeypatch, defect, check, words, metadata):
    service = vod_service(catalog_size=30, calls_per_second=None)
    layout = env(service)
    write_videos(service, layout.videos_csv)
    damaged(monkeypatch, defect)
    result = run_day(instance, raise_on_error=False)

    evaluations = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert evaluations.keys() == PASSED.keys()
    assert [name for name, c in evaluations.items() if not c.passed] == [check]
    assert words in evaluations[check].description
    assert {key: evaluations[check].metadata[key].value for key in metadata} == metadata  # shown beside it in the UI
    for name, passed in evaluations.items():
        assert passed.passed == (name != check)
        if passed.passed:
            assert re.fullmatch(PASSED[name], passed.description), passed.description
    assert not layout.warehouse.exists()
    assert not layout.report(dt.date.fromisoformat(DAY)).exists()
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"videos", "sticker_responses", "stickers"}
    # Nothing of the day is in the lake, where dashboards read: its files are held in staging
    assert not list(layout.lake_root.glob("*/snapshot_date=*/*.parquet"))
    held = snapshot.staged_days(layout)
    assert [(h.account, h.day.isoformat(), sorted(h.files)) for h in held] == [("default", DAY, sorted(DAY_TABLES))]
    assert list(held[0].audit.failed) == [check]
    assert all(path.exists() and path.is_relative_to(layout.staging_root) for path in held[0].files.values())
    [stickers] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "stickers"]
    assert stickers.materialization.metadata["audit"].value == "failed: held in staging, not in the lake"
