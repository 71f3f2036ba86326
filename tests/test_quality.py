"""What each check of a day says, on a real lake partition: the words and the figures an operator reads in
the UI beside a passed or failed check (test_checks.py runs them through Dagster)."""

import dataclasses
import datetime as dt
import json

import pyarrow as pa

from pipeline.normalize import quality
from pipeline.store import lake
from pipeline.store.layout import Layout
from pipeline.store.schema import DAY_TABLES
from pipeline.vod.outcome import FetchSummary
from tests.test_checks import DAY as CHECKED_DAY
from tests.test_checks import replaced, rewrite
from tests.test_lake_and_warehouse import write_day

DAY = dt.date.fromisoformat(CHECKED_DAY)  # the day test_checks' helpers rewrite


def day(layout: Layout, summary: FetchSummary | None = None) -> lake.DayFiles:
    """The lake's files of the day, their fetch summary replaced by ``summary`` when given."""
    if summary is not None:
        summarized = json.dumps(dataclasses.asdict(summary)).encode()
        rewrite(
            layout,
            "video_fetches",
            lambda t: t.replace_schema_metadata({**(t.schema.metadata or {}), lake.FETCH_SUMMARY_KEY.encode(): summarized}),
        )
    return lake.committed(layout, DAY, DAY_TABLES)


def checked(layout: Layout) -> dict[str, quality.CheckResult]:
    files = day(layout)
    return {
        "schema": quality.schema_matches(files),
        "unique": quality.unique_sticker_ids(files),
        "formats": quality.known_formats(files),
        "measures": quality.positive_measures(files),
        "reconciles": quality.fetch_reconciles(files),
    }


def test_a_good_day_passes_every_check_saying_what_was_counted(layout):
    write_day(layout, DAY, 6)
    results = checked(layout)
    assert {name: (r.passed, r.summary) for name, r in results.items()} == {
        "schema": (True, "columns and types as declared"),
        "unique": (True, "6 sticker ids, all distinct"),
        "formats": (True, "formats: gif, webp"),
        "measures": (True, "6 rows, all measures positive"),
        "reconciles": (True, "2 asked = 2 answered + 0 not found + 0 failed; 6 items = 6 stickers + 0 quarantined"),
    }
    assert results["reconciles"].metadata == {
        "asked": 2,
        "answered": 2,
        "not_found": 0,
        "failed": 0,
        "carried": 0,
        "items_returned": 6,
        "items_carried": 0,
        "stickers": 6,
        "quarantined": 0,
    }


def test_a_day_without_stickers_passes_with_nothing_to_show(layout):
    write_day(layout, DAY, 0)
    results = checked(layout)
    assert all(r.passed for r in results.values())
    assert results["formats"].summary == "formats: none"
    assert results["unique"].summary == "0 sticker ids, all distinct"


def test_the_schema_check_names_each_column_that_differs(layout):
    write_day(layout, DAY, 3)
    rewrite(layout, "stickers", lambda t: t.drop_columns(["job_id"]).append_column("extra", pa.array([1, 2, 3])))
    result = quality.schema_matches(day(layout))
    assert not result.passed
    assert result.summary == "extra: expected absent, found int64; job_id: expected string, found absent"
    assert result.metadata == {"differences": 2}


def test_the_schema_check_fails_on_nullability_alone(layout):
    write_day(layout, DAY, 3)
    rewrite(layout, "stickers", lambda t: t.cast(pa.schema([f.with_nullable(True) for f in t.schema])))
    result = quality.schema_matches(day(layout))
    assert (result.passed, result.summary) == (False, "nullability differs")


def test_repeated_sticker_ids_are_counted_and_five_shown(layout):
    write_day(layout, DAY, 14)

    def seven_ids_twice(t):
        for row in range(7):
            t = replaced(t, "dynamic_image_id", f"s{row}", row=row + 7)
        return t

    rewrite(layout, "stickers", seven_ids_twice)
    result = quality.unique_sticker_ids(day(layout))
    assert (result.passed, result.summary) == (False, "7 dynamic_image_id values appear more than once")
    assert result.metadata == {"duplicated_ids": 7, "examples": "s0, s1, s2, s3, s4"}


def test_unknown_formats_are_counted_by_row_and_five_shown_once_each(layout):
    write_day(layout, DAY, 8)

    def seven_unknown(t):
        for row, value in enumerate(["png", "png", "bmp", "jpg", "avif", "apng", "heic"]):
            t = replaced(t, "format", value, row=row)
        return t

    rewrite(layout, "stickers", seven_unknown)
    result = quality.known_formats(day(layout))
    assert (result.passed, result.summary) == (False, "7 rows with a format other than gif or webp")
    assert result.metadata == {"examples": "png, bmp, jpg, avif, apng"}


def test_missing_measures_and_measures_of_one_pass_and_each_non_positive_one_is_counted(layout):
    write_day(layout, DAY, 4)
    rewrite(layout, "stickers", lambda t: replaced(replaced(replaced(t, "fps", None), "width", None, row=1), "file_size_bytes", 1))
    assert quality.positive_measures(day(layout)).passed
    rewrite(layout, "stickers", lambda t: replaced(replaced(replaced(t, "height", -3), "height", 0, row=1), "duration_s", 0.0))
    result = quality.positive_measures(day(layout))
    assert result.passed is False
    assert result.summary == "non-positive values in height (2), duration_s (1)"
    assert result.metadata == {"height": 2, "duration_s": 1}


def test_a_day_that_does_not_add_up_names_every_difference(layout):
    write_day(layout, DAY, 5, bad=2)
    summary = FetchSummary(asked=4, answered=2, not_found=1, failed=0, stickers=8)
    result = quality.fetch_reconciles(day(layout, summary))
    assert result.passed is False
    assert result.summary == (
        "4 videos asked but 3 settled (answered + not found + failed); 4 videos asked but 2 rows in "
        "video_fetches; VOD returned 8 items but 5 stickers + 2 quarantined were written"
    )
    assert result.metadata == {
        "asked": 4,
        "answered": 2,
        "not_found": 1,
        "failed": 0,
        "carried": 0,
        "items_returned": 8,
        "items_carried": 0,
        "stickers": 5,
        "quarantined": 2,
    }
    settled = dataclasses.replace(summary, asked=2, answered=1, not_found=0, failed=1, stickers=7)
    assert quality.fetch_reconciles(day(layout, settled)).summary.startswith("2 asked = 1 answered + 0 not found + 1 failed")
