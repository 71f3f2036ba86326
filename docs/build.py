"""``docs/analysts.md``, written from a real warehouse so it never goes stale: ``python -m docs.build``
(``make docs``) builds a few snapshot days of the demo catalog, then documents every table, view and
column as the warehouse describes itself, the lake's columns and how each reader types them, and runs
the questions of ``docs/queries/`` with the DuckDB shell, pasting what it prints."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import yaml

from docs.history import DEMO, History
from docs.history import build as build_history
from pipeline.publish import markdown
from pipeline.store.layout import PARTITION_KEY, Layout
from pipeline.store.schema import TABLES

T = TypeVar("T")

PAGE = Path("docs/analysts.md")
QUERIES = Path("docs/queries")
SUPERSET = Path("deploy/superset")
SCREENSHOT = Path("docs/dashboard.png")  # DASHBOARD_SCREENSHOT=docs/dashboard.png pytest tests/test_dashboards.py

# The order analysts meet the warehouse in: summaries first, then the rows they come from.
RELATION_ORDER = (
    "fetch_log",
    "video_sticker_stats",
    "daily_sticker_stats",
    "format_stats",
    "latest_stickers",
    "stickers",
    "sticker_history",
    "stickers_per_day",
    "video_stickers_per_day",
    "sticker_changes_per_day",
    "video_fetches",
    "quarantine",
)


@dataclass(frozen=True)
class Question:
    path: Path
    title: str  # the file's leading comment
    sql: str


def questions(folder: Path = QUERIES) -> list[Question]:
    """The ``NN_name.sql`` files of ``folder``, in order; each starts with its question as a ``--`` comment."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip()
        comment = [line.removeprefix("--").strip() for line in sql.splitlines() if line.startswith("--")]
        if not sql.startswith("--") or not comment:
            raise ValueError(f"{path} must start with its question as a -- comment")
        found.append(Question(path, " ".join(comment[:1]), sql))
    return found


@dataclass(frozen=True)
class Reader:
    """One way to read the lake, as the page shows it: ``code`` leaves the result in ``stickers``."""

    name: str
    code: str
    types: Callable[[Any], dict[str, str]]  # column -> the type this reader reports


# Paths are relative to the directory holding ``data/``; each line is what the page and docs/data.md show.
READERS = (
    Reader(
        "DuckDB",
        "import duckdb\nstickers = duckdb.sql(\"SELECT * FROM read_parquet('data/lake/stickers/*/*.parquet', hive_partitioning = true)\")",
        lambda rel: {name: str(kind) for name, kind in zip(rel.columns, rel.types, strict=True)},
    ),
    Reader(
        "pyarrow",
        "import pyarrow as pa, pyarrow.dataset as ds\n"
        'stickers = ds.dataset("data/lake/stickers", partitioning=ds.partitioning(pa.schema([("snapshot_date", pa.date32())]), flavor="hive"))',
        lambda dataset: {field.name: str(field.type) for field in dataset.schema},
    ),
    Reader(
        "pandas",
        "import pandas as pd, pyarrow as pa, pyarrow.dataset as ds\n"
        'stickers = pd.read_parquet("data/lake/stickers", dtype_backend="pyarrow", partitioning=ds.partitioning(pa.schema([("snapshot_date", pa.date32())]), flavor="hive"))',
        lambda frame: {name: str(dtype) for name, dtype in frame.dtypes.items()},
    ),
    Reader(
        "Polars",
        'import polars as pl\nstickers = pl.scan_parquet("data/lake/stickers/*/*.parquet", hive_partitioning=True)',
        lambda lazy: {name: str(dtype) for name, dtype in lazy.collect_schema().items()},
    ),
)

# The readers' shortest spellings, and what they make of the partition column.
PLAIN_READERS = (
    Reader(
        'pyarrow, `partitioning="hive"`',
        'import pyarrow.dataset as ds\nstickers = ds.dataset("data/lake/stickers", partitioning="hive")',
        READERS[1].types,
    ),
    Reader(
        "pandas, no options",
        'import pandas as pd\nstickers = pd.read_parquet("data/lake/stickers")',
        READERS[2].types,
    ),
)


def read_lake(reader: Reader, workdir: Path, look: Callable[[Any], T]) -> T:
    """Runs a reader's code from ``workdir`` (the directory holding ``data/``) and hands its ``stickers``
    to ``look`` there (lazy readers read the files only when looked at)."""
    scope: dict[str, Any] = {}
    with contextlib.chdir(workdir):
        exec(reader.code, scope)  # noqa: S102 - the page's own snippets, run to show what they give
        return look(scope["stickers"])


@dataclass(frozen=True)
class Relation:
    """A table or view of the warehouse as it describes itself."""

    name: str
    kind: str  # table or view
    comment: str | None
    rows: int
    columns: list[tuple[str, str, str | None]]  # name, DuckDB type, comment


def relations(con: duckdb.DuckDBPyConnection) -> list[Relation]:
    """Every table and view of the warehouse, in the order analysts meet them."""
    found = con.execute(
        "SELECT table_name, 'table', comment FROM duckdb_tables() WHERE NOT internal AND database_name = current_database() "
        "UNION ALL SELECT view_name, 'view', comment FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
    ).fetchall()
    rank = {name: i for i, name in enumerate(RELATION_ORDER)}
    found.sort(key=lambda row: (rank.get(row[0], len(rank)), row[0]))
    described = []
    for name, kind, comment in found:
        columns = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() "
            "WHERE table_name = ? AND database_name = current_database() ORDER BY column_index",
            [name],
        ).fetchall()
        rows = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        described.append(Relation(name, kind, comment, rows, columns))
    return described


def run_question(warehouse: Path, question: Question) -> str:
    """What the DuckDB shell prints for the question, in its markdown mode, in UTC."""
    shell = Path(sys.executable).parent / "duckdb"
    done = subprocess.run(
        [str(shell), "-no-init", "-readonly", "-bail", "-markdown", str(warehouse), "-c", question.sql],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    )
    if done.returncode != 0 or done.stderr.strip():
        raise RuntimeError(f"{question.path} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def render(workdir: Path, history: History, asked: list[Question]) -> str:
    """The page, from the data under ``workdir / "data"``."""
    layout = Layout(workdir / "data")
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        described = relations(con)
    quarantined = next(rel.rows for rel in described if rel.name == "quarantine")
    parts = [_intro(history, quarantined), _connect(), _dashboards(), _warehouse(described), _lake(workdir), _questions(layout, asked)]
    return "\n\n".join(parts).rstrip() + "\n"


def _intro(history: History, quarantined: int) -> str:
    clean = " The catalog's items are all well-formed, so nothing is quarantined here." if not quarantined else ""
    return f"""# The warehouse and the lake, for analysts

<!-- Generated by `make docs` (python -m docs.build); edit docs/queries/, pipeline/publish/sql/comments.sql,
pipeline/store/schema.py or docs/build.py instead, then run it again. -->

What is in `data/warehouse.duckdb` (DuckDB, for SQL) and `data/lake/` (Parquet, for dashboards and
dataframes), what every column means, and ten questions answered in SQL with the results they give.

Every result on this page comes from a real run of the pipeline against the local VOD service's demo
catalog, over {len(history.days)} snapshot days:

{history.describe()}

The local catalog itself never changes from day to day (a video's stickers are a pure function of its
seed), so the deletions are made by serving a smaller catalog on a later day: its last videos are
gone, exactly as when they are deleted in VOD.{clean} To query that data yourself,
`python -m docs.build --data-dir /tmp/analysts` rebuilds this page and keeps it in `/tmp/analysts/data/`."""


def _connect() -> str:
    return """## Connecting, read-only

Always open the warehouse read-only. Each publish builds a new file and swaps it in with one rename: an
open connection keeps the days and summaries it opened and never blocks a publish. Reconnect to see a
newer day. The file is in DuckDB 1.0's storage format: any DuckDB since 1.0 opens it.

The summaries and `fetch_log` are stored in the file; `stickers`, `quarantine`, `video_fetches` and
`latest_stickers` are views over the lake's Parquet files, listed by absolute path when the file was
published, so open the warehouse where `data/lake/` is readable at that same path (docs/data.md, "Why
views" says what this buys and costs).

DuckDB shell (installed in the project's environment):

```sh
.venv/bin/duckdb -readonly data/warehouse.duckdb
```

Python:

```python
import duckdb
con = duckdb.connect("data/warehouse.duckdb", read_only=True)
con.sql("SELECT * FROM format_stats").df()       # .pl() for Polars, .arrow() for pyarrow
```

A Jupyter notebook: the same two lines in a cell; a result's `.df()` renders as a table. Close and
reconnect (`con.close()`, then `duckdb.connect(...)` again) after a publish to see the new day.

The descriptions below live in the warehouse itself, so any client can list them:

```sql
SELECT table_name, column_name, data_type, comment FROM duckdb_columns() WHERE NOT internal;
```"""


@dataclass(frozen=True)
class Chart:
    title: str
    dataset: str  # its SQL: deploy/superset/datasets/<dataset>.sql
    shows: str  # the chart's description
    days: bool  # limited to the last 90 days


def dashboard_charts(folder: Path = SUPERSET) -> list[Chart]:
    """The charts of the VOD stickers dashboard as kept in Superset's export format, in its layout's order."""
    datasets = {}
    for path in (folder / "dashboard" / "datasets").rglob("*.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        datasets[doc["uuid"]] = doc["table_name"]
    dashboard = yaml.safe_load(next((folder / "dashboard" / "dashboards").glob("*.yaml")).read_text(encoding="utf-8"))
    order = [item["meta"]["uuid"] for item in dashboard["position"].values() if isinstance(item, dict) and item.get("type") == "CHART"]
    found = []
    for path in (folder / "dashboard" / "charts").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        chart = Chart(doc["slice_name"], datasets[doc["dataset_uuid"]], doc["description"], bool(doc["params"]["adhoc_filters"]))
        found.append((order.index(doc["uuid"]), chart))
    return [chart for _, chart in sorted(found, key=lambda pair: pair[0])]


def _dashboards() -> str:
    charts = markdown.table(
        ["chart", "dataset (`deploy/superset/datasets/`)", "what it shows", "days"],
        [[c.title, f"`{c.dataset}.sql`", c.shows, "the last 90 days" if c.days else "the newest snapshot"] for c in dashboard_charts()],
    )
    return f"""## Dashboards: Superset

`make dashboards` serves Apache Superset on http://127.0.0.1:8088 with the **VOD stickers** dashboard over
the demo's data (`make demo` first), or over `PIPELINE_DATA_DIR`. The first time it builds Superset's own
environment, `.venv-superset/` (pinned in `deploy/superset/requirements.txt`: Superset needs older pandas,
pyarrow and SQLAlchemy than the pipeline), and it prints the address and the login:

```text
Superset: http://127.0.0.1:8088/superset/dashboard/vod-stickers/
Login: admin / <a generated password, kept in <data>/superset/admin_password>
```

| variable | meaning | default |
|---|---|---|
| `PIPELINE_DATA_DIR` | the data directory whose `warehouse.duckdb` the dashboard reads | `demo/data` |
| `SUPERSET_PORT` | port on 127.0.0.1 | `8088` |
| `SUPERSET_ADMIN_PASSWORD` | the `admin` user's password | generated once, kept in `<data>/superset/admin_password` |
| `SUPERSET_SECRET_KEY` | Superset's secret key (signs sessions, encrypts saved passwords) | generated once, kept in `<data>/superset/secret_key` |

Superset's own metadata (users, dashboards, the query log) is a SQLite file beside the data,
`<data>/superset/superset.db`. The dashboard is kept as code in Superset's export format
(`deploy/superset/dashboard/`), each dataset's SQL in a file of its own, and imported at every start,
replacing what an earlier start imported: edit the files, restart, and the dashboard follows.

![The VOD stickers dashboard, after a third day was published]({SCREENSHOT.name})

{charts}

A publish shows at the dashboard's next refresh (the browser's reload, or *Refresh dashboard*), without
restarting Superset: every chart's query opens the warehouse read-only on a connection of its own and
closes it (`deploy/superset/superset_config.py`), so it reads the file the last publish renamed into
place. Superset caches nothing here. `tests/test_dashboards.py` opens the dashboard in chromium, checks
every chart against the same question asked of DuckDB, publishes a day and sees it after a reload.

### Connecting your own Superset, or another SQL tool

The warehouse is a DuckDB file; any tool that speaks DuckDB reads it, read-only, while the pipeline
publishes:

- **Superset**: install `duckdb-engine` in Superset's environment, then add a database with the SQLAlchemy
  URI `duckdb:////absolute/path/to/data/warehouse.duckdb` and, under *Advanced, Other, Engine parameters*,
  `{{"connect_args": {{"read_only": true}}}}`. Superset opens a connection per query (it uses SQLAlchemy's
  `NullPool`), which is what makes a publish visible: a tool that keeps a connection open, in a pool or a
  session, goes on reading the file it opened until it reconnects.
- **DBeaver, DataGrip and other JDBC tools**: DuckDB's JDBC driver, URL
  `jdbc:duckdb:/absolute/path/to/data/warehouse.duckdb` with the property `duckdb.read_only=true`; ODBC
  tools: DuckDB's ODBC driver with `access_mode=READ_ONLY`. Reconnect after a publish.
- **Any DuckDB session** (the shell, Python, a notebook) can attach the warehouse beside its own work:
  `ATTACH 'data/warehouse.duckdb' AS warehouse (READ_ONLY); USE warehouse;`.

To read the lake itself rather than the warehouse, a dataset (or any SQL tool on DuckDB) reads the Parquet
files: `SELECT * FROM read_parquet('/absolute/path/to/data/lake/stickers/*/*.parquet', hive_partitioning = true)`.
On an object store (S3, OSS) DuckDB needs its httpfs extension, which Superset's environment installs from
its Python package (`duckdb-extension-httpfs`, the same version as DuckDB's), so nothing is downloaded at
run time. When the variables of a lake on a store are set where Superset starts (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL`, `AWS_REGION`, `S3_ADDRESSING_STYLE`; or
`OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_ENDPOINT`, `OSS_REGION`), every DuckDB connection of
`make dashboards` loads httpfs with those keys, kept in Superset's process only, never in its database;
`read_parquet('s3://bucket/data/lake/stickers/*/*.parquet', hive_partitioning = true)` then works in SQL Lab
and in datasets. In a DuckDB session of your own, of the extension's version (1.5.5, as the project's
`.venv/bin/duckdb`, for which `vod-stickers query` writes these lines itself):

```sql
LOAD '.venv-superset/lib/python3.11/site-packages/duckdb_extension_httpfs/extensions/v1.5.5/httpfs.duckdb_extension';
CREATE SECRET lake (TYPE s3, KEY_ID getenv('AWS_ACCESS_KEY_ID'), SECRET getenv('AWS_SECRET_ACCESS_KEY'), ENDPOINT 'store.example:9000', URL_STYLE 'path');
SELECT snapshot_date, count(*) FROM read_parquet('s3://bucket/data/lake/stickers/*/*.parquet', hive_partitioning = true) GROUP BY ALL;
```

The dashboard itself opens a local `warehouse.duckdb`: with a data directory on a store, point it at a
copy of the store's `warehouse.duckdb` (its views then read the lake's `s3://` files through httpfs, as
above), or its datasets at the lake."""


def _warehouse(described: list[Relation]) -> str:
    parts = [
        "## Warehouse tables and views",
        "Rows are those of the demo data above. Times are UTC (`TIMESTAMP WITH TIME ZONE`); sizes in bytes, "
        "lengths in seconds, dimensions in pixels.",
        markdown.table(["name", "kind", "rows", "what"], [[f"`{r.name}`", r.kind, f"{r.rows:,}", r.comment] for r in described]),
    ]
    for rel in described:
        parts.append(f"### `{rel.name}`\n\n{rel.comment} ({rel.kind}).")
        parts.append(markdown.table(["column", "type", "meaning"], [[f"`{c}`", f"`{t}`", m] for c, t, m in rel.columns]))
    return "\n\n".join(parts)


def _lake(workdir: Path) -> str:
    parts = [
        "## The Parquet lake",
        "Hive partitions under `data/lake/<table>/snapshot_date=YYYY-MM-DD/part-0.parquet`, one file per table "
        "and day (in a deployment of several accounts, one per account: `part-<account>.parquet`, every row "
        "saying its `account`; the lines below read them all). `snapshot_date` is in the folder name only, not in the files: readers take it from the "
        "path when told the layout is Hive's. A day is rewritten by writing a new file in `data/lake/.tmp/` "
        "and renaming it over `part-0.parquet`, so a reader sees the old day or the new one, never half. "
        "The day's tables are renamed together, listed first in a journal (`data/lake/.tmp/*.replace.json`) "
        "that the pipeline finishes before its next read if the renames stopped part-way: the warehouse "
        "always shows every table of a day from the same run.",
        "### What a dashboard reading the lake can rely on",
        "- **Every day in the lake passed its audit.** A day's new files are written outside the lake and "
        "checked by the blocking checks there (one schema, distinct sticker ids, formats gif or webp, positive "
        "measures, every video and item accounted for); only a day that passed them all is put into the lake, "
        "its tables together. What a dashboard reads directly has passed the same checks as what the "
        "warehouse serves.\n"
        "- **A day that failed keeps its previous version.** Its new files are held under `data/staging/` "
        "(laid out as the lake, for the operator: `vod-stickers staged`), never under `data/lake/`; a day "
        "that had passed before stays as it was, and a day that never passed is absent until it does.\n"
        "- **A day is one version of every table.** `stickers`, `quarantine`, `video_fetches` and `events` of "
        "an account's day always come from the same run; the warehouse's `fetch_log` row of that day is the "
        "fetch those rows were typed from.\n"
        "- **`videos` comes with its day.** The account's videos as the day's discovery found them wait under "
        "`data/staging/` and reach the lake in the same commit as the day's audited tables, so `videos` "
        "and `stickers` of a day are never of two different runs.\n"
        "- **Files change by rename only.** Read `part-*.parquet` (or the Hive layout): nothing else in a "
        "partition folder is ever part of a table, and hidden folders (`.tmp`) are the writer's.",
    ]
    for table, columns in TABLES.items():
        parts.append(f"### `lake/{table}`")
        parts.append(
            markdown.table(
                ["column", "Parquet (Arrow) type", "nullable", "meaning"],
                [[f"`{c.name}`", f"`{c.arrow}`", "yes" if c.nullable else "no", c.description] for c in columns],
            )
        )
    parts.append(_readers(workdir))
    return "\n\n".join(parts)


def _readers(workdir: Path) -> str:
    parts = [
        "### Reading the lake in one line",
        "Run from the directory holding `data/` (the project's root). Each line gives every column with the "
        "lake's types, `snapshot_date` included as a date.",
    ]
    types = {}
    for reader in (*READERS, *PLAIN_READERS):
        types[reader.name] = read_lake(reader, workdir, reader.types)
    for reader in READERS:
        parts.append(f"{reader.name}:\n\n```python\n{reader.code}\n```")
    parts.append(
        "A day being rewritten is written elsewhere and renamed into its folder whole, so every reader sees the "
        "old day or the new one.\n\n"
        "Shorter spellings work too, with weaker types: `snapshot_date` comes as strings (pandas: a "
        "categorical of strings), and with pandas' default types an integer column holding a missing value "
        "(`fps`, `width`, `height`, `http_status`) turns into `float64`:\n\n"
        + "\n\n".join(f"```python\n{reader.code}\n```" for reader in PLAIN_READERS)
    )
    names = [r.name for r in (*READERS, *PLAIN_READERS)]
    columns = [c.name for c in TABLES["stickers"]]
    rows = [[f"`{name}`", *(f"`{types[r].get(name, '(missing)')}`" for r in names)] for name in columns]
    parts.append(
        f"What each reader makes of `lake/stickers` on the demo data (as each reports its types; "
        f"`{PARTITION_KEY}` comes from the folder names):\n\n" + markdown.table(["column", *names], rows)
    )
    return "\n\n".join(parts)


def _questions(layout: Layout, asked: list[Question]) -> str:
    parts = [
        f"## {len(asked)} questions in SQL",
        "Each query is a file in `docs/queries/`; the result under it is what "
        "`.venv/bin/duckdb -readonly -markdown data/warehouse.duckdb -f docs/queries/<file>` printed on the demo data.",
    ]
    for n, question in enumerate(asked, start=1):
        parts.append(
            f"### {n}. {question.title}\n\n`docs/queries/{question.path.name}`\n\n```sql\n{question.sql}\n```\n\n"
            f"{run_question(layout.warehouse, question)}"
        )
    return "\n\n".join(parts)


def build(out: Path, workdir: Path, *, history: History = DEMO, queries: Path = QUERIES) -> Path:
    """Builds the history's data under ``workdir / "data"`` (empty or absent) and writes the page to ``out``."""
    data = workdir / "data"
    if data.exists() and any(data.iterdir()):
        raise FileExistsError(f"{data} is not empty: the page is built from fresh data only")
    build_history(Layout(data), history)
    page = render(workdir, history, questions(queries))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.build", description=__doc__)
    parser.add_argument("--out", type=Path, default=PAGE, help=f"the page to write (default: {PAGE})")
    parser.add_argument("--queries", type=Path, default=QUERIES, help=f"the questions (default: {QUERIES})")
    parser.add_argument("--data-dir", type=Path, help="keep the data the page is built from here (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.data_dir is not None:
        build(args.out, args.data_dir, queries=args.queries)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(args.out, Path(tmp), queries=args.queries)
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
