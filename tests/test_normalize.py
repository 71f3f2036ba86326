"""String fields to typed columns; what cannot be typed goes to quarantine with a reason. Every test goes
through the real path: an answer file on disk, as the raw store writes it, typed by ``normalize_file``."""

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.normalize import CHUNK_ROWS, DEFAULT_URL_VALIDITY_S, Normalizer, repeats
from pipeline.snapshot import normalize_day
from pipeline.store import lake
from pipeline.store.schema import (
    ANSWER_TABLES,
    QUARANTINE,
    ROWS,
    STICKERS,
    arrow_schema,
    pandas_dtypes,
)
from pipeline.vod.outcome import Outcome

DAY = dt.date(2026, 11, 20)
SIGNED_AT = 1_763_600_000


def item(**overrides):
    base = {
        "CreationTime": "2020-07-28T02:01:06Z",
        "Duration": "2",
        "DynamicImageId": "2b4e51df60a84d1f9e5c0a7d3b6f8e21",
        "FileSize": "119866",
        "FileURL": f"https://cdn.example.com/v1/image/dynamic/2b4e.webp?auth_key={SIGNED_AT}-0-0-8f14e45fceea167a5a36dedd4bea2543",
        "Format": "webp",
        "Fps": "10",
        "Height": "360",
        "Width": "640",
        "JobId": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "VideoId": "v1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def answered(video_id, *items, request_id="REQ-1"):
    return {
        "video_id": video_id,
        "status": "answered",
        "attempts": 1,
        "request_id": request_id,
        "http_status": 200,
        "fetched_at": "2026-11-20T08:00:00.123456Z",
        "response": {"RequestId": request_id, "DynamicImageList": list(items)},
    }


def write_answers(path, records):
    """An answer file as the raw store writes it: one JSON line per video, every field of its outcome."""
    outcomes = (dataclasses.asdict(Outcome(**{"attempts": 1, **record})) for record in records)
    path.write_text("".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n" for o in outcomes), encoding="utf-8")
    return path


@dataclasses.dataclass
class Typed:
    """A day's typed tables, as pandas frames typed as in the schema."""

    stickers: pd.DataFrame
    quarantine: pd.DataFrame
    video_fetches: pd.DataFrame

    @property
    def items(self) -> int:
        return len(self.stickers) + len(self.quarantine)


def normalized(path, *, validity=DEFAULT_URL_VALIDITY_S, chunk_rows=CHUNK_ROWS) -> Typed:
    """The chunks of an answer file, each checked to be in the lake's schemas, put together."""
    with Normalizer(DAY, url_validity_s=validity) as normalizer:
        chunks = list(normalizer.normalize_file(path, chunk_rows=chunk_rows))
    tables = {}
    for name, columns in ((t, ROWS[t]) for t in ANSWER_TABLES):
        parts = [getattr(chunk, name) for chunk in chunks]
        assert all(part.schema == arrow_schema(columns) for part in parts)
        table = pa.concat_tables([arrow_schema(columns).empty_table(), *parts])
        tables[name] = table.to_pandas().astype(pandas_dtypes(columns))
    return Typed(**tables)


@pytest.fixture
def normalize(tmp_path):
    """Types the records (raw store outcomes) of one day, written to an answer file."""

    def run(*records, validity=DEFAULT_URL_VALIDITY_S, chunk_rows=CHUNK_ROWS):
        return normalized(write_answers(tmp_path / "answers.jsonl", records), validity=validity, chunk_rows=chunk_rows)

    return run


def test_a_good_item_becomes_one_typed_row(normalize):
    result = normalize(answered("v1", item()))
    assert result.quarantine.empty
    assert dict(result.stickers.dtypes.astype(str)) == {c.name: str(pd.Series(dtype=c.pandas).dtype) for c in STICKERS}
    row = result.stickers.iloc[0]
    assert row["snapshot_date"] == DAY
    assert row["format"] == "webp"
    assert row["creation_time"] == pd.Timestamp("2020-07-28T02:01:06Z")
    assert (row["duration_s"], row["fps"], row["width"], row["height"]) == (2.0, 10, 640, 360)
    assert row["file_size_bytes"] == 119866
    assert row["file_url"] == "https://cdn.example.com/v1/image/dynamic/2b4e.webp"
    assert row["url_expires_at"] == pd.Timestamp(SIGNED_AT + 1800, unit="s", tz="UTC")
    assert row["request_id"] == "REQ-1"
    assert row["fetched_at"] == pd.Timestamp("2026-11-20T08:00:00.123456Z")


def test_url_validity_is_configurable_and_a_url_without_auth_key_has_no_expiry(normalize):
    result = normalize(answered("v1", item(), item(DynamicImageId="plain", FileURL="https://cdn.example.com/a.gif")), validity=600)
    assert result.stickers["url_expires_at"].iloc[0] == pd.Timestamp(SIGNED_AT + 600, unit="s", tz="UTC")
    assert pd.isna(result.stickers["url_expires_at"].iloc[1])


def test_file_url_loses_its_fragment_and_expiry_comes_from_auth_key_wherever_it_is_in_the_query(normalize):
    signed = f"auth_key={SIGNED_AT}-0-0-8f14e45fceea167a5a36dedd4bea2543"
    result = normalize(
        answered(
            "v1",
            item(DynamicImageId="a", FileURL="https://cdn.example.com/a.gif#frame-2"),
            item(DynamicImageId="b", FileURL=f"https://cdn.example.com/b.gif?x=1&{signed}"),
            item(DynamicImageId="c", FileURL=f"https://cdn.example.com/c.gif?{signed}"),
        ),
        validity=0,  # a URL valid until the moment it was signed: allowed, if odd
    )
    rows = result.stickers.set_index("dynamic_image_id")
    assert rows["file_url"].to_dict() == {
        "a": "https://cdn.example.com/a.gif",
        "b": "https://cdn.example.com/b.gif",
        "c": "https://cdn.example.com/c.gif",
    }
    assert pd.isna(rows.loc["a", "url_expires_at"])
    assert rows.loc["b", "url_expires_at"] == rows.loc["c", "url_expires_at"] == pd.Timestamp(SIGNED_AT, unit="s", tz="UTC")


def test_an_answer_without_a_sticker_list_counts_no_sticker(normalize):
    record = answered("v2")
    del record["response"]["DynamicImageList"]
    result = normalize(answered("v1", item()), record)
    assert result.video_fetches.set_index("video_id")["stickers_returned"].to_dict() == {"v1": 1, "v2": 0}


def test_format_is_lower_cased_and_blank_optional_numbers_are_null(normalize):
    result = normalize(answered("v1", item(Format="GIF", Fps="", Width=..., Height=" ")))
    row = result.stickers.iloc[0]
    assert row["format"] == "gif"
    assert pd.isna(row["fps"]) and pd.isna(row["width"]) and pd.isna(row["height"])


# Bad items, each with the words its quarantine reason must hold.
BAD_ITEMS = [
    ({"FileSize": "N/A"}, "FileSize 'N/A' is not a positive whole number of bytes"),
    ({"FileSize": ...}, "FileSize is missing"),
    ({"FileSize": "-5"}, "FileSize '-5' is not a positive whole number"),
    ({"FileSize": "99999999999999999999999"}, "FileSize '99999999999999999999999' is not a positive whole number"),
    ({"Width": "12.5"}, "Width '12.5' is not a positive whole number of pixels"),
    ({"Height": "0"}, "Height '0' is not a positive whole number of pixels"),
    ({"Fps": "3000000000"}, "Fps '3000000000' is not a positive whole number"),
    ({"Duration": "abc"}, "Duration 'abc' is not a positive number of seconds"),
    ({"Format": "png"}, "Format 'png' is not gif or webp"),
    ({"CreationTime": "2020-07-28 02:01:06"}, "CreationTime '2020-07-28 02:01:06' is not a UTC time"),
    ({"CreationTime": "2020-07-28T10:01:06+08:00"}, "is not a UTC time"),
    ({"DynamicImageId": ""}, "DynamicImageId is missing"),
    ({"DynamicImageId": "é" * 5}, "DynamicImageId 'ééééé' is not a VOD id (1 to 128 letters, digits, - or _)"),
    ({"DynamicImageId": "a" * 200}, "DynamicImageId '" + "a" * 60 + "...' is not a VOD id"),
    ({"JobId": "任务-1"}, "JobId '任务-1' is not a VOD id"),
    ({"FileSize": ""}, "FileSize is missing"),
    ({"FileSize": "1.5"}, "FileSize '1.5' is not a positive whole number of bytes"),
    ({"Format": ""}, "Format is missing"),
    ({"Format": "ｇｉｆ"}, "Format 'ｇｉｆ' is not gif or webp"),
    ({"Width": "N/A"}, "Width 'N/A' is not a positive whole number of pixels"),
    ({"Width": "99999999999"}, "Width '99999999999' is not a positive whole number of pixels"),
    ({"Fps": "29.97"}, "Fps '29.97' is not a positive whole number of frames per second"),
    ({"Duration": "-1"}, "Duration '-1' is not a positive number of seconds"),
    ({"Duration": "inf"}, "Duration 'inf' is not a positive number of seconds"),
    ({"Duration": "1e400"}, "Duration '1e400' is not a positive number of seconds"),
    ({"Duration": ...}, "Duration is missing"),
    ({"CreationTime": "N/A"}, "CreationTime 'N/A' is not a UTC time like 2020-07-28T02:01:06Z"),
    ({"CreationTime": "2020-13-45T99:00:00Z"}, "CreationTime '2020-13-45T99:00:00Z' is not a UTC time"),
    ({"CreationTime": "1595901666"}, "CreationTime '1595901666' is not a UTC time"),
    ({"CreationTime": ""}, "CreationTime is missing"),
    ({"FileURL": ""}, "FileURL is missing"),
    (
        {"FileURL": "ftp://cdn.example.com/a.gif?auth_key=1-0-0-0a1b2c"},
        "FileURL 'ftp://cdn.example.com/a.gif?auth_key=<redacted>' is not an http(s) address",
    ),
    ({"VideoId": ...}, "VideoId is missing"),
    ({"VideoId": "v2"}, "VideoId 'v2' is not the video asked for (v1)"),
    ({"FileURL": "https://x/" + "a" * 3000}, "FileURL is longer than 2048 characters"),
]


@pytest.mark.parametrize(("overrides", "reason"), BAD_ITEMS)
def test_bad_items_are_quarantined_with_a_reason_and_good_ones_still_land(normalize, overrides, reason):
    result = normalize(answered("v1", item(DynamicImageId="good"), item(**overrides)))
    assert result.stickers["dynamic_image_id"].tolist() == ["good"]
    assert len(result.quarantine) == 1
    assert reason in result.quarantine["reason"].iloc[0]
    assert result.quarantine["item_index"].iloc[0] == 1


def test_a_bad_value_is_quoted_whole_up_to_60_characters_and_cut_after(normalize):
    result = normalize(answered("v1", item(DynamicImageId="a", Format="x" * 60), item(DynamicImageId="b", Format="y" * 61)))
    assert result.quarantine["reason"].tolist() == [
        "Format '" + "x" * 60 + "' is not gif or webp",
        "Format '" + "y" * 60 + "...' is not gif or webp",
    ]


def test_a_missing_field_is_the_whole_reason(normalize):
    fields = ["VideoId", "DynamicImageId", "Format", "CreationTime", "Duration", "FileSize", "FileURL"]
    result = normalize(answered("v1", *(item(JobId=f"j{i}", **{field: ...}) for i, field in enumerate(fields))))
    assert result.quarantine["reason"].tolist() == [f"{field} is missing" for field in fields]


def test_spaces_around_a_value_are_trimmed_but_a_tab_or_a_line_break_makes_it_fail(normalize):
    result = normalize(
        answered(
            "v1",
            item(DynamicImageId="a", FileSize="\u3000120 ", Format="\xa0GIF"),
            item(DynamicImageId="b", FileSize="\t120"),
            item(DynamicImageId="c", Width="640\n"),
        )
    )
    assert result.stickers[["dynamic_image_id", "file_size_bytes", "format"]].values.tolist() == [["a", 120, "gif"]]
    assert result.quarantine["reason"].tolist() == [
        "FileSize '\t120' is not a positive whole number of bytes",
        "Width '640\n' is not a positive whole number of pixels",
    ]


def test_a_duration_is_any_positive_number_of_seconds(normalize):
    result = normalize(
        answered(
            "v1",
            item(DynamicImageId="a", Duration="0.5"),
            item(DynamicImageId="b", Duration=" 2.5\t"),
            item(DynamicImageId="c", Duration="0"),
        )
    )
    assert result.stickers["duration_s"].tolist() == [0.5, 2.5]
    assert result.quarantine["reason"].tolist() == ["Duration '0' is not a positive number of seconds"]


def test_a_vod_id_has_at_most_128_characters(normalize):
    result = normalize(answered("v1", item(DynamicImageId="a" * 128), item(DynamicImageId="b" * 129)))
    assert result.stickers["dynamic_image_id"].tolist() == ["a" * 128]
    assert result.quarantine["reason"].iloc[0] == "DynamicImageId '" + "b" * 60 + "...' is not a VOD id (1 to 128 letters, digits, - or _)"


@pytest.mark.parametrize(
    ("overrides", "column", "value"),
    [
        ({"FileSize": "+120"}, "file_size_bytes", 120),
        ({"FileSize": "999999999999999999"}, "file_size_bytes", 999999999999999999),  # 18 digits
        ({"Width": "2147483647"}, "width", 2147483647),
        ({"CreationTime": "2020-7-28T2:01:06Z"}, "creation_time", pd.Timestamp("2020-07-28T02:01:06Z")),
        ({"FileURL": "https://x/" + "a" * 2038}, "file_url", "https://x/" + "a" * 2038),  # 2,048 characters
        ({"FileURL": "HTTP://cdn.example.com/a.gif"}, "file_url", "HTTP://cdn.example.com/a.gif"),
        ({"FileURL": "https://x/" + "é" * 2038}, "file_url", "https://x/" + "é" * 2038),  # characters, not bytes
    ],
    ids=["plus-sign", "18-digits", "int32-max", "unpadded-time", "2048-url", "upper-case-scheme", "2048-characters"],
)
def test_values_at_the_edge_of_a_rule_are_typed(normalize, overrides, column, value):
    result = normalize(answered("v1", item(**overrides)))
    assert result.quarantine.empty
    assert result.stickers[column].iloc[0] == value


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"FileSize": "1000000000000000000"}, "FileSize '1000000000000000000' is not a positive whole number of bytes"),
        ({"Width": "2147483648"}, "Width '2147483648' is not a positive whole number of pixels"),
        ({"FileURL": "https://x/" + "a" * 2039}, "FileURL is longer than 2048 characters"),
        ({"FileURL": "https:///a.gif"}, "FileURL 'https:///a.gif' is not an http(s) address"),
        ({"FileURL": "http:// cdn.example.com/a.gif"}, "FileURL 'http:// cdn.example.com/a.gif' is not an http(s) address"),
        ({"CreationTime": "2020-07-28 02:01:06Z"}, "CreationTime '2020-07-28 02:01:06Z' is not a UTC time like 2020-07-28T02:01:06Z"),
        ({"CreationTime": "2020-07-28T02:01:06z"}, "CreationTime '2020-07-28T02:01:06z' is not a UTC time like 2020-07-28T02:01:06Z"),
    ],
    ids=["19-digits", "past-int32", "2049-url", "no-host", "space-for-host", "space-for-T", "lower-case-z"],
)
def test_values_just_past_the_edge_of_a_rule_are_quarantined(normalize, overrides, reason):
    result = normalize(answered("v1", item(**overrides)))
    assert result.stickers.empty
    assert result.quarantine["reason"].tolist() == [reason]


def test_quarantine_keeps_raw_values_but_never_the_auth_key(normalize):
    result = normalize(answered("v1", item(FileSize="N/A")))
    row = result.quarantine.iloc[0]
    assert dict(result.quarantine.dtypes.astype(str)) == {c.name: str(pd.Series(dtype=c.pandas).dtype) for c in QUARANTINE}
    assert row["raw_file_size"] == "N/A"
    assert row["raw_width"] == "640"
    assert "auth_key=<redacted>" in row["raw_file_url"]
    assert "8f14e45fceea167a5a36dedd4bea2543" not in row["raw_file_url"]
    assert row["request_id"] == "REQ-1"


def test_every_failing_check_of_a_row_is_named(normalize):
    result = normalize(answered("v1", item(FileSize="x", Format="bmp")))
    reason = result.quarantine["reason"].iloc[0]
    assert "Format 'bmp'" in reason and "FileSize 'x'" in reason


def test_a_sticker_id_seen_twice_in_the_day_is_quarantined_even_across_chunks(tmp_path):
    records = [answered("v1", item(), item()), answered("v1", item(), request_id="REQ-2")]
    path = write_answers(tmp_path / "answers.jsonl", records)
    with Normalizer(DAY) as normalizer:
        chunks = [c for c in normalizer.normalize_file(path, chunk_rows=2) if c.stickers.num_rows or c.quarantine.num_rows]
    first, second = chunks
    assert first.stickers.num_rows == 1 and first.quarantine.num_rows == 1
    assert second.stickers.num_rows == 0 and second.quarantine.num_rows == 1
    assert "came more than once" in second.quarantine["reason"][0].as_py()


def test_the_sticker_kept_is_the_first_that_passes_every_check(normalize):
    tries = [{"FileSize": "N/A"}, {"Fps": "7"}, {"Fps": "8"}, {"Format": "png"}]
    result = normalize(answered("v1", *(item(DynamicImageId="a", **t) for t in tries)), chunk_rows=1)
    assert result.stickers["fps"].tolist() == [7]
    assert result.quarantine["item_index"].tolist() == [0, 2, 3]
    assert result.quarantine["reason"].tolist() == [
        "FileSize 'N/A' is not a positive whole number of bytes",
        "DynamicImageId 'a' came more than once in this snapshot; the first was kept",
        "Format 'png' is not gif or webp; DynamicImageId 'a' came more than once in this snapshot; the first was kept",
    ]


def test_items_that_are_not_objects_are_quarantined_not_dropped(normalize):
    result = normalize(answered("v1", item(), "garbage", None))
    assert len(result.stickers) == 1
    assert result.quarantine["reason"].str.startswith("the item is not a JSON object").all()
    assert result.quarantine["item_index"].tolist() == [1, 2]


def test_numbers_sent_unquoted_are_still_typed(normalize):
    result = normalize(answered("v1", item(FileSize=119866, Duration=2.5, Width=640)))
    row = result.stickers.iloc[0]
    assert (row["file_size_bytes"], row["duration_s"], row["width"]) == (119866, 2.5, 640)


def test_every_item_ends_in_exactly_one_frame(normalize):
    records = [
        answered("v1", *(item(DynamicImageId=f"s{i}", FileSize=str(i - 3)) for i in range(10))),
        answered("v2", item(DynamicImageId="t", VideoId="v2")),
        {"video_id": "v3", "status": "not_found", "fetched_at": "2026-11-20T08:00:00Z"},
        {"video_id": "v4", "status": "failed", "fetched_at": "2026-11-20T08:00:00Z", "error_code": "Timeout"},
        answered("v5"),
    ]
    result = normalize(*records)
    assert result.items == 11
    assert len(result.stickers) == 7  # sizes 1..6 from v1 plus v2's
    assert sorted(result.quarantine["raw_file_size"]) == ["-1", "-2", "-3", "0"]


def test_no_answers_gives_empty_typed_frames(normalize):
    result = normalize({"video_id": "v3", "status": "not_found", "fetched_at": "2026-11-20T08:00:00Z"})
    assert result.stickers.empty and result.quarantine.empty
    assert dict(result.stickers.dtypes.astype(str)) == {c.name: str(pd.Series(dtype=c.pandas).dtype) for c in STICKERS}
    assert list(result.quarantine.columns) == list(pandas_dtypes(QUARANTINE))


def bad_day():
    """The corpus above as a day's records: each case its own video beside a good item, items that are not
    objects, a not-found and a failed video."""
    records = []
    for i, (overrides, _) in enumerate(BAD_ITEMS):
        video = f"video-{i:02d}"
        bad = item(**{"DynamicImageId": f"bad{i}", **overrides, "VideoId": overrides.get("VideoId", video)})
        records.append(answered(video, item(DynamicImageId=f"good{i}", VideoId=video), bad, request_id=f"REQ-{i}"))
    records.append(answered("video-objects", "garbage", None, item(DynamicImageId="good-x", VideoId="video-objects")))
    records.append(
        {"video_id": "video-gone", "status": "not_found", "fetched_at": "2026-11-20T08:00:00Z", "error_code": "InvalidVideo.NotFound"}
    )
    records.append({"video_id": "video-failed", "status": "failed", "fetched_at": "2026-11-20T08:00:00Z", "error_code": "Timeout"})
    return records


def test_a_day_of_bad_answers_lands_whole_in_the_lake_and_the_day_goes_on(layout):
    """The corpus above through the day's real path: an answer file on disk, normalize_day, Parquet."""
    layout.answers(DAY).parent.mkdir(parents=True)
    write_answers(layout.answers(DAY), bad_day())

    report = normalize_day(layout, DAY)

    stickers = lake.read_partition(layout, "stickers", DAY)
    assert len(BAD_ITEMS) == 35 and len(stickers) == 36  # the figures of docs/reliability.md
    assert sorted(stickers["dynamic_image_id"]) == sorted([f"good{i}" for i in range(len(BAD_ITEMS))] + ["good-x"])
    quarantine = lake.read_partition(layout, "quarantine", DAY).set_index("video_id")
    for i, (_, reason) in enumerate(BAD_ITEMS):
        video = f"video-{i:02d}"
        assert reason.replace("(v1)", f"({video})") in quarantine.loc[video, "reason"]
    assert (quarantine.loc["video-objects", "reason"].str.startswith("the item is not a JSON object")).all()
    assert report.quarantined == len(BAD_ITEMS) + 2 == 37
    assert not quarantine["raw_file_url"].str.contains("0a1b2c").any()
    assert "任务-1" in set(quarantine["raw_job_id"]) and "ｇｉｆ" in set(quarantine["raw_format"])  # kept as sent
    fetches = lake.read_partition(layout, "video_fetches", DAY)
    assert fetches["status"].value_counts().to_dict() == {"answered": len(BAD_ITEMS) + 1, "not_found": 1, "failed": 1}
    assert len(fetches) == 38


def test_an_answer_file_is_typed_in_chunks_in_order_even_after_an_item_of_another_shape(tmp_path):
    records = [answered(f"v{i}", item(DynamicImageId=f"s{i}", VideoId=f"v{i}")) for i in range(5)]
    records[3]["response"]["DynamicImageList"].append("garbage")  # read the robust way from here on
    records.append(answered("v9", item(DynamicImageId="s1", VideoId="v9")))  # a repeat from an earlier chunk
    records.append({"video_id": "v10", "status": "not_found", "fetched_at": "2026-11-20T08:00:00Z", "attempts": 1})
    path = write_answers(tmp_path / "answers.jsonl", records)
    with Normalizer(DAY) as normalizer:
        chunks = list(normalizer.normalize_file(path, chunk_rows=2))
    stickers = [sid for c in chunks for sid in c.stickers["dynamic_image_id"].to_pylist()]
    assert stickers == ["s0", "s1", "s2", "s3", "s4"]
    quarantine = [(q["video_id"], q["item_index"], q["reason"]) for c in chunks for q in c.quarantine.to_pylist()]
    assert [(v, i) for v, i, _ in quarantine] == [("v3", 1), ("v9", 0)]
    assert quarantine[0][2].startswith("the item is not a JSON object")
    assert "came more than once" in quarantine[1][2]
    fetches = [f for c in chunks for f in c.video_fetches.to_pylist()]
    assert [(f["video_id"], f["status"], f["stickers_returned"]) for f in fetches] == [
        *((f"v{i}", "answered", 2 if i == 3 else 1) for i in range(5)),
        ("v9", "answered", 1),
        ("v10", "not_found", 0),
    ]


def test_the_outcome_does_not_depend_on_the_chunk_size(tmp_path):
    records = bad_day()
    records += [answered(f"w{i}", *(item(DynamicImageId=f"w{i}-{j}", VideoId=f"w{i}") for j in range(i % 4))) for i in range(30)]
    again = [item(DynamicImageId="good3", VideoId="again"), item(DynamicImageId="bad5", VideoId="again")]
    records.insert(10, answered("again", *again))
    records.append(answered("numbers", item(DynamicImageId="n", VideoId="numbers", FileSize=5, Width=6)))
    path = write_answers(tmp_path / "answers.jsonl", records)
    results = [normalized(path, chunk_rows=rows) for rows in (1, 7, CHUNK_ROWS)]
    for result in results[1:]:
        for table in ANSWER_TABLES:
            pd.testing.assert_frame_equal(getattr(result, table), getattr(results[0], table))
    first = results[0]
    assert first.video_fetches["video_id"].tolist() == [r["video_id"] for r in records]  # in file order
    kept = list(zip(first.stickers["video_id"], first.stickers["dynamic_image_id"], strict=False))
    assert kept[-1] == ("numbers", "n") and len(kept) == len(BAD_ITEMS) + 1 + sum(i % 4 for i in range(30)) + 1 + 1
    assert ("again", "bad5") in kept  # its first item was quarantined for another reason: this one is kept
    assert first.quarantine.set_index("video_id").loc["again", "reason"] == (
        "DynamicImageId 'good3' came more than once in this snapshot; the first was kept"
    )


def test_sticker_ids_with_the_same_hash_are_still_told_apart(tmp_path, monkeypatch):
    records = bad_day() + [answered("again", item(DynamicImageId="good3", VideoId="again"), item(DynamicImageId="new", VideoId="again"))]
    path = write_answers(tmp_path / "answers.jsonl", records)
    expected = normalized(path, chunk_rows=7)
    monkeypatch.setattr(repeats, "_hashes", lambda ids: np.zeros(len(ids), np.uint64))  # every id collides
    colliding = normalized(path, chunk_rows=7)
    for table in ANSWER_TABLES:
        pd.testing.assert_frame_equal(getattr(colliding, table), getattr(expected, table))
    assert colliding.stickers["dynamic_image_id"].iloc[-1] == "new"
    assert "came more than once" in colliding.quarantine["reason"].iloc[-1]


@pytest.mark.parametrize(
    ("response", "words"),
    [("oops", "response is not a JSON object"), ({"DynamicImageList": "x"}, "response.DynamicImageList is not a list")],
)
def test_an_answer_of_an_unknown_shape_stops_the_day_naming_its_line(tmp_path, response, words):
    broken = answered("v2")
    broken["response"] = response
    path = write_answers(tmp_path / "answers.jsonl", [answered("v1", item()), broken])
    with pytest.raises(ValueError, match=f"answers.jsonl, line 2: {words}"):
        normalized(path)
