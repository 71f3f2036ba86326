"""How runs execute and who is told when a day fails or is late."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline import alerts, variables
from pipeline.errors import ConfigurationError
from pipeline.settings.environ import read, read_choice, read_number

DEFAULT_UI_URL = str(variables.declared("DAGSTER_UI_URL").default)


DEFAULT_DEADLINE_HOUR = int(variables.declared("SNAPSHOT_DEADLINE_HOUR").default or 0)


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go (None: nowhere), the Dagster UI their links open, and the hour (UTC) a day is due by."""

    webhook: alerts.Webhook | None
    ui_url: str = DEFAULT_UI_URL
    deadline_hour: int = DEFAULT_DEADLINE_HOUR


def alerts_from_env(environ: Mapping[str, str] = os.environ) -> AlertSettings:
    """The alert settings from the environment (the operators' guide lists them); raises ConfigurationError."""
    url, kind, secret = (read(environ, name) for name in ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_KIND", "ALERT_WEBHOOK_SECRET"))
    if not url and (kind or secret):
        raise ConfigurationError(
            f"{'ALERT_WEBHOOK_KIND' if kind else 'ALERT_WEBHOOK_SECRET'} is set but ALERT_WEBHOOK_URL is not: "
            "set the robot's webhook address, or unset both"
        )
    ui_url = (read(environ, "DAGSTER_UI_URL") or DEFAULT_UI_URL).rstrip("/")
    if not ui_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"DAGSTER_UI_URL={ui_url!r} is not a URL: give the UI's address, e.g. {DEFAULT_UI_URL}")
    return AlertSettings(
        webhook=alerts.webhook(url, kind.lower() or None, secret or None) if url else None,
        ui_url=ui_url,
        deadline_hour=deadline_hour_from_env(environ),
    )


def deadline_hour_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """The hour (UTC) by which a day's stickers and warehouse must exist (SNAPSHOT_DEADLINE_HOUR)."""
    return read_number(environ, "SNAPSHOT_DEADLINE_HOUR", int, "a whole hour of the day, 1 to 23 (UTC)", lambda v: 1 <= v <= 23)


EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


def executor_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """Where a run's steps execute (PIPELINE_EXECUTOR), one of EXECUTORS; docs/deployment.md says when to choose which."""
    return read_choice(
        environ,
        "PIPELINE_EXECUTOR",
        EXECUTORS,
        "'in_process' (the default) runs every step in the run's process, 'multiprocess' one process per step, "
        "'celery' each step on a Celery worker, 'k8s' each step in a Kubernetes Job (docs/deployment.md)",
    )
