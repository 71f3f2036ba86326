"""The lake read in one line by DuckDB, pyarrow, pandas and Polars, exactly as the docs show it, on a lake
the pipeline wrote over two days: every row, the snapshot_date partition as a date, the schema's types."""

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from docs import build as docs
from docs.history import History, SnapshotDay, build
from localvod import Catalog
from pipeline.store import lake
from pipeline.store.layout import Layout
from pipeline.store.schema import TABLES, UTC_TIMESTAMP, arrow_schema

D1, D2 = dt.date(2026, 11, 21), dt.date(2026, 11, 22)
# 40 videos on day 1; on day 2 the last 6 are deleted upstream. Plus 3 ids VOD never knew, both days.
SMALL = History(days=(SnapshotDay(D1, 40), SnapshotDay(D2, 34)), unknown=3)
ROOT = Path(__file__).resolve().parent.parent

# What each documented reader's result is, as one Arrow table.
AS_ARROW = {
    "DuckDB": lambda rel: rel.to_arrow_table(),
    "pyarrow": lambda dataset: dataset.to_table(),
    "pandas": lambda frame: pa.Table.from_pandas(frame, preserve_index=False),
    "Polars": lambda lazy: lazy.collect().to_arrow(),
}
DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    UTC_TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
}


def expected_types(reader: str, table: str) -> dict[str, object]:
    """The type each reader should report for each column of a lake table, from the schema."""
    columns = TABLES[table]
    if reader == "DuckDB":
        return {c.name: DUCKDB_TYPES[c.arrow] for c in columns}
    if reader == "pyarrow":
        return {c.name: c.arrow for c in columns}
    if reader == "pandas":
        return {c.name: pd.ArrowDtype(c.arrow) for c in columns}
    return dict(pl.from_arrow(arrow_schema(columns).empty_table()).schema)


def reported_types(reader: str, result) -> dict[str, object]:
    if reader == "DuckDB":
        return {name: str(kind) for name, kind in zip(result.columns, result.types, strict=True)}
    if reader == "pyarrow":
        return {field.name: field.type for field in result.schema}
    if reader == "pandas":
        return dict(result.dtypes)
    return dict(result.collect_schema())


def catalog_stickers(size: int) -> int:
    catalog = Catalog(size=size, seed=SMALL.catalog_seed)
    return sum(len(catalog.stickers(video_id, 0)) for video_id in catalog.video_ids())


# Rows per day, from the local catalog itself rather than from anything the pipeline wrote.
EXPECTED_ROWS = {
    "stickers": {D1: catalog_stickers(40), D2: catalog_stickers(34)},
    "video_fetches": {D1: 43, D2: 43},
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory holding ``data/``, as the project's root does, with two days the pipeline wrote."""
    root = tmp_path_factory.mktemp("lake_reads")
    build(Layout(root / "data"), SMALL)
    return root


def for_table(reader: docs.Reader, table: str) -> docs.Reader:
    return docs.Reader(reader.name, reader.code.replace("lake/stickers", f"lake/{table}"), reader.types)


@pytest.mark.parametrize("table", ["stickers", "video_fetches"])
@pytest.mark.parametrize("reader", docs.READERS, ids=lambda r: r.name)
@pytest.mark.server
def test_each_documented_one_liner_reads_every_row_with_the_partition_as_a_date(workdir, reader, table):
    arrow = docs.read_lake(for_table(reader, table), workdir, AS_ARROW[reader.name])
    assert arrow.schema.field("snapshot_date").type == pa.date32()
    counts = {row["values"]: row["counts"] for row in pc.value_counts(arrow["snapshot_date"]).to_pylist()}
    assert counts == EXPECTED_ROWS[table]
    assert EXPECTED_ROWS["stickers"][D1] > EXPECTED_ROWS["stickers"][D2] > 0  # the deletions show


@pytest.mark.parametrize("table", ["stickers", "video_fetches", "quarantine"])
@pytest.mark.parametrize("reader", docs.READERS, ids=lambda r: r.name)
@pytest.mark.server
def test_each_documented_one_liner_gives_the_schemas_types(workdir, reader, table):
    types = docs.read_lake(for_table(reader, table), workdir, lambda result: reported_types(reader.name, result))
    assert types == expected_types(reader.name, table)


@pytest.mark.server
def test_null_integers_stay_integers_through_the_documented_pandas_line(workdir):
    pandas = next(r for r in docs.READERS if r.name == "pandas")
    frame = docs.read_lake(for_table(pandas, "video_fetches"), workdir, lambda f: f)
    # error_code is missing for answered videos; numbers keep their integer type beside missing values.
    assert frame["error_code"].isna().any()
    assert str(frame["attempts"].dtype) == "int32[pyarrow]"
    assert frame.loc[frame["status"] == "not_found", "http_status"].eq(404).all()


@pytest.mark.parametrize("reader", docs.PLAIN_READERS, ids=lambda r: r.name)
@pytest.mark.server
def test_the_shorter_spellings_give_the_day_as_text_as_the_docs_say(workdir, reader):
    library = reader.name.split(",")[0]  # the same library as a documented reader, without its options
    column = docs.read_lake(reader, workdir, lambda result: AS_ARROW[library](result)["snapshot_date"])
    values = {dt.date.fromisoformat(str(v)) for v in column.to_pylist()}
    assert values == {D1, D2}
    assert not pa.types.is_date(column.type)


@pytest.mark.server
def test_a_day_being_rewritten_does_not_disturb_the_documented_readers(workdir):
    layout = Layout(workdir / "data")
    with lake.PartitionWriter(layout, "stickers", D2) as writer:
        writer.write(lake.read_partition(layout, "stickers", D2).head(3))
        assert [p.name for p in layout.lake_partition("stickers", D2).iterdir()] == ["part-0.parquet"]
        for reader in docs.READERS:
            rows = docs.read_lake(reader, workdir, lambda result, name=reader.name: AS_ARROW[name](result).num_rows)
            assert rows == sum(EXPECTED_ROWS["stickers"].values()), reader.name
        writer.abort()


@pytest.mark.parametrize("reader", docs.READERS + docs.PLAIN_READERS, ids=lambda r: r.name)
def test_the_data_and_analysts_pages_show_each_tested_line(reader):
    for page in ("docs/data.md", "docs/analysts.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        line = reader.code.splitlines()[-1].removeprefix("stickers = ")
        assert line in text, f"{page} does not show the {reader.name} line"
