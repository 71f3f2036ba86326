"""The Dagster definitions, run for real: a temporary DAGSTER_HOME, the local VOD service over HTTP,
Parquet files and a DuckDB file on disk."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.conftest import KEY_SECRET, TODAY, expected_stickers, write_videos

DAY = TODAY.isoformat()


def load_defs() -> dg.Definitions:
    from pipeline.definitions import defs

    return defs()


def run_day(instance, assets=None, day=DAY, raise_on_error=True):
    """Runs the daily job for one day, for all its assets or the named ones (with their checks)."""
    job = load_defs().resolve_job_def("daily_snapshot")
    return job.execute_in_process(
        partition_key=day,
        instance=instance,
        asset_selection=[dg.AssetKey(name) for name in assets] if assets else None,
        raise_on_error=raise_on_error,
    )


def test_definitions_load_with_a_daily_schedule_and_todays_partition(env, vod_service):
    env(vod_service(catalog_size=1))
    defs = load_defs()
    assert {key.to_user_string() for key in defs.resolve_all_asset_keys()} == {
        "videos",
        "sticker_responses",
        "stickers",
        "warehouse",
        "report",
    }
    schedule = defs.resolve_schedule_def("daily_snapshot_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    for name in ("videos", "sticker_responses", "stickers", "warehouse", "report"):
        policy = defs.resolve_assets_def(name).backfill_policy
        assert policy.max_partitions_per_run == 1  # a backfill runs one run per day
    job = defs.resolve_job_def("daily_snapshot")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert job.partitions_def.get_last_partition_key() == today


def test_every_asset_check_job_and_schedule_explains_itself_in_the_ui(env, vod_service):
    env(vod_service(catalog_size=1))
    defs = load_defs()
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        spec = defs.resolve_assets_def(key).specs_by_key[key]
        assert len(spec.description or "") > 80, key
        assert spec.owners == ["team:data-platform"], key
        assert spec.kinds and "python" in spec.kinds, key
        assert {"layer", "source"} <= set(spec.tags), key
    checks = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    assert len(checks) == 5 and all(len(spec.description or "") > 40 for spec in checks)
    assert "backfill" in defs.resolve_job_def("daily_snapshot").description
    assert "02:00 UTC" in defs.resolve_schedule_def("daily_snapshot_schedule").description


def test_a_day_end_to_end(env, vod_service, instance):
    service = vod_service(catalog_size=120, calls_per_second=100, latency_ms=5)
    layout = env(service)
    write_videos(service, layout.videos_csv, unknown=5)

    result = run_day(instance)
    assert result.success

    # Every video of the set ended in one state, and the counts reconcile.
    summary = json.loads(layout.fetch_summary(dt.date.fromisoformat(DAY)).read_text())
    assert summary["asked"] == 125
    assert (summary["answered"], summary["not_found"], summary["failed"]) == (120, 5, 0)

    expected = expected_stickers(service)
    stickers = pd.read_parquet(layout.lake_table("stickers"))
    assert len(stickers) == expected
    assert stickers["snapshot_date"].astype(str).unique().tolist() == [DAY]

    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stickers").fetchone()[0] == expected
        log = con.execute(
            "SELECT videos_asked, videos_answered, videos_not_found, videos_failed, stickers_typed, rows_quarantined FROM fetch_log"
        ).fetchall()
        assert log == [(125, 120, 5, 0, expected, 0)]
        assert con.execute("SELECT count(*) FROM video_sticker_stats").fetchone()[0] == 125
        per_format = dict(con.execute("SELECT format, stickers FROM format_stats").fetchall())
        assert sum(per_format.values()) == expected

    # The UI shows what was made: row counts, schema, and every check passed.
    materialization = instance.get_latest_materialization_event(dg.AssetKey("stickers")).asset_materialization
    assert materialization.metadata["dagster/row_count"].value == expected
    assert "file_url" in [c.name for c in materialization.metadata["dagster/column_schema"].schema.columns]
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 5 and all(c.passed for c in checks)

    # The fetch logged its progress and summed up the outcomes where the UI shows them.
    messages = [e.user_message for e in instance.all_logs(result.run_id) if e.step_key == "sticker_responses"]
    assert any(m.startswith("Fetched 125/125 videos (100%)") for m in messages)
    outcomes = instance.get_latest_materialization_event(dg.AssetKey("sticker_responses")).asset_materialization
    assert "| not found | 5 |" in outcomes.metadata["outcomes"].value

    # The report page is linked from its materialization, for the day, and carries no secret.
    report = instance.get_latest_materialization_event(dg.AssetKey("report")).asset_materialization.metadata
    page = Path(report["path"].value)
    assert report["report"].value == page.as_uri()
    assert page.parent.name == f"snapshot_date={DAY}"
    html = page.read_text()
    assert f"{expected:,}" in html and "auth_key" not in html and KEY_SECRET not in html

    # The secret appears nowhere in what Dagster stored about the run.
    stored = " ".join(repr(event) for event in instance.all_logs(result.run_id))
    assert KEY_SECRET not in stored and "auth_key" not in stored


def test_rerunning_a_day_replaces_it_without_duplicating(env, vod_service, instance):
    service = vod_service(catalog_size=30, calls_per_second=None)
    layout = env(service)
    write_videos(service, layout.videos_csv)
    assert run_day(instance).success
    assert run_day(instance).success
    assert run_day(instance, assets=["stickers", "warehouse"]).success  # again from the kept raw answers
    expected = expected_stickers(service)
    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stickers").fetchone()[0] == expected
        assert con.execute("SELECT count(*) FROM fetch_log").fetchone()[0] == 1


def test_a_missing_credential_stops_before_the_first_call_naming_the_variable(env, vod_service, instance):
    service = vod_service(catalog_size=5, calls_per_second=None)
    layout = env(service, ALIBABA_CLOUD_ACCESS_KEY_SECRET=None)
    write_videos(service, layout.videos_csv)
    result = run_day(instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "sticker_responses"
    first_line = failure.event_specific_data.user_failure_data.description.splitlines()[0]
    assert first_line.startswith("ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set")
    assert service.stats["requests"] == 0


def test_rejected_credentials_fail_the_run_at_once_with_a_message_and_keep_what_arrived(env, vod_service, instance):
    service = vod_service(catalog_size=300, calls_per_second=None)
    layout = env(service, ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-secret-Pp31")
    write_videos(service, layout.videos_csv)
    result = run_day(instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.user_failure_data.description
    first_line = message.splitlines()[0]  # what the UI and the CLI show first
    assert "SignatureDoesNotMatch" in first_line and "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in first_line
    assert "not-the-secret-Pp31" not in message
    assert service.stats["requests"] <= 40  # the calls already under way, not 300
    day = dt.date.fromisoformat(DAY)
    assert not layout.answers(day).exists()  # the day is not marked finished
    assert layout.answers_in_progress(day).exists()
    assert not layout.warehouse.exists()


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [("VOD_CALLS_PER_SECOND", "-5", "VOD_CALLS_PER_SECOND"), ("VOD_ENDPOINT", "vod.example.com", "not a URL")],
)
def test_a_bad_setting_stops_the_run_before_the_first_call_saying_what_to_fix(env, vod_service, instance, variable, value, words):
    service = vod_service(catalog_size=5, calls_per_second=None)
    layout = env(service, **{variable: value})
    write_videos(service, layout.videos_csv)
    result = run_day(instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert words in failure.event_specific_data.user_failure_data.description
    assert service.stats["requests"] == 0


@pytest.mark.parametrize(("variable", "value"), [("VOD_CONCURRENCY", "many"), ("VOD_CALLS_PER_SECOND", "fast")])
def test_a_setting_that_is_not_a_number_still_loads_the_code_and_fails_the_run_naming_it(env, vod_service, instance, variable, value):
    import subprocess
    import sys

    service = vod_service(catalog_size=5, calls_per_second=None)
    layout = env(service, **{variable: value})
    write_videos(service, layout.videos_csv)
    # What the UI does when it loads the code location.
    loaded = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "pipeline.definitions"],
        capture_output=True,
        text=True,
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    result = run_day(instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "sticker_responses"
    first_line = failure.event_specific_data.user_failure_data.description.splitlines()[0]
    assert first_line.startswith(f"{variable}={value!r} is not")
    assert service.stats["requests"] == 0
