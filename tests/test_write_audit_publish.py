"""Write, audit, publish: a day's new files are audited before they reach the lake, and a day that fails a
blocking check reaches nobody. Its files are held in staging, where `vod-stickers staged` finds them; the
lake, every warehouse table and view and the report keep the day's previous audited version, for one
account and beside other accounts whose days go on publishing."""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline import cli, snapshot
from pipeline.store import lake
from pipeline.store.layout import Layout
from pipeline.store.schema import DAY_TABLES
from tests.conftest import TODAY, write_videos
from tests.test_accounts import deployment, run, service  # noqa: F401 - fixtures
from tests.test_checks import damaged, replaced, rewrite_file
from tests.test_dagster import run_day
from tests.test_discovery import account, clients, discover

pytestmark = pytest.mark.server

DEFECT = "defect-format"  # a format no typing rule lets through: known_formats fails on it


def a_strange_format(staged):
    rewrite_file(staged["stickers"], lambda t: replaced(t, "format", DEFECT, row=0))


def lake_files(layout: Layout, account_file: str = "part-0.parquet") -> dict[str, str]:
    """Every lake file of one account, by path, with a hash of its bytes."""
    return {
        str(path.relative_to(layout.root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(layout.lake_root.glob(f"*/snapshot_date=*/{account_file}"))
    }


def warehouse_rows(layout: Layout, account: str | None = None) -> dict[str, list[tuple]]:
    """What analysts read: every table and view of the warehouse, each in a stable order (one account's rows
    only, where the relation says its account)."""
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT internal UNION SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
            ).fetchall()
        ]
        found = {}
        for name in names:
            columns = [r[0] for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
            where = f" WHERE account = '{account}'" if account and "account" in columns else ""
            found[name] = con.execute(f'SELECT * FROM "{name}"{where} ORDER BY ALL').fetchall()
    return found


def staged_listing(capsys, *args: str) -> str:
    assert cli.main(["staged", *args]) == 0
    return capsys.readouterr().out


def test_a_day_that_fails_its_audit_leaves_the_lake_warehouse_and_report_as_they_were(env, vod_service, instance, monkeypatch, capsys):
    service = vod_service(catalog_size=30, calls_per_second=None)
    layout = env(service)
    write_videos(service, layout.videos_csv)
    assert run_day(instance).success
    before, published, report = lake_files(layout), warehouse_rows(layout), layout.report(TODAY).read_bytes()
    assert staged_listing(capsys).startswith("No day is held in staging")

    with monkeypatch.context() as patch:  # the day redone from its kept answers, with a defect in its typing
        damaged(patch, a_strange_format)
        failed = run_day(instance, assets=["stickers", "warehouse", "report"], raise_on_error=False)
    assert not failed.success
    assert lake_files(layout) == before  # dashboards reading the lake see the audited day, byte for byte
    assert warehouse_rows(layout) == published
    assert layout.report(TODAY).read_bytes() == report
    # Publishing again (the warehouse alone, as an operator might) still shows the audited version only
    assert run_day(instance, assets=["warehouse"]).success
    assert warehouse_rows(layout) == published
    [held] = snapshot.staged_days(layout)
    assert (held.account, held.day, sorted(held.files)) == ("default", TODAY, sorted(DAY_TABLES))
    assert DEFECT in pc.unique(pq.read_table(held.files["stickers"])["format"]).to_pylist()  # what failed, for the operator to read
    listing = staged_listing(capsys)
    assert f"{TODAY} of account default: held, not in the lake" in listing
    assert "failed known_formats: 1 rows with a format other than gif or webp" in listing
    assert str(held.files["stickers"]) in listing

    # Fixed, the day re-run is audited and committed, and nothing is held any more
    assert run_day(instance, assets=["stickers", "warehouse", "report"]).success
    assert snapshot.staged_days(layout) == []
    assert not list(layout.staging_root.rglob("*.parquet"))
    assert warehouse_rows(layout)["fetch_log"] == published["fetch_log"]
    assert staged_listing(capsys).startswith("No day is held in staging")


def test_an_accounts_failed_day_stays_out_while_another_accounts_day_publishes(deployment, instance, monkeypatch, capsys):  # noqa: F811
    layout = deployment
    assert run(instance, "retail").success
    before, published = lake_files(layout, "part-retail.parquet"), warehouse_rows(layout, "retail")

    with monkeypatch.context() as patch:
        damaged(patch, a_strange_format)
        assert not run(instance, "retail", ["stickers", "warehouse", "report"]).success
    # The other account's day runs while retail's failed one is held: its publish lists every account's
    # files in the lake, and retail's are the audited ones
    assert run(instance, "games").success
    assert lake_files(layout, "part-retail.parquet") == before
    assert warehouse_rows(layout, "retail") == published
    games = warehouse_rows(layout, "games")
    assert games["fetch_log"] and games["latest_stickers"]
    assert DEFECT not in layout.report(TODAY).read_text(encoding="utf-8")
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stickers WHERE format NOT IN ('gif', 'webp')").fetchone() == (0,)

    listing = staged_listing(capsys, "--account", "retail")
    assert f"{TODAY} of account retail: held, not in the lake" in listing
    assert "part-retail.parquet" in listing and "part-games" not in listing
    assert staged_listing(capsys, "--account", "games").startswith("No day is held in staging")


def test_a_days_discovered_videos_reach_the_lake_with_its_audited_tables_and_not_before(layout, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(layout.root))
    with account(regions=("cn-shanghai",), catalog_size=40) as local:
        videos, _ = discover(layout, local, TODAY)
        with clients(local) as by_region:
            snapshot.fetch_day(layout, TODAY, by_region, concurrency=8, today=TODAY)
    assert lake.partition_days(layout, "videos") == []  # discovered, not yet audited: not where readers look
    assert f"{TODAY} of account default: waiting for the day's audit" in staged_listing(capsys)

    with monkeypatch.context() as patch:
        damaged(patch, a_strange_format)
        assert not snapshot.normalize_day(layout, TODAY).committed
    assert not list(layout.lake_root.glob(f"*/snapshot_date={TODAY}/*.parquet"))
    [held] = snapshot.staged_days(layout)
    assert held.held and sorted(held.files) == sorted((*DAY_TABLES, "videos"))

    assert snapshot.normalize_day(layout, TODAY).committed
    assert sorted(lake.read_partition(layout, "videos", TODAY)["video_id"]) == sorted(videos.ids)
    assert snapshot.staged_days(layout) == [] and not list(layout.staging_root.rglob("*.parquet"))
