"""Telling operators: the freshness deadline of a day, and the sensors that post an alert to the webhook when a
run fails (a blocking check that fails fails its run too) or a day is late. The daemon runs them."""

from __future__ import annotations

import datetime as dt
import logging

import dagster as dg

from pipeline import alerts, settings
from pipeline.defs.partitions import ACCOUNT, ACCOUNTS, DAY, partition_key, snapshot_days
from pipeline.errors import ConfigurationError

DUE_ASSETS = ("stickers", "warehouse")
RUN_STATES = {
    dg.DagsterRunStatus.SUCCESS: "succeeded",
    dg.DagsterRunStatus.FAILURE: "failed",
    dg.DagsterRunStatus.CANCELED: "was canceled",
    dg.DagsterRunStatus.STARTED: "is still running",
    dg.DagsterRunStatus.QUEUED: "is waiting in the queue",
}


def snapshot_deadline() -> dg.FreshnessPolicy:
    """Fresh when materialized since midnight UTC by SNAPSHOT_DEADLINE_HOUR; the daemon marks it failing
    after that hour until it is. A wrong value never keeps the code from loading: the default stands, and
    the alert_on_late_day sensor's ticks fail naming the variable."""
    try:
        hour = settings.deadline_hour_from_env()
    except ConfigurationError:
        hour = settings.DEFAULT_DEADLINE_HOUR
    return dg.FreshnessPolicy.cron(deadline_cron=f"0 {hour} * * *", lower_bound_delta=dt.timedelta(hours=hour))


def _send(log: logging.Logger, config: settings.AlertSettings, alert: alerts.Alert) -> str:
    """Posts the alert, logging retries and a failed delivery (never raising: an alert never fails anything)."""
    assert config.webhook is not None
    try:
        attempts = alerts.deliver(config.webhook, alert, on_retry=log.warning)
    except alerts.AlertNotDelivered as err:
        log.error(str(err))
        return f"Alert not delivered: {err}"
    sent = f"Alert sent to the {config.webhook.kind} webhook at {config.webhook.host} ({attempts} attempt(s)): {alert.title}"
    log.info(sent)
    return sent


@dg.run_failure_sensor(
    name="alert_on_failure",
    monitor_all_code_locations=True,  # runs started by `dg launch` and `vod-stickers run` as well as the UI's
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts one message to ALERT_WEBHOOK_URL for every failed run: the day, the failed step or "
    "blocking check, the first line of its error and the run's link in the UI (DAGSTER_UI_URL). Does "
    "nothing while ALERT_WEBHOOK_URL is unset. Needs the daemon.",
)
def alert_on_failure(context: dg.RunFailureSensorContext) -> None:
    config = settings.alerts_from_env()
    if config.webhook is not None:
        _send(context.log, config, failure_alert(context, config.ui_url))


def failure_alert(context: dg.RunFailureSensorContext, ui_url: str) -> alerts.Alert:
    run = context.dagster_run
    tags = run.tags
    day = tags.get(f"dagster/partition/{DAY}") or tags.get("dagster/partition") or tags.get("dagster/asset_partition_range_start")
    if account := tags.get(f"dagster/partition/{ACCOUNT}"):
        day = f"{day} of account {account}"
    link = f"{ui_url}/runs/{run.run_id}"
    evaluations = [
        record.dagster_event.event_specific_data
        for record in context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        if record.dagster_event is not None
    ]
    failed_checks = [e for e in evaluations if isinstance(e, dg.AssetCheckEvaluation) and not e.passed]
    if failed_checks:
        names = ", ".join(f"{c.check_name} on {c.asset_key.to_user_string()}" for c in failed_checks)
        return alerts.Alert(
            title=f"Snapshot day {day} not published: a blocking check failed",
            day=day,
            what=f"check {names} failed in run of {run.job_name}; the day's new files are held in staging "
            "(vod-stickers staged), the lake and warehouse keep its previous audited version, and the steps "
            "after it were skipped",
            error=alerts.first_line(failed_checks[0].description),
            link=link,
        )
    steps = context.get_step_failure_events()
    if steps:
        what = f"step {', '.join(e.step_key or '?' for e in steps)} of run of {run.job_name}"
        error = _error_line(steps[0])
    else:
        what = f"run of {run.job_name}"
        error = alerts.first_line(context.failure_event.message)
    return alerts.Alert(title=f"Snapshot day {day} failed", day=day, what=what, error=error, link=link)


def _error_line(step_failure: dg.DagsterEvent) -> str:
    """The first line an operator reads in the UI: a Failure's description, else the user's exception."""
    data = step_failure.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return alerts.first_line(data.user_failure_data.description)
    error = data.error
    while error is not None and error.cause is not None and (error.cls_name or "").startswith("DagsterExecution"):
        error = error.cause
    return alerts.first_line(error.message if error else None)


def alert_events_stopped(log: logging.Logger, day: str, account: str | None, run_id: str, what: str) -> str:
    """Posts that the account's events have stopped (``refresh.events_state``), when ALERT_WEBHOOK_URL is set;
    returns what happened, for the log. Never raises: the day goes on, sweeping every video."""
    try:
        config = settings.alerts_from_env()
    except ConfigurationError as err:
        return f"Alert not sent: {err}"
    if config.webhook is None:
        return "ALERT_WEBHOOK_URL is not set: no alert sent"
    of = f" of account {account}" if account else ""
    alert = alerts.Alert(
        title=f"VOD's sticker events{of} have stopped",
        day=day,
        what="the refresh plan falls back to sweeping every video every VOD_REFRESH_DAYS days",
        error=alerts.first_line(what),
        link=f"{config.ui_url}/runs/{run_id}",
    )
    return _send(log, config, alert)


def due_day(now: dt.datetime, deadline_hour: int) -> dt.date:
    """The newest day whose deadline has passed at ``now`` (UTC): today after the deadline hour, else yesterday."""
    today = now.astimezone(dt.UTC).date()
    return today if now.astimezone(dt.UTC).hour >= deadline_hour else today - dt.timedelta(days=1)


@dg.sensor(
    name="alert_on_late_day",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts one message to ALERT_WEBHOOK_URL when the day's stickers or warehouse partition does "
    "not exist by SNAPSHOT_DEADLINE_HOUR (UTC, default 06:00), once per day. Does nothing while "
    "ALERT_WEBHOOK_URL is unset. Needs the daemon.",
)
def alert_on_late_day(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    config = settings.alerts_from_env()
    if config.webhook is None:
        return dg.SkipReason("ALERT_WEBHOOK_URL is not set: no alert to send")
    day = due_day(dt.datetime.now(dt.UTC), config.deadline_hour)
    key = day.isoformat()
    if context.cursor and context.cursor >= key:
        return dg.SkipReason(f"Snapshot day {key} was already reported late")
    if key < (snapshot_days.get_first_partition_key() or key):
        return dg.SkipReason(f"Snapshot day {key} is before the first partition")
    # In a deployment of several accounts, each account's day is due
    late = {
        account: missing
        for account in (list[str | None](ACCOUNTS) or [None])
        if (missing := [name for name in DUE_ASSETS if not _materialized(context.instance, name, partition_key(day, account))])
    }
    if not late:
        return dg.SkipReason(f"Snapshot day {key} was on time")
    account, missing = next(iter(late.items()))
    latest = context.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": partition_key(day, account)}), limit=1)
    of = f" of {'accounts ' + ', '.join(a for a in late if a) if len(late) > 1 else 'account ' + account}" if account else ""
    alert = alerts.Alert(
        title=f"Snapshot day {key}{of} is late",
        day=key,
        what=f"{' and '.join(missing)} for {key}{of} not materialized by {config.deadline_hour:02d}:00 UTC (SNAPSHOT_DEADLINE_HOUR)",
        error=f"the day's latest run {RUN_STATES.get(latest[0].status, latest[0].status.value)}"
        if latest
        else "no run of the day was started",
        link=f"{config.ui_url}/runs/{latest[0].run_id}" if latest else f"{config.ui_url}/assets/{missing[0]}",
    )
    outcome = _send(context.log, config, alert)
    context.update_cursor(key)  # once per day, delivered or not: a failed delivery is in the tick's log
    return dg.SkipReason(outcome)


def _materialized(instance: dg.DagsterInstance, asset: str, partition: str) -> bool:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1)
    return bool(records.records)
