"""Dagster runs whose process died (killed, out of memory, machine restarted) without telling Dagster.

Such a run stays "Started" for ever and keeps its slot of the ``vod_api`` or ``warehouse`` pool, so the
next run of any day waits behind it. ``close_dead_runs`` marks them failed and gives their slots back;
the data side needs nothing: the next fetch of the day resumes from the answers already on disk.
Run worker processes are looked up on this machine, as ``dagster dev`` and the ``dagster`` CLI start them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

_ALIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    pid: int
    partition: str | None

    def __str__(self) -> str:
        day = f" for {self.partition}" if self.partition else ""
        return f"run {self.run_id}{day}: its process {self.pid} is gone; marked failed and its pool slots freed"


def close_dead_runs(instance: dg.DagsterInstance) -> list[DeadRun]:
    """Marks failed every unfinished run whose worker process no longer exists, and frees its pool slots."""
    closed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=_ALIVE)):
        run = record.dagster_run
        pid = _worker_pid(instance, run.run_id)
        if pid is None or _alive(pid):
            continue
        instance.report_run_failed(run, message=f"The run's process (pid {pid}) ended without reporting: it was killed or crashed.")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        closed.append(DeadRun(run.run_id, pid, run.tags.get("dagster/partition")))
    return closed


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run's worker reported when it began executing steps (the newest such report)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    for record in reversed(records):
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        metadata = getattr(event.event_specific_data, "metadata", None) or {}
        if "pid" in metadata:
            return int(metadata["pid"].value)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Killed but not yet reaped (its parent died first): gone, though its pid still answers."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"
