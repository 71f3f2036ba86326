"""Closing the Dagster runs whose process was killed, so their pool slots free."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the local VOD service is imported by the demo and dev commands only, when they run
    pass


def close_dead_runs(home: Path) -> list:
    """Closes the dead runs of the instance in ``home``, saying so for each."""
    import dagster as dg  # heavy: imported only when a command needs the instance in-process

    from pipeline import runs

    if not home.exists():
        return []  # no instance there yet: nothing to close
    with dg.DagsterInstance.from_config(str(home)) as instance:
        closed = runs.close_dead_runs(instance)
    for run in closed:
        print(f"Closed {run}")
    return closed
