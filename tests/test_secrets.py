"""A whole day through the Dagster CLI with recognizable secrets: the AccessKey secret, the STS token and
the FileURLs' auth_key tokens appear nowhere but in raw/ (which keeps VOD's answers as they came)."""

import datetime as dt
import json
import re
import subprocess

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.store.layout import Layout
from tests.conftest import TODAY, daily_snapshot_command, process_env, write_videos

DAY = TODAY.isoformat()
SECRET = "SECRET-ak-7Yq2Wm9Rt4Lp"
STS_TOKEN = "STS-token-Kz81Vd37Qn5Bx" + "x" * 40
AUTH_KEY = re.compile(r"auth_key=([^&\"\s]+)")


def dagster_places(dagster_home):
    """What a Dagster instance keeps, as text by place: its files (run and event storage, compute logs,
    schedules) and the metadata of every asset's materializations."""
    places = {}
    for path in dagster_home.rglob("*"):
        if path.is_file():
            places[f"dagster_home/{path.relative_to(dagster_home)}"] = path.read_bytes().decode("utf-8", "replace")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for key in instance.get_asset_keys():
            for record in instance.fetch_materializations(key, limit=10).records:
                places[f"metadata of {key.to_user_string()}"] = repr(record.asset_materialization.metadata)
    return places


@pytest.mark.parametrize(("method", "source"), [("ACS3-HMAC-SHA256", "csv"), ("HMAC-SHA1", "csv"), ("ACS3-HMAC-SHA256", "vod")])
def test_no_secret_reaches_logs_event_storage_metadata_parquet_or_the_warehouse(vod_service, tmp_path, dagster_home, method, source):
    service = vod_service(
        catalog_size=120,
        calls_per_second=None,
        access_key_secret=SECRET,
        security_token=STS_TOKEN,
        server_error_rate=0.1,
        drop_rate=0.05,  # failed attempts must not leak either
    )
    layout = Layout(tmp_path / "data")
    write_videos(service, layout.videos_csv, unknown=5)
    env = process_env(
        service,
        layout,
        dagster_home,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
        ALIBABA_CLOUD_SECURITY_TOKEN=STS_TOKEN,
        VOD_SIGNATURE_METHOD=method,
        VIDEO_SOURCE=source,  # vod: the account's videos discovered too (GetVideoList, signed the same way)
    )
    run = subprocess.run(
        daily_snapshot_command(DAY),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert layout.warehouse.exists()

    tokens = {m.group(1) for m in AUTH_KEY.finditer(layout.answers(dt.date.fromisoformat(DAY)).read_text())}
    assert len(tokens) > 300  # the answers really carried signed URLs
    if source == "vod":
        assert layout.discovery_answers(dt.date.fromisoformat(DAY)).exists()
        assert any("videos" in str(p) for p in (layout.root / "lake").rglob("*.parquet"))
    secrets = [SECRET, STS_TOKEN, *tokens]

    places = {"run output": run.stdout + run.stderr, **dagster_places(dagster_home)}
    for path in (layout.root / "lake").rglob("*.parquet"):
        places[str(path.relative_to(layout.root))] = json.dumps(pq.read_table(path).to_pylist(), default=str)
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        for name in names:
            places[f"warehouse {name}"] = json.dumps(con.execute(f'SELECT * FROM "{name}"').fetchall(), default=str)

    assert len([p for p in places if p.startswith("metadata")]) >= 4
    assert any("stickers" in p for p in places if p.startswith("lake"))
    leaks = [(place, secret[:12]) for place, text in places.items() for secret in secrets if secret in text]
    assert leaks == []
