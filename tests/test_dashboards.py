"""The "VOD stickers" Superset dashboard (deploy/superset/): its datasets answer on a real warehouse with the
columns the dashboard declares, and, in a real browser, every chart shows what DuckDB answers to the same
question, and a publish shows at the next refresh without restarting Superset."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from docs.history import History, SnapshotDay, build
from pipeline.store.layout import Layout
from tests.conftest import REPO, TODAY
from tests.test_report import CHROMIUM_FLAGS, chromium

SUPERSET = REPO / "deploy" / "superset"
SUPERSET_PYTHON = Path(os.environ.get("SUPERSET_PYTHON", REPO / ".venv-superset" / "bin" / "python"))
DAYS = (SnapshotDay(TODAY - dt.timedelta(days=2), 120), SnapshotDay(TODAY - dt.timedelta(days=1), 114))
THIRD = SnapshotDay(TODAY, 110)  # four more videos deleted upstream
HISTORY = History(days=DAYS, unknown=3, server_error_rate=0.02)


def datasets() -> dict[str, dict]:
    """The dashboard's datasets as kept in Superset's export format, by name."""
    docs = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (SUPERSET / "dashboard" / "datasets").rglob("*.yaml"))
    return {doc["table_name"]: doc for doc in docs}


def charts() -> dict[str, dict]:
    """The dashboard's charts, by title."""
    docs = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (SUPERSET / "dashboard" / "charts").glob("*.yaml"))
    return {doc["slice_name"]: doc for doc in docs}


@pytest.fixture(scope="module")
def two_days(tmp_path_factory) -> Layout:
    layout = Layout(tmp_path_factory.mktemp("dashboards") / "data")
    build(layout, HISTORY)
    return layout


def columns_used(params: dict) -> list[str]:
    """The dataset columns a chart reads: a table's columns, or a Big Number's time axis and metric column."""
    if params["viz_type"] == "big_number":
        return [params["x_axis"], params["metric"]["column"]["column_name"]]
    return params["all_columns"]


@pytest.mark.parametrize("name", sorted(datasets()))
@pytest.mark.server
def test_every_dataset_answers_on_a_fresh_warehouse_with_the_columns_its_charts_use(two_days, name):
    dataset = datasets()[name]
    sql = (SUPERSET / "datasets" / f"{name}.sql").read_text(encoding="utf-8")
    with duckdb.connect(str(two_days.warehouse), read_only=True) as con:
        relation = con.sql(sql)
        found = dict(zip(relation.columns, map(str, relation.types), strict=True))
        assert relation.fetchall(), f"{name}.sql gives no rows"
    declared = {c["column_name"]: c["type"] for c in dataset["columns"]}  # in DuckDB's names
    assert found == declared, f"deploy/superset/dashboard/datasets/vod_stickers/{name}.yaml declares other columns than {name}.sql gives"
    used = [c for chart in charts().values() if chart["dataset_uuid"] == dataset["uuid"] for c in columns_used(chart["params"])]
    assert used and set(used) <= set(found)


# What each chart shows, asked of DuckDB directly (not through the datasets' SQL): the rows in the chart's
# order, the columns in its order. {lake} is the lake's folder.
QUESTIONS = {
    "Stickers in the newest snapshot": """
        WITH days AS (SELECT snapshot_date, count(*) AS stickers FROM read_parquet('{lake}/stickers/*/*.parquet', hive_partitioning = true) GROUP BY ALL)
        SELECT newest.snapshot_date, newest.stickers, newest.stickers / previous.stickers - 1
        FROM (SELECT * FROM days ORDER BY snapshot_date DESC LIMIT 1) AS newest,
             (SELECT * FROM days ORDER BY snapshot_date DESC LIMIT 1 OFFSET 1) AS previous""",
    "Newest snapshot's freshness": """
        SELECT account, max(snapshot_date) AS newest_snapshot, date_diff('day', max(snapshot_date), DATE '{today}') AS days_behind,
               strftime(timezone('UTC', max(finished_at)), '%Y-%m-%d %H:%M') AS fetch_finished_utc,
               max(videos_failed) FILTER (snapshot_date = (SELECT max(snapshot_date) FROM fetch_log)) AS videos_failed
        FROM fetch_log GROUP BY account ORDER BY account""",
    "Fetch outcomes and carried share per day": """
        SELECT snapshot_date, account, count(*) AS videos,
               count(*) FILTER (status = 'answered'), count(*) FILTER (status = 'not_found'),
               count(*) FILTER (status = 'failed'), count(*) FILTER (status = 'carried'),
               round(100 * count(*) FILTER (status = 'carried') / count(*), 1)
        FROM read_parquet('{lake}/video_fetches/*/*.parquet', hive_partitioning = true)
        GROUP BY ALL ORDER BY snapshot_date DESC, account""",
    "Stickers and bytes per day, by format and account": """
        SELECT snapshot_date, account, format, count(*), sum(file_size_bytes)
        FROM read_parquet('{lake}/stickers/*/*.parquet', hive_partitioning = true)
        GROUP BY ALL ORDER BY snapshot_date DESC, account, format""",
    "New and vanished stickers per day": """
        WITH s AS (SELECT snapshot_date, account, video_id, dynamic_image_id FROM read_parquet('{lake}/stickers/*/*.parquet', hive_partitioning = true)),
        f AS (SELECT snapshot_date, account, video_id, status FROM read_parquet('{lake}/video_fetches/*/*.parquet', hive_partitioning = true)),
        days AS (SELECT DISTINCT snapshot_date, account FROM f),
        previous AS (SELECT snapshot_date, account, lag(snapshot_date) OVER (PARTITION BY account ORDER BY snapshot_date) AS before FROM days)
        SELECT d.snapshot_date, d.account,
            (SELECT count(*) FROM s WHERE s.account = d.account AND s.snapshot_date = d.snapshot_date
                AND NOT EXISTS (SELECT 1 FROM s AS e WHERE e.account = s.account AND e.dynamic_image_id = s.dynamic_image_id AND e.snapshot_date = d.before)),
            (SELECT count(*) FROM s WHERE s.account = d.account AND s.snapshot_date = d.before
                AND NOT EXISTS (SELECT 1 FROM s AS e WHERE e.account = s.account AND e.dynamic_image_id = s.dynamic_image_id AND e.snapshot_date = d.snapshot_date)
                AND EXISTS (SELECT 1 FROM f WHERE f.account = s.account AND f.video_id = s.video_id AND f.snapshot_date = d.snapshot_date AND f.status IN ('answered', 'not_found')))
        FROM previous AS d ORDER BY d.snapshot_date DESC, d.account""",
    "Top videos by stickers (newest snapshot)": """
        WITH newest AS (SELECT * FROM read_parquet('{lake}/stickers/*/*.parquet', hive_partitioning = true)
                        WHERE snapshot_date = (SELECT max(snapshot_date) FROM read_parquet('{lake}/stickers/*/*.parquet', hive_partitioning = true))),
        titles AS (SELECT video_id, arg_max(title, snapshot_date) AS title FROM read_parquet('{lake}/videos/*/*.parquet', hive_partitioning = true) GROUP BY video_id)
        SELECT account, video_id, titles.title, count(*) AS stickers, count(*) FILTER (format = 'gif'), count(*) FILTER (format = 'webp'),
               sum(file_size_bytes) AS total_bytes
        FROM newest LEFT JOIN titles USING (video_id)
        GROUP BY ALL ORDER BY stickers DESC, total_bytes DESC, video_id LIMIT 10""",
}


def expected(layout: Layout) -> dict[str, list[tuple]]:
    """Each chart's rows, as DuckDB answers its question."""
    today = dt.datetime.now(dt.UTC).date()
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return {title: con.execute(sql.format(lake=layout.lake_root, today=today)).fetchall() for title, sql in QUESTIONS.items()}


def shown_big_number(row: tuple) -> tuple[str, ...]:
    """A Big Number as Superset shows it: its day, the number with thousands separators (format ,d), and
    the change on the day before (format .1%)."""
    day, number, change = row
    return day.isoformat(), f"{number:,}", f"{change:.1%} on the day before"


def shown(value: object) -> str:
    """A value as Superset's table shows it: dates as YYYY-MM-DD, numbers without separators, and
    rounded floats without a trailing .0."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "N/A" if value is None else str(value)


def superset_python() -> str:
    """Superset's environment's Python (make test builds it)."""
    if not SUPERSET_PYTHON.exists():
        pytest.fail(f"No Superset environment at {SUPERSET_PYTHON.parent.parent}: `make test` builds it (or run `make dashboards` once)")
    return str(SUPERSET_PYTHON)


@dataclass
class Superset:
    url: str
    password: str
    log: list[str]


@pytest.fixture
def superset(tmp_path) -> Iterator[tuple[Superset, Layout]]:
    """Superset started by deploy/superset/start.py over a two-day warehouse, on a port the system chose."""
    python = superset_python()
    layout = Layout(tmp_path / "data")
    build(layout, HISTORY)
    password = secrets.token_urlsafe(16)
    env = {**os.environ, "SUPERSET_ADMIN_PASSWORD": password, "PYTHONUNBUFFERED": "1"}
    env.pop("SUPERSET_SECRET_KEY", None)  # generated into the data directory, as for a first `make dashboards`
    process = subprocess.Popen(
        [python, str(SUPERSET / "start.py"), "--data-dir", str(layout.root), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    log: list[str] = []
    ready = threading.Event()
    url: list[str] = []

    def read() -> None:  # Superset logs every request: read it all, so that it never blocks on a full pipe
        for line in process.stdout:
            log.append(line)
            if line.startswith("Superset: "):
                url.append(line.split()[1].split("/superset/")[0])
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(240) or not url:
            setup = layout.root / "superset" / "setup.log"
            tail = setup.read_text(encoding="utf-8")[-3000:] if setup.exists() else ""
            pytest.fail("Superset did not start:\n" + "".join(log[-30:]) + tail)
        yield Superset(url[0], password, log), layout
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def drawn(chart, part: str, server: Superset) -> None:
    """Waits for ``part`` of a chart to show; fails with what the chart shows instead and the server's log."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        chart.locator(part).first.wait_for(timeout=90_000)
    except PlaywrightTimeout:
        pytest.fail(f"The chart did not draw; it shows: {chart.inner_text()[:800]!r}\nSuperset's log ends:\n" + "".join(server.log[-40:]))


def read_charts(page, titles, server: Superset) -> dict[str, list[tuple[str, ...]]]:
    """Every chart's table as the page shows it (cell texts, row by row; a Big Number's day, number and
    change as one row), after all have drawn."""
    found = {}
    for title in titles:
        chart = page.locator(f'[data-test="chart-grid-component"][data-test-chart-name="{title}"]')
        if chart.get_attribute("data-test-viz-type", timeout=90_000) == "big_number":
            drawn(chart, ".header-line", server)
            texts = [chart.locator(part).inner_text().replace("\u2212", "-") for part in (".kicker", ".header-line", ".subheader-line")]
            found[title] = [tuple(texts)]
            continue
        drawn(chart, "tbody tr", server)
        rows = chart.locator("tbody tr")
        found[title] = [tuple(rows.nth(i).locator("td").all_inner_texts()) for i in range(rows.count())]
    return found


def open_dashboard(page, superset: Superset) -> None:
    page.goto(f"{superset.url}/login/")
    page.fill("#username", "admin")
    page.fill("#password", superset.password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/superset/welcome/**", timeout=60_000)
    page.goto(f"{superset.url}/superset/dashboard/vod-stickers/")


def assert_charts_show(page, layout: Layout, server: Superset) -> dict[str, list[tuple]]:
    answers = expected(layout)
    on_page = read_charts(page, answers, server)
    assert set(on_page) == set(charts()), "the test asks a question of every chart of the dashboard"
    for title, rows in answers.items():
        show = shown_big_number if charts()[title]["viz_type"] == "big_number" else lambda row: tuple(map(shown, row))
        assert on_page[title] == [show(row) for row in rows], title
    return answers


def save_small(png: Path, target: Path) -> None:
    """A screenshot in 64 colours (tables and text need no more), a fraction of its size."""
    from PIL import Image

    with Image.open(png) as image:
        image.convert("RGB").quantize(colors=64).save(target, optimize=True)


@pytest.mark.browser
def test_the_dashboard_shows_what_duckdb_answers_and_a_new_day_after_a_refresh(superset, tmp_path):
    from playwright.sync_api import sync_playwright

    server, layout = superset
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            open_dashboard(page, server)
            before = assert_charts_show(page, layout, server)
            assert before["Newest snapshot's freshness"][0][1] == DAYS[-1].day
            assert before["Stickers in the newest snapshot"][0][2] < 0  # fewer videos, fewer stickers
            assert [row[0] for row in before["Stickers and bytes per day, by format and account"]][::2] == [DAYS[1].day, DAYS[0].day]
            assert before["New and vanished stickers per day"][0][3] > 0  # day 2 lost the deleted videos' stickers

            # The pipeline publishes today's snapshot (the warehouse file replaced by rename) while Superset runs
            build(layout, History(days=(*DAYS, THIRD), unknown=HISTORY.unknown, server_error_rate=HISTORY.server_error_rate))
            page.reload()
            after = assert_charts_show(page, layout, server)
            assert after["Newest snapshot's freshness"][0][1] == TODAY
            assert after["Fetch outcomes and carried share per day"][0][0] == TODAY
            assert after["New and vanished stickers per day"][0][3] > 0
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            if os.environ.get("DASHBOARD_SCREENSHOT"):  # docs/dashboard.png, shown by docs/analysts.md
                save_small(tmp_path / "dashboard.png", Path(os.environ["DASHBOARD_SCREENSHOT"]))
        finally:
            browser.close()
    errors = [line for line in server.log if "Traceback" in line or " 500 " in line]
    assert not errors, "".join(errors)


# Superset's DuckDB connection as superset_config.py makes it, in Superset's environment: the warehouse
# fetched from the store, its views and the lake read over s3:// through the packaged httpfs extension.
STORE_READ = """
import importlib.util, json, sys
import sqlalchemy as sa
spec = importlib.util.spec_from_file_location("superset_config", sys.argv[1])
config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(config)
url, params = config.DB_CONNECTION_MUTATOR(sa.engine.make_url("duckdb:///" + sys.argv[2]), {}, None, None, None)
engine = sa.create_engine(url, **params)
with engine.connect() as con:
    lake = con.exec_driver_sql(f"SELECT snapshot_date::VARCHAR, count(*) FROM read_parquet('{sys.argv[3]}/stickers/*/*.parquet', hive_partitioning = true) GROUP BY ALL").fetchall()
    views = con.exec_driver_sql("SELECT snapshot_date::VARCHAR, count(*) FROM stickers GROUP BY ALL").fetchall()
print(json.dumps({"lake": [list(r) for r in lake], "views": [list(r) for r in views], "pool": type(engine.pool).__name__}))
"""


@pytest.mark.browser
def test_superset_reads_a_lake_on_an_object_store_through_the_packaged_httpfs(vod_service, s3_layout, local_s3, tmp_path):
    from tests.conftest import write_videos
    from tests.test_object_store import DAY, run_day

    service = vod_service(catalog_size=40, calls_per_second=None)
    write_videos(service, tmp_path / "videos.csv")
    s3_layout.videos_csv.write_bytes((tmp_path / "videos.csv").read_bytes())
    run_day(service, s3_layout)
    local = tmp_path / "warehouse.duckdb"
    s3_layout.warehouse.fs.get_file(s3_layout.warehouse.path, str(local))
    with duckdb.connect(str(local), read_only=True) as con:
        con.register_filesystem(s3_layout.root.fs)
        expected = con.execute("SELECT count(*) FROM stickers").fetchone()[0]
    assert expected > 0

    env = {**os.environ, **local_s3.env(), "SUPERSET_HOME": str(tmp_path), "SUPERSET_SECRET_KEY": secrets.token_urlsafe(16)}
    lake = f"s3://{s3_layout.root.path}/lake"
    done = subprocess.run(
        [superset_python(), "-c", STORE_READ, str(SUPERSET / "superset_config.py"), str(local), lake],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    read = json.loads(done.stdout)
    assert read == {"lake": [[DAY.isoformat(), expected]], "views": [[DAY.isoformat(), expected]], "pool": "NullPool"}
    assert local_s3.secret not in done.stdout + done.stderr
