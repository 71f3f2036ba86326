"""Files replaced whole: every writer of the data directory goes through ``atomic_write``."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_write(target: Path, *, spool: Path | None = None) -> Iterator[Path]:
    """Yields a temporary path to write ``target``'s new content to; it is renamed over ``target`` when the
    block ends, or removed (with any side file its writer left, such as a database's ``.wal``) when it fails.

    ``spool`` is where the temporary file lives (default: beside ``target``); it must be on the same file
    system, so the rename is atomic: readers see the old file or the new one, never part of one.
    """
    folder = spool or target.parent
    folder.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Named for what it will become, so a file left by a killed writer says what it was
    # (lake/.tmp/.stickers.snapshot_date=2026-11-20.part-0.parquet.<id>.tmp).
    name = ".".join(target.relative_to(folder.parent).parts) if spool and target.is_relative_to(folder.parent) else target.name
    tmp = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        for leftover in folder.glob(f"{tmp.name}*"):
            leftover.unlink(missing_ok=True)


def durable(file: Any) -> None:
    """Flushes an open file to disk, so it survives a crash of the machine, not just of the process."""
    file.flush()
    os.fsync(file.fileno())


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Writes a small JSON document atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
