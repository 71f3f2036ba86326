"""Files replaced whole: every writer of the data directory goes through ``atomic_write``, or through
``replace_together`` when several files must change as one.

On disk a new file is written beside its target and renamed over it. An object store has no rename, but a
PUT is seen whole or not at all: the new content is written to a local temporary file and put in one
request (a multipart upload is completed in one request too). Several objects changing as one are
uploaded under their final keys without being completed, and completed through the same journal as on
disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.store import objects
from pipeline.store.objects import Location, PendingUpload


@contextlib.contextmanager
def atomic_write(target: Location, *, spool: Path | None = None) -> Iterator[Path]:
    """Yields a temporary path to write ``target``'s new content to; it is renamed over ``target`` when the
    block ends, or removed (with any side file its writer left, such as a database's ``.wal``) when it fails.

    ``spool`` is where the temporary file lives (default: beside ``target``); it must be on the same file
    system, so the rename is atomic: readers see the old file or the new one, never part of one. On an
    object store the temporary file is local, and put as ``target`` in one request.
    """
    if objects.is_remote(target):
        with tempfile.TemporaryDirectory(prefix="vod-stickers-") as local_folder:
            tmp = Path(local_folder) / target.name
            yield tmp
            objects.upload(tmp, target)
        return
    folder: Path = spool or target.parent
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


def write_json(path: Location, payload: dict[str, Any]) -> None:
    """Writes a small JSON document atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def replace_together(moves: list[tuple[Location | PendingUpload, Location]], journal: Location) -> None:
    """Renames each finished temporary file over its target, all or nothing.

    The list of renames is made durable in ``journal`` first: that is the commit point. A failure before
    it changes nothing; a failure (or a crash) after it leaves the journal behind, and
    ``finish_replacements`` completes the renames, as a database replays its journal, before anyone
    next reads. Each temporary file must be complete and on the file system of its target.

    On an object store each new file is an upload in parts to its final key, not yet completed
    (``objects.PendingUpload``), and each "rename" completes one: the object appears whole. Completing is
    idempotent, so a reader finishing a journal while its writer does is harmless; two writers of the
    same files are kept apart by the day's lease (``lease``), not by the journal.
    """
    if objects.is_remote(journal):
        _replace_remote(moves, journal)
        return
    local = [(objects.local(tmp), objects.local(target)) for tmp, target in moves]
    for tmp, _ in local:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    root = journal.parent
    with atomic_write(journal) as staged, open(staged, "w", encoding="utf-8") as f:
        json.dump({"moves": [[os.path.relpath(tmp, root), os.path.relpath(target, root)] for tmp, target in local]}, f)
        durable(f)
    _roll_forward(journal)


def _replace_remote(moves: list[tuple[Location | PendingUpload, Location]], journal: Location) -> None:
    # A finished object (a file waiting under staging/) has no rename on a store: it is copied by the store
    # itself, then removed; both steps can be redone, so a journal cut short is finished the same way.
    uploads = [pending.to_json() for pending, _ in moves if isinstance(pending, PendingUpload)]
    copies = [
        [objects.remote(source).path, objects.remote(target).path] for source, target in moves if not isinstance(source, PendingUpload)
    ]
    journal.write_bytes(json.dumps({"uploads": uploads, "copies": copies}).encode("utf-8"))
    _roll_forward(journal)


def finish_replacements(folder: Location) -> list[Location]:
    """Completes the replacements a failed or killed writer left half done in ``folder`` (their journals,
    ``*.replace.json``); returns the journals it finished."""
    journals: list[Location] = sorted(folder.glob("*.replace.json")) if objects.is_remote(folder) or folder.is_dir() else []
    for journal in journals:
        _roll_forward(journal)
    return journals


def _roll_forward(journal: Location) -> None:
    try:
        listed = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return  # finished meanwhile by another process
    if objects.is_remote(journal):
        uploads = [PendingUpload.from_json(u) for u in listed["uploads"]]
        with ThreadPoolExecutor(max_workers=max(1, len(uploads))) as pool:
            for done in [pool.submit(objects.complete, journal, u) for u in uploads]:
                done.result()  # False: completed already
        for source, target in listed.get("copies", []):
            if journal.fs.exists(source):  # else copied and removed already
                journal.fs.copy(source, target)
                journal.fs.rm_file(source)
        objects.remove(journal)
        return
    moves = listed["moves"]
    for tmp, target in moves:
        try:
            os.replace(journal.parent / tmp, journal.parent / target)
        except FileNotFoundError:
            pass  # renamed already, before the failure or by another process
    journal.unlink(missing_ok=True)
